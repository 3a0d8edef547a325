//! A PEFT LoRA adapter written as llama.cpp's LoRA GGUF, what `llama-cli --lora`, the
//! llama.cpp server, llama-cpp-python's `lora_path` and Ollama's `ADAPTER` read.
//!
//! The layout follows llama.cpp's `convert_lora_to_gguf.py`: metadata `general.type =
//! "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha`, the base's
//! `general.architecture`; per adapted projection two tensors named after the base tensor,
//! `blk.N.attn_q.weight.lora_a` (PEFT's `A`, `[r, in]`) and `…lora_b` (`B`, `[out, r]`), kept
//! f32. llama.cpp scales by `alpha / r` as PEFT does, so nothing is folded into the matrices.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{DType, Device, Tensor};

use super::lora::{load_peft_adapter, peft_key};
use super::{ModelError, Result};

/// The GGUF name of the base weight a PEFT module adapts, for layer `layer`.
fn base_tensor(layer: usize, module: &str) -> Option<String> {
    let name = match module {
        "q_proj" => "attn_q",
        "k_proj" => "attn_k",
        "v_proj" => "attn_v",
        "o_proj" => "attn_output",
        "gate_proj" => "ffn_gate",
        "up_proj" => "ffn_up",
        "down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{name}.weight"))
}

/// Writes the adapter in `adapter_dir` (PEFT layout) to `out` as a llama.cpp LoRA GGUF for a
/// base of `architecture` (`qwen2`); returns how many projections it holds.
pub fn write_lora_gguf(adapter_dir: &Path, out: &Path, architecture: &str) -> Result<usize> {
    let (peft, tensors) = load_peft_adapter(adapter_dir, &Device::Cpu)?;
    let named =
        lora_tensors(&peft.target_modules, &tensors).map_err(|message| ModelError::Format {
            path: adapter_dir.join("adapter_model.safetensors"),
            message,
        })?;
    if named.is_empty() {
        return Err(ModelError::Format {
            path: adapter_dir.join("adapter_model.safetensors"),
            message: format!(
                "no A/B tensors of the target modules {:?} under PEFT's keys",
                peft.target_modules
            ),
        });
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
    let io = |source| ModelError::Io {
        path: out.to_path_buf(),
        source,
    };
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
    Ok(named.len() / 2)
}

/// The adapter's tensors under llama.cpp's names, in layer and module order, as f32.
fn lora_tensors(
    target_modules: &[String],
    tensors: &HashMap<String, Tensor>,
) -> std::result::Result<Vec<(String, Tensor)>, String> {
    let mut named = Vec::new();
    for layer in 0.. {
        let mut found = false;
        for module in target_modules {
            let (Some(a), Some(b)) = (
                tensors.get(&peft_key(layer, module, 'A')),
                tensors.get(&peft_key(layer, module, 'B')),
            ) else {
                continue;
            };
            found = true;
            let base = base_tensor(layer, module)
                .ok_or_else(|| format!("target module {module:?} is not a Qwen2 projection"))?;
            let f32 = |t: &Tensor| t.to_dtype(DType::F32).map_err(|e| e.to_string());
            named.push((format!("{base}.lora_a"), f32(a)?));
            named.push((format!("{base}.lora_b"), f32(b)?));
        }
        if !found
            && !tensors
                .keys()
                .any(|k| k.contains(&format!(".layers.{layer}.")))
        {
            break;
        }
    }
    Ok(named)
}
