//! The model flags `acdp ask` and `acdp eval` share, and how they become answer options.

use std::path::PathBuf;

use acdp_model::answer::AnswerOptions;
use acdp_model::{GenerationOptions, LoadedModel, default_device, load_model};
use anyhow::Context;
use clap::Args;

/// The model and how it answers.
#[derive(Args)]
pub struct ModelArgs {
    /// A Hugging Face model directory or a .gguf file.
    #[arg(long, value_name = "DIR|FILE.gguf")]
    pub model: Option<PathBuf>,
    /// A LoRA adapter directory (PEFT layout): merged into safetensors weights, applied at
    /// run time to a GGUF model.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Chunks given to the model.
    #[arg(long, default_value_t = 6)]
    pub top_k: usize,
    /// Tokens the prompt and answer may use together (at most the model's context); the
    /// lowest-ranked chunks are left out until the prompt fits.
    #[arg(long, value_name = "TOKENS")]
    pub max_context: Option<usize>,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long)]
    pub top_p: Option<f64>,
    #[arg(long, default_value_t = 299792458)]
    pub seed: u64,
}

impl ModelArgs {
    pub fn answer_options(&self, repo_name: &str) -> AnswerOptions {
        AnswerOptions {
            top_k: self.top_k,
            repo_name: repo_name.to_string(),
            max_context: self.max_context,
            generation: GenerationOptions {
                max_tokens: self.max_tokens,
                temperature: self.temperature,
                top_p: self.top_p,
                seed: self.seed,
            },
            ..AnswerOptions::default()
        }
    }

    /// Loads the model, with the adapter when `with_adapter`.
    pub fn load(&self, with_adapter: bool) -> anyhow::Result<Option<LoadedModel>> {
        let Some(path) = &self.model else {
            return Ok(None);
        };
        let adapter = self.adapter.as_deref().filter(|_| with_adapter);
        let model = load_model(path, adapter, &default_device())
            .with_context(|| format!("loading the model from {}", path.display()))?;
        Ok(Some(model))
    }
}
