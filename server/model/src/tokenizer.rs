//! Tokenizers: `tokenizer.json` beside the weights, or one rebuilt from GGUF metadata
//! (`tokenizer.ggml.*`) as a byte-level BPE that matches Qwen2's.

use std::path::Path;

use candle_core::quantized::gguf_file;
use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::{ModelError, Result};

/// Qwen2's pre-tokenizer split pattern.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub fn load_tokenizer_json(path: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(path)
        .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))
}

/// The tokenizer of a target model, given as its `tokenizer.json`, the model directory that
/// holds one, or a `.gguf` file (its `tokenizer.json` sibling, else its metadata). Errors name
/// the path and say what to give instead.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    let what_to_do = "give the target model's tokenizer.json, the model directory that holds \
                      it, or its .gguf file";
    let file = if path.is_dir() {
        path.join("tokenizer.json")
    } else {
        path.to_path_buf()
    };
    if !file.is_file() {
        return Err(ModelError::Tokenizer(format!(
            "{} not found: {what_to_do}",
            file.display()
        )));
    }
    if super::gguf_base::is_gguf(&file) {
        let sibling = file.with_file_name("tokenizer.json");
        if sibling.is_file() {
            return load_tokenizer_json(&sibling);
        }
        let mut reader = std::fs::File::open(&file).map_err(|source| ModelError::Io {
            path: file.clone(),
            source,
        })?;
        let content = gguf_file::Content::read(&mut reader).map_err(|e| ModelError::Format {
            path: file.clone(),
            message: format!("not a readable GGUF file ({e}): {what_to_do}"),
        })?;
        return tokenizer_from_gguf(&content);
    }
    Tokenizer::from_file(&file).map_err(|e| {
        ModelError::Tokenizer(format!(
            "{} is not a readable tokenizer ({e}): {what_to_do}",
            file.display()
        ))
    })
}

/// Rebuilds the tokenizer stored in a GGUF file's metadata.
pub fn tokenizer_from_gguf(content: &gguf_file::Content) -> Result<Tokenizer> {
    let get = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| ModelError::Tokenizer(format!("GGUF metadata has no {key}")))
    };
    let model = get("tokenizer.ggml.model")?.to_string()?.clone();
    if model != "gpt2" {
        return Err(ModelError::Tokenizer(format!(
            "GGUF tokenizer model {model:?} is not supported (Qwen2 uses byte-level BPE, gpt2)"
        )));
    }
    let tokens: Vec<String> = get("tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<_>>()?;
    let merges: Vec<String> = get("tokenizer.ggml.merges")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<_>>()?;
    let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|t| t.to_i32())
            .collect::<candle_core::Result<_>>()?,
        None => Vec::new(),
    };
    tokenizer_from_vocab(&tokens, &merges, &types)
}

/// A Qwen2-style byte-level BPE from a vocabulary (by id), merges (`"a b"`) and GGUF token
/// types (1 normal, 3 control, 4 user-defined: the last two become added tokens).
pub fn tokenizer_from_vocab(
    tokens: &[String],
    merges: &[String],
    types: &[i32],
) -> Result<Tokenizer> {
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        let kind = types.get(id).copied().unwrap_or(1);
        if kind == 3 || kind == 4 {
            added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": kind == 3,
            }));
        }
        vocab.insert(token.clone(), json!(id));
    }
    let byte_level = json!({
        "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false
    });
    let spec = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated",
             "invert": false},
            byte_level.clone(),
        ]},
        "post_processor": byte_level.clone(),
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": false,
            "vocab": Value::Object(vocab), "merges": merges,
        },
    });
    spec.to_string()
        .parse::<Tokenizer>()
        .map_err(|e| ModelError::Tokenizer(format!("building a BPE from GGUF metadata: {e}")))
}
