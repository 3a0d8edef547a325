//! A GGUF file as the base of LoRA training: the model's shape from its metadata, Hugging Face
//! tensor names mapped to llama.cpp's, matrices kept as their quantized blocks.
//!
//! llama.cpp's converter writes Qwen2's projections as they are in the Hugging Face checkpoint
//! (no rotary permutation, unlike LLaMA's q/k), so an adapter trained here has PEFT's shapes
//! and applies to the safetensors model as well.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};

use super::frozen::FrozenWeight;
use super::{ModelError, Qwen2Config, Result};

/// Whether `path` is a GGUF file: a file that starts with the `GGUF` magic, whatever its name
/// (Ollama keeps its models as extension-less blobs).
pub fn is_gguf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut file| file.read_exact(&mut magic))
            .is_ok()
        && &magic == b"GGUF"
}

/// The llama.cpp name of a Qwen2 projection (`q_proj` … `down_proj`).
pub fn projection_name(module: &str) -> Option<&'static str> {
    Some(match module {
        "q_proj" => "attn_q",
        "k_proj" => "attn_k",
        "v_proj" => "attn_v",
        "o_proj" => "attn_output",
        "gate_proj" => "ffn_gate",
        "up_proj" => "ffn_up",
        "down_proj" => "ffn_down",
        _ => return None,
    })
}

/// The GGUF name of a Hugging Face Qwen2 tensor name (`model.layers.3.self_attn.q_proj.weight`
/// → `blk.3.attn_q.weight`).
pub fn gguf_name(hf: &str) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, kind) = rest.rsplit_once('.')?;
    let name = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        _ => {
            let (_, projection) = module.split_once('.')?;
            projection_name(projection)?
        }
    };
    Some(format!("blk.{layer}.{name}.{kind}"))
}

/// The model's shape from GGUF metadata and tensor shapes; an error for anything but Qwen2.
pub fn config(content: &gguf_file::Content) -> std::result::Result<Qwen2Config, String> {
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if arch != "qwen2" {
        return Err(format!(
            "general.architecture is {arch:?}: acdp trains Qwen2 / Qwen2.5 models (\"qwen2\")"
        ));
    }
    // A key that is absent takes llama.cpp's default; one of another type is an error (a
    // default there would be silently wrong, e.g. a rope base of 10000 for Qwen2.5's 1e6).
    let number = |key: &str| -> std::result::Result<Option<usize>, String> {
        let Some(value) = content.metadata.get(&format!("qwen2.{key}")) else {
            return Ok(None);
        };
        value
            .to_u32()
            .map(|n| n as usize)
            .or_else(|_| value.to_u64().map(|n| n as usize))
            .or_else(|_| value.to_i32().map(|n| n.max(0) as usize))
            .map(Some)
            .map_err(|_| format!("metadata qwen2.{key} is not an integer ({value:?})"))
    };
    let required =
        |key: &str| number(key)?.ok_or_else(|| format!("metadata qwen2.{key} is missing"));
    let float = |key: &str| -> std::result::Result<Option<f64>, String> {
        let Some(value) = content.metadata.get(&format!("qwen2.{key}")) else {
            return Ok(None);
        };
        value
            .to_f32()
            .map(f64::from)
            .or_else(|_| value.to_f64())
            .map(Some)
            .map_err(|_| format!("metadata qwen2.{key} is not a number ({value:?})"))
    };
    let rows = |name: &str| {
        content
            .tensor_infos
            .get(name)
            .and_then(|info| info.shape.dims().first().copied())
    };
    let vocab_size = rows("token_embd.weight").ok_or("tensor token_embd.weight is missing")?;
    let intermediate_size = match number("feed_forward_length")? {
        Some(n) => n,
        None => rows("blk.0.ffn_gate.weight")
            .ok_or("neither qwen2.feed_forward_length nor blk.0.ffn_gate.weight")?,
    };
    let config = Qwen2Config {
        vocab_size,
        hidden_size: required("embedding_length")?,
        intermediate_size,
        num_hidden_layers: required("block_count")?,
        num_attention_heads: required("attention.head_count")?,
        num_key_value_heads: number("attention.head_count_kv")?,
        max_position_embeddings: required("context_length")?,
        // llama.cpp's defaults when a file omits them (candle's GGUF model reads them alike).
        rope_theta: float("rope.freq_base")?.unwrap_or(10000.0),
        rms_norm_eps: float("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-6),
        tie_word_embeddings: !content.tensor_infos.contains_key("output.weight"),
        sliding_window: None,
        use_sliding_window: false,
        hidden_act: "silu".into(),
    };
    config.check()?;
    Ok(config)
}

/// A GGUF file's model: its shape, and its tensors under their Hugging Face names.
pub struct GgufBase {
    pub config: Qwen2Config,
    /// Projections, the embedding and an untied lm_head, as quantized blocks.
    pub matrices: HashMap<String, FrozenWeight>,
    /// Norm weights and biases, as f32.
    pub vectors: HashMap<String, Tensor>,
}

/// Reads the Qwen2 model in the GGUF file at `path`.
pub fn read(path: &Path, device: &Device) -> Result<GgufBase> {
    let io = ModelError::io(path);
    let format = ModelError::format(path);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| {
        format(format!(
            "not a readable GGUF file ({e}): give a .gguf file or a Hugging Face model directory"
        ))
    })?;
    let config = config(&content).map_err(format)?;
    let (matrices, vectors) = read_all(&content, &mut file, &config, device)
        .map_err(|e| format(format!("reading the weights: {e}")))?;
    Ok(GgufBase {
        config,
        matrices,
        vectors,
    })
}

type Weights = (HashMap<String, FrozenWeight>, HashMap<String, Tensor>);

fn read_all<R: Read + Seek>(
    content: &gguf_file::Content,
    reader: &mut R,
    config: &Qwen2Config,
    device: &Device,
) -> candle_core::Result<Weights> {
    let mut matrices = HashMap::new();
    let mut vectors = HashMap::new();
    let mut names = vec![
        "model.embed_tokens.weight".to_string(),
        "model.norm.weight".into(),
    ];
    if !config.tie_word_embeddings {
        names.push("lm_head.weight".into());
    }
    for layer in 0..config.num_hidden_layers {
        let p = format!("model.layers.{layer}");
        for module in ["input_layernorm", "post_attention_layernorm"] {
            names.push(format!("{p}.{module}.weight"));
        }
        for module in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            names.push(format!("{p}.self_attn.{module}.weight"));
        }
        for module in ["q_proj", "k_proj", "v_proj"] {
            names.push(format!("{p}.self_attn.{module}.bias"));
        }
        for module in ["gate_proj", "up_proj", "down_proj"] {
            names.push(format!("{p}.mlp.{module}.weight"));
        }
    }
    for name in names {
        let gguf = gguf_name(&name).expect("every Qwen2 tensor has a GGUF name");
        let tensor = content.tensor(reader, &gguf, device)?;
        if tensor.shape().rank() == 2 {
            matrices.insert(name, FrozenWeight::Quantized(Arc::new(tensor)));
        } else {
            vectors.insert(name, tensor.dequantize(device)?);
        }
    }
    Ok((matrices, vectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_names_map_to_llama_cpp_names() {
        for (hf, gguf) in [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("model.norm.weight", "output_norm.weight"),
            ("lm_head.weight", "output.weight"),
            (
                "model.layers.0.self_attn.q_proj.weight",
                "blk.0.attn_q.weight",
            ),
            (
                "model.layers.12.self_attn.k_proj.bias",
                "blk.12.attn_k.bias",
            ),
            (
                "model.layers.3.self_attn.o_proj.weight",
                "blk.3.attn_output.weight",
            ),
            (
                "model.layers.3.mlp.down_proj.weight",
                "blk.3.ffn_down.weight",
            ),
            (
                "model.layers.3.input_layernorm.weight",
                "blk.3.attn_norm.weight",
            ),
            (
                "model.layers.3.post_attention_layernorm.weight",
                "blk.3.ffn_norm.weight",
            ),
        ] {
            assert_eq!(gguf_name(hf).as_deref(), Some(gguf), "{hf}");
        }
        assert_eq!(gguf_name("model.layers.3.self_attn.rotary.weight"), None);
    }
}
