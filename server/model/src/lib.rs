//! The model stage: Qwen2.5 in-process with candle, LoRA fine-tuning, grounded answers.
//!
//! - [`config`]: `config.json` of a Hugging Face Qwen2 checkpoint, with defaults.
//! - [`qwen2`]: our own Qwen2 forward (per-position logits, KV cache, LoRA-ready linears).
//! - [`frozen`]: the frozen base matrices (f32, bf16 or GGUF blocks) and their products.
//! - [`lora`]: the LoRA linear, adapters in the PEFT layout, merging into the base.
//! - [`gguf_base`]: a GGUF file as the base of training (shape, names, quantized matrices).
//! - [`dequantize`]: GGUF blocks to f32 on every core, a slice of rows at a time.
//! - [`chat`]: the Qwen chat template and the assistant-token mask used for the loss.
//! - [`tokenizer`]: `tokenizer.json`, or a tokenizer rebuilt from GGUF metadata.
//! - [`train`]: the LoRA training loop (AdamW, schedule, accumulation, checkpoints, resume).
//! - [`generate`]: loading safetensors or GGUF weights, sampling, tokens/s.
//! - [`quantized_qwen2`]: Qwen2 over GGUF weights, an f32 GEMM for prompts (candle's model,
//!   two changes).
//! - [`gguf_q8`]: a GGUF reader that presents Q5_0 matrices as Q8_0, for candle's SIMD kernels.
//! - [`answer`]: strict grounded answers and designs over retrieved chunks, fitted to the context.
//! - [`answer_check`]: the rules an answer or design must pass before it is shown.
//!
//! Depends on `index`, `retrieval` (the chunks an answer is given) and `dataset` (the prompt
//! shape of the training data, and the exported conversation whose tokens
//! [`chat::sample_token_count`] counts for length checks); knows nothing about how samples are
//! generated.
//! Runs on the CPU by default; the `cuda` cargo feature lets candle use an NVIDIA GPU.

pub mod answer;
pub mod answer_check;
pub mod causal_attention;
pub mod chat;
pub mod config;
pub mod dequantize;
pub mod frozen;
pub mod generate;
pub mod gguf_base;
pub mod gguf_q8;
pub mod lora;
pub mod lora_gguf;
pub mod packed_int8;
pub mod quantized_qwen2;
pub mod qwen2;
mod rng;
pub mod token_limit;
pub mod tokenizer;
pub mod train;

pub use config::Qwen2Config;
pub use generate::{
    Generation, GenerationOptions, LoadedModel, ModelCache, ModelSource, StopReason, load_model,
};
pub use lora::{LoraConfig, LoraLinear};
pub use qwen2::Qwen2Model;
pub use rng::SplitMix64;

use std::path::PathBuf;

/// What went wrong in the model stage, with the file involved where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    /// Turns an IO error on `path` into a [`ModelError::Io`] (for `map_err`).
    pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> ModelError + Copy + '_ {
        move |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Turns a message about the file at `path` into a [`ModelError::Format`].
    pub(crate) fn format(path: &std::path::Path) -> impl Fn(String) -> ModelError + Copy + '_ {
        move |message| ModelError::Format {
            path: path.to_path_buf(),
            message,
        }
    }
}

pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|source| ModelError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` atomically (temporary file, fsync, rename): a killed run leaves the old
/// file or the new one, never a torn one.
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    acdp_durable::write_atomic(path, bytes).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Saves `tensors` as safetensors at `path` atomically, like [`write_file`].
pub(crate) fn save_tensors(
    tensors: &std::collections::HashMap<String, candle_core::Tensor>,
    path: &std::path::Path,
) -> Result<()> {
    let io = ModelError::io(path);
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = acdp_durable::staging_file(dir, ".acdp-tmp-").map_err(io)?;
    candle_core::safetensors::save(tensors, tmp.path())?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|err| io(err.error))?;
    acdp_durable::sync_dir(dir).map_err(io)
}

/// The device models run on: the first CUDA GPU when built with `cuda` and one is present.
pub fn default_device() -> candle_core::Device {
    #[cfg(feature = "cuda")]
    if let Ok(device) = candle_core::Device::new_cuda(0) {
        return device;
    }
    candle_core::Device::Cpu
}

/// Peak resident memory of this process in MiB (`VmHWM` in /proc/self/status), where known.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
