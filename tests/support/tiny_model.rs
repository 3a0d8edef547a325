//! A tiny random Qwen2 (2 layers, hidden 64) and a word-level tokenizer over [`WORDS`], written
//! as `model.safetensors` + `config.json` + `tokenizer.json`: enough for the model code and
//! `acdp train` to run end to end in milliseconds, with no download.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::HashMap;
use std::path::Path;

use acdp_model::SplitMix64;
use candle_core::{DType, Device, Tensor};

pub const WORDS: &[&str] = &[
    "system",
    "user",
    "assistant",
    "you",
    "answer",
    "about",
    "the",
    "shop",
    "what",
    "does",
    "order",
    "service",
    "cancel",
    "coupon",
    "points",
    "stock",
    "return",
    "it",
    "releases",
    "restores",
    "refunds",
    "expires",
    "grants",
    "locks",
    "member",
    "after",
    "payment",
    "a",
    "an",
    "and",
    "of",
    "to",
    "when",
    "who",
    "how",
    "many",
];
pub const SPECIAL: &[&str] = &["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// A word-level tokenizer over [`WORDS`], with the ChatML special tokens.
pub fn tiny_tokenizer_json() -> serde_json::Value {
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    let mut added = Vec::new();
    for (i, token) in SPECIAL.iter().enumerate() {
        let id = i + 1;
        vocab.insert(token.to_string(), id.into());
        added.push(
            serde_json::json!({"id": id, "content": token, "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false, "special": true}),
        );
    }
    for (i, word) in WORDS.iter().enumerate() {
        vocab.insert(word.to_string(), (i + 1 + SPECIAL.len()).into());
    }
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    })
}

pub fn vocab_size() -> usize {
    1 + SPECIAL.len() + WORDS.len()
}

pub fn tiny_config(tie: bool) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": vocab_size(), "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": tie, "sliding_window": null, "use_sliding_window": false,
        "hidden_act": "silu", "torch_dtype": "float32",
    })
}

pub fn random(shape: &[usize], std: f32, rng: &mut SplitMix64) -> Tensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.normal() * std).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor")
}

/// Writes a tiny random Qwen2 checkpoint into `dir`.
pub fn write_tiny_model(dir: &Path, tie: bool, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let (v, h, i, kv) = (vocab_size(), 64, 128, 2 * 16);
    let mut t: HashMap<String, Tensor> = HashMap::new();
    t.insert(
        "model.embed_tokens.weight".into(),
        random(&[v, h], 1.0, &mut rng),
    );
    for l in 0..2 {
        let p = format!("model.layers.{l}");
        let w = 0.12;
        t.insert(
            format!("{p}.self_attn.q_proj.weight"),
            random(&[h, h], w, &mut rng),
        );
        t.insert(
            format!("{p}.self_attn.q_proj.bias"),
            random(&[h], w, &mut rng),
        );
        t.insert(
            format!("{p}.self_attn.k_proj.weight"),
            random(&[kv, h], w, &mut rng),
        );
        t.insert(
            format!("{p}.self_attn.k_proj.bias"),
            random(&[kv], w, &mut rng),
        );
        t.insert(
            format!("{p}.self_attn.v_proj.weight"),
            random(&[kv, h], w, &mut rng),
        );
        t.insert(
            format!("{p}.self_attn.v_proj.bias"),
            random(&[kv], w, &mut rng),
        );
        t.insert(
            format!("{p}.self_attn.o_proj.weight"),
            random(&[h, h], w, &mut rng),
        );
        t.insert(
            format!("{p}.mlp.gate_proj.weight"),
            random(&[i, h], w, &mut rng),
        );
        t.insert(
            format!("{p}.mlp.up_proj.weight"),
            random(&[i, h], w, &mut rng),
        );
        t.insert(
            format!("{p}.mlp.down_proj.weight"),
            random(&[h, i], 0.09, &mut rng),
        );
        t.insert(
            format!("{p}.input_layernorm.weight"),
            Tensor::ones(h, DType::F32, &Device::Cpu).unwrap(),
        );
        t.insert(
            format!("{p}.post_attention_layernorm.weight"),
            Tensor::ones(h, DType::F32, &Device::Cpu).unwrap(),
        );
    }
    t.insert(
        "model.norm.weight".into(),
        Tensor::ones(h, DType::F32, &Device::Cpu).unwrap(),
    );
    if !tie {
        t.insert("lm_head.weight".into(), random(&[v, h], 0.5, &mut rng));
    }
    candle_core::safetensors::save(&t, dir.join("model.safetensors")).expect("save weights");
    std::fs::write(dir.join("config.json"), tiny_config(tie).to_string()).unwrap();
    std::fs::write(
        dir.join("tokenizer.json"),
        tiny_tokenizer_json().to_string(),
    )
    .unwrap();
}

/// Sets the context length of the model in `dir` (the tiny default is 256 positions; prompts
/// with whole repository chunks in them need more).
pub fn set_context_length(dir: &Path, positions: usize) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["max_position_embeddings"] = positions.into();
    std::fs::write(&path, config.to_string()).unwrap();
}

/// Writes the tiny model of [`write_tiny_model`] (tied embeddings, same seed, same values) as
/// a GGUF file in llama.cpp's names, its matrices quantized to `matrices` (norms and biases
/// stay F32), with `tokenizer.json` beside it. Returns the file's path.
pub fn write_tiny_gguf(
    dir: &Path,
    seed: u64,
    matrices: candle_core::quantized::GgmlDType,
) -> std::path::PathBuf {
    write_tiny_gguf_with(dir, seed, matrices, true)
}

/// [`write_tiny_gguf`], with an lm_head of its own (`output.weight`) unless `tie`.
pub fn write_tiny_gguf_with(
    dir: &Path,
    seed: u64,
    matrices: candle_core::quantized::GgmlDType,
    tie: bool,
) -> std::path::PathBuf {
    use candle_core::quantized::gguf_file::Value;
    use candle_core::quantized::{GgmlDType, QTensor};

    let safetensors = tempfile::tempdir().expect("temp dir");
    write_tiny_model(safetensors.path(), tie, seed);
    let weights =
        candle_core::safetensors::load(safetensors.path().join("model.safetensors"), &Device::Cpu)
            .expect("tiny weights");
    let gguf_name = |hf: &str| -> String {
        let renames = [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("lm_head.weight", "output.weight"),
            ("model.norm.weight", "output_norm.weight"),
            ("self_attn.q_proj", "attn_q"),
            ("self_attn.k_proj", "attn_k"),
            ("self_attn.v_proj", "attn_v"),
            ("self_attn.o_proj", "attn_output"),
            ("mlp.gate_proj", "ffn_gate"),
            ("mlp.up_proj", "ffn_up"),
            ("mlp.down_proj", "ffn_down"),
            ("input_layernorm", "attn_norm"),
            ("post_attention_layernorm", "ffn_norm"),
            ("model.layers.", "blk."),
        ];
        renames
            .iter()
            .fold(hf.to_owned(), |name, (from, to)| name.replace(from, to))
    };
    let mut tensors: Vec<(String, QTensor)> = weights
        .iter()
        .map(|(name, tensor)| {
            let dtype = if tensor.rank() == 2 {
                matrices
            } else {
                GgmlDType::F32
            };
            let q = QTensor::quantize(tensor, dtype).expect("quantize");
            (gguf_name(name), q)
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let metadata = [
        ("general.architecture", Value::String("qwen2".into())),
        ("qwen2.attention.head_count", Value::U32(4)),
        ("qwen2.attention.head_count_kv", Value::U32(2)),
        ("qwen2.embedding_length", Value::U32(64)),
        ("qwen2.context_length", Value::U32(256)),
        ("qwen2.block_count", Value::U32(2)),
        ("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("qwen2.rope.freq_base", Value::F32(500000.0)),
    ];
    let path = dir.join("tiny.gguf");
    let mut file = std::fs::File::create(&path).expect("gguf file");
    candle_core::quantized::gguf_file::write(
        &mut file,
        &metadata.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>(),
        &tensors
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect::<Vec<_>>(),
    )
    .expect("write gguf");
    std::fs::write(
        dir.join("tokenizer.json"),
        tiny_tokenizer_json().to_string(),
    )
    .unwrap();
    path
}
