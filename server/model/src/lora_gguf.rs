//! A PEFT LoRA adapter written as llama.cpp's LoRA GGUF, what `llama-cli --lora`, the
//! llama.cpp server, llama-cpp-python's `lora_path` and Ollama's `ADAPTER` read.
//!
//! The layout follows llama.cpp's `convert_lora_to_gguf.py`: metadata `general.type =
//! "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha`, the base's
//! `general.architecture`; per adapted projection two tensors named after the base tensor,
//! `blk.N.attn_q.weight.lora_a` (PEFT's `A`, `[r, in]`) and `…lora_b` (`B`, `[out, r]`), kept
//! f32. llama.cpp scales by `alpha / r` as PEFT does, so nothing is folded into the matrices.

use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{DType, Device};

use super::lora::{adapter_pairs, load_peft_adapter};
use super::{ModelError, Result};

/// The GGUF name of the base weight a PEFT module adapts, for layer `layer`.
fn base_tensor(layer: usize, module: &str) -> Option<String> {
    let name = super::gguf_base::projection_name(module)?;
    Some(format!("blk.{layer}.{name}.weight"))
}

/// Writes the adapter in `adapter_dir` (PEFT layout) to `out` as a llama.cpp LoRA GGUF for a
/// base of `architecture` (`qwen2`); returns how many projections it holds.
pub fn write_lora_gguf(adapter_dir: &Path, out: &Path, architecture: &str) -> Result<usize> {
    let (peft, tensors) = load_peft_adapter(adapter_dir, &Device::Cpu)?;
    // The adapter alone does not say how many layers the base has: as many as its keys name.
    let layers = tensors
        .keys()
        .filter_map(|k| {
            k.split(".layers.")
                .nth(1)?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |last| last + 1);
    let pairs = adapter_pairs(adapter_dir, &peft, tensors, layers)?;
    let mut named = Vec::with_capacity(2 * pairs.len());
    for (layer, module, a, b) in &pairs {
        let base = base_tensor(*layer, module).expect("adapter_pairs keeps Qwen2 projections only");
        named.push((format!("{base}.lora_a"), a.to_dtype(DType::F32)?));
        named.push((format!("{base}.lora_b"), b.to_dtype(DType::F32)?));
    }
    let metadata = [
        (
            "general.architecture",
            Value::String(architecture.to_owned()),
        ),
        ("general.type", Value::String("adapter".to_owned())),
        (
            "general.name",
            Value::String("acdp LoRA adapter".to_owned()),
        ),
        ("adapter.type", Value::String("lora".to_owned())),
        ("adapter.lora.alpha", Value::F32(peft.lora_alpha as f32)),
    ];
    let quantized = named
        .iter()
        .map(|(name, tensor)| Ok((name.as_str(), QTensor::quantize(tensor, GgmlDType::F32)?)))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let io = ModelError::io(out);
    let mut bytes = std::io::Cursor::new(Vec::new());
    gguf_file::write(
        &mut bytes,
        &metadata.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>(),
        &quantized.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>(),
    )?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    super::write_file(out, bytes.get_ref())?;
    Ok(pairs.len())
}
