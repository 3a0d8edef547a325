//! `config.json` of a Hugging Face Qwen2 / Qwen2.5 checkpoint.
//!
//! Unlike candle's `qwen2::Config`, missing fields get Qwen2.5's defaults and
//! `sliding_window: null` parses.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Qwen2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Grouped-query attention; equal to `num_attention_heads` when absent.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub sliding_window: Option<usize>,
    #[serde(default)]
    pub use_sliding_window: bool,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
}

fn default_max_position_embeddings() -> usize {
    32768
}
fn default_rope_theta() -> f64 {
    1_000_000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_hidden_act() -> String {
    "silu".to_string()
}

impl Qwen2Config {
    pub fn load(path: &Path) -> super::Result<Qwen2Config> {
        let config: Qwen2Config = super::read_json(path)?;
        config
            .check()
            .map_err(|message| super::ModelError::Format {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(config)
    }

    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err("hidden_size must be a multiple of num_attention_heads".into());
        }
        if self.num_kv_heads() == 0 || !self.num_attention_heads.is_multiple_of(self.num_kv_heads())
        {
            return Err("num_attention_heads must be a multiple of num_key_value_heads".into());
        }
        if self.hidden_act != "silu" {
            return Err(format!(
                "hidden_act {:?} is not supported (Qwen2 uses silu)",
                self.hidden_act
            ));
        }
        Ok(())
    }
}
