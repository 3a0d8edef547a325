//! Loading a model for inference (Hugging Face safetensors or GGUF) and generating text:
//! the Qwen chat template, greedy / temperature / top-p sampling (seeded), KV cache, stop at
//! `<|im_end|>`, tokens/s for the prompt and the generation.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use serde::Serialize;
use tokenizers::Tokenizer;

use super::chat::{IM_END, Message, encode, render_chat};
use super::{ModelError, Qwen2Model, Result};

/// The network behind a [`LoadedModel`].
pub enum Network {
    /// Our Qwen2 with f32 weights (adapters merged).
    Full(Box<Qwen2Model>),
    /// candle's quantized Qwen2 over a GGUF file.
    Quantized(Box<super::quantized_qwen2::ModelWeights>),
}

/// A model ready to answer: network, tokenizer and the ids that end a turn.
pub struct LoadedModel {
    pub network: Network,
    pub tokenizer: Tokenizer,
    pub stop_ids: Vec<u32>,
    pub device: Device,
    /// Tokens the model attends over: prompt and answer together must fit.
    pub context_length: usize,
}

#[derive(Clone, Debug)]
pub struct GenerationOptions {
    pub max_tokens: usize,
    /// 0 means greedy.
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions {
            max_tokens: 512,
            temperature: 0.0,
            top_p: None,
            seed: 299792458,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model wrote `<|im_end|>` (or another end token).
    EndToken,
    MaxTokens,
}

#[derive(Clone, Debug, Serialize)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<u32>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    pub prompt_tokens_per_s: f64,
    pub generated_tokens: usize,
    pub generated_tokens_per_s: f64,
}

/// Loads `path`: a `.gguf` file, or a directory with config.json, safetensors and
/// tokenizer.json. An adapter directory (PEFT layout) is merged into safetensors weights and
/// applied at run time to GGUF weights (merging would requantize them).
pub fn load_model(path: &Path, adapter: Option<&Path>, device: &Device) -> Result<LoadedModel> {
    if super::gguf_base::is_gguf(path) {
        let mut model = load_gguf(path, device)?;
        if let Some(adapter) = adapter {
            apply_gguf_adapter(&mut model, adapter, device)?;
        }
        return Ok(model);
    }
    if !path.is_dir() {
        return Err(ModelError::Format {
            path: path.to_path_buf(),
            message: "not a model: give a Hugging Face model directory or a .gguf file".into(),
        });
    }
    let mut model = Qwen2Model::load(path, device)?;
    if let Some(adapter) = adapter {
        model.load_adapter(adapter)?;
        model.merge_lora()?;
    }
    let tokenizer = super::tokenizer::load_tokenizer_json(&path.join("tokenizer.json"))?;
    Ok(LoadedModel::new(
        Network::Full(Box::new(model)),
        tokenizer,
        device,
    ))
}

/// Which weights to answer with: a model directory or `.gguf` file, and an optional adapter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelSource {
    pub model: PathBuf,
    pub adapter: Option<PathBuf>,
}

impl ModelSource {
    /// [`load_model`] of these paths.
    pub fn load(&self, device: &Device) -> Result<LoadedModel> {
        load_model(&self.model, self.adapter.as_deref(), device)
    }
}

/// The model a long-lived process answers with, loaded on first use and kept: loading takes
/// seconds, answering many times should not. A different [`ModelSource`] replaces it.
#[derive(Default)]
pub struct ModelCache {
    loaded: Option<(ModelSource, LoadedModel)>,
}

impl ModelCache {
    /// The model of `source`, loading it (and dropping another one) when needed.
    pub fn get(&mut self, source: &ModelSource, device: &Device) -> Result<&mut LoadedModel> {
        if self.loaded.as_ref().is_none_or(|(s, _)| s != source) {
            // Drop the old weights before reading the new ones: two models at once may not fit.
            self.loaded = None;
            self.loaded = Some((source.clone(), source.load(device)?));
        }
        match &mut self.loaded {
            Some((_, model)) => Ok(model),
            None => Err(ModelError::Invalid("the model was not loaded".into())),
        }
    }

    /// Drops the model (its adapter was retrained, or the settings changed).
    pub fn clear(&mut self) {
        self.loaded = None;
    }

    /// The source of the model held now, if any.
    pub fn loaded_source(&self) -> Option<&ModelSource> {
        self.loaded.as_ref().map(|(s, _)| s)
    }
}

/// Applies the PEFT adapter in `dir` to a GGUF model, at run time.
fn apply_gguf_adapter(model: &mut LoadedModel, dir: &Path, device: &Device) -> Result<()> {
    let (peft, tensors) = super::lora::load_peft_adapter(dir, device)?;
    let Network::Quantized(weights) = &mut model.network else {
        return Ok(());
    };
    let pairs = super::lora::adapter_pairs(dir, &peft, tensors, weights.layer_count())?;
    weights
        .apply_adapter(&pairs, peft.lora_config().scale())
        .map_err(|e| ModelError::Format {
            path: dir.join("adapter_model.safetensors"),
            message: format!("does not fit the GGUF model: {e}"),
        })
}

fn load_gguf(path: &Path, device: &Device) -> Result<LoadedModel> {
    let io = ModelError::io(path);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| ModelError::Format {
        path: path.to_path_buf(),
        message: format!("not a readable GGUF file: {e}"),
    })?;
    let sibling = path.with_file_name("tokenizer.json");
    let tokenizer = if sibling.is_file() {
        super::tokenizer::load_tokenizer_json(&sibling)?
    } else {
        super::tokenizer::tokenizer_from_gguf(&content)?
    };
    let context_length = content
        .metadata
        .get("qwen2.context_length")
        .and_then(|v| v.to_u32().ok())
        .map(|n| n as usize);
    let mut stop_extra = Vec::new();
    if let Some(eos) = content.metadata.get("tokenizer.ggml.eos_token_id")
        && let Ok(id) = eos.to_u32()
    {
        stop_extra.push(id);
    }
    // On the CPU, Q5_0 matrices read as Q8_0: the same values through SIMD kernels (see
    // gguf_q8.rs). GPU kernels handle Q5_0 themselves.
    let weights = if device.is_cpu() {
        let mut content = content;
        let (mut view, _) = super::gguf_q8::widen_q5_0(&mut content, file).map_err(io)?;
        super::quantized_qwen2::ModelWeights::from_gguf(content, &mut view, device)?
    } else {
        super::quantized_qwen2::ModelWeights::from_gguf(content, &mut file, device)?
    };
    let mut model = LoadedModel::new(Network::Quantized(Box::new(weights)), tokenizer, device);
    if let Some(n) = context_length {
        model.context_length = n;
    }
    for id in stop_extra {
        if !model.stop_ids.contains(&id) {
            model.stop_ids.push(id);
        }
    }
    Ok(model)
}

impl LoadedModel {
    pub fn new(network: Network, tokenizer: Tokenizer, device: &Device) -> LoadedModel {
        let stop_ids = [IM_END, "<|endoftext|>"]
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        let context_length = match &network {
            Network::Full(model) => model.config.max_position_embeddings,
            // GGUF files say theirs (`qwen2.context_length`, set by the loader); Qwen2.5's.
            Network::Quantized(_) => 32_768,
        };
        LoadedModel {
            network,
            tokenizer,
            stop_ids,
            device: device.clone(),
            context_length,
        }
    }

    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(encode(&self.tokenizer, text)?.len())
    }

    fn clear_cache(&mut self) {
        match &mut self.network {
            Network::Full(model) => model.clear_kv_cache(),
            Network::Quantized(model) => model.clear_kv_cache(),
        }
    }

    /// The next-token logits after `tokens` as a fresh prompt (for parity checks with other
    /// engines).
    pub fn logits_after(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(ModelError::Invalid("no tokens".into()));
        }
        self.clear_cache();
        Ok(self.next_logits(tokens, 0)?.to_vec1()?)
    }

    /// Logits `[vocab]` after `tokens`, which start at position `offset`.
    fn next_logits(&mut self, tokens: &[u32], offset: usize) -> Result<Tensor> {
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        // On one of rayon's workers: called from any other thread, each of the pass's parallel
        // loops (a few hundred per token) is handed to the pool while this thread sleeps until
        // it is done, two context switches per loop on a 2-core machine; from a worker, the
        // pass takes part in its own loops. A 490-token prompt ran 1.3x faster for it.
        let network = &mut self.network;
        let logits = rayon::scope(|_| match network {
            Network::Full(model) => model.forward_last(&input, offset),
            Network::Quantized(model) => Ok(model.forward(&input, offset)?),
        })?;
        // candle's quantized model returns [1, vocab] (or [1, seq, vocab] in some versions).
        let logits = logits.flatten_all()?;
        let vocab = match &self.network {
            Network::Full(model) => model.config.vocab_size,
            Network::Quantized(_) => logits.dims1()?,
        };
        let n = logits.dims1()?;
        Ok(logits.narrow(0, n - vocab, vocab)?)
    }

    /// Answers a conversation with the chat template.
    pub fn chat(
        &mut self,
        messages: &[Message],
        options: &GenerationOptions,
    ) -> Result<Generation> {
        let prompt = render_chat(messages, true);
        self.generate(&prompt, options)
    }

    /// Continues `prompt` (already templated) until an end token or `max_tokens`.
    pub fn generate(&mut self, prompt: &str, options: &GenerationOptions) -> Result<Generation> {
        let prompt_ids = encode(&self.tokenizer, prompt)?;
        if prompt_ids.is_empty() {
            return Err(ModelError::Invalid("empty prompt".into()));
        }
        if prompt_ids.len() >= self.context_length {
            return Err(ModelError::Invalid(format!(
                "the prompt has {} tokens and the model's context holds {}: give it less evidence",
                prompt_ids.len(),
                self.context_length
            )));
        }
        self.clear_cache();
        let sampling = if options.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            match options.top_p {
                Some(p) if p < 1.0 => Sampling::TopP {
                    p,
                    temperature: options.temperature,
                },
                _ => Sampling::All {
                    temperature: options.temperature,
                },
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(options.seed, sampling);

        let started = Instant::now();
        let mut logits = self.next_logits(&prompt_ids, 0)?;
        let prompt_secs = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut generated = Vec::new();
        let mut stop = StopReason::MaxTokens;
        let mut offset = prompt_ids.len();
        while generated.len() < options.max_tokens {
            let next = sampler.sample(&logits)?;
            if self.stop_ids.contains(&next) {
                stop = StopReason::EndToken;
                break;
            }
            generated.push(next);
            if generated.len() == options.max_tokens || offset + 1 >= self.context_length {
                break;
            }
            logits = self.next_logits(&[next], offset)?;
            offset += 1;
        }
        let gen_secs = started.elapsed().as_secs_f64();
        let text = self
            .tokenizer
            .decode(&generated, true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Generation {
            text,
            stop,
            prompt_tokens: prompt_ids.len(),
            prompt_tokens_per_s: rate(prompt_ids.len(), prompt_secs),
            generated_tokens: generated.len(),
            generated_tokens_per_s: rate(generated.len(), gen_secs),
            tokens: generated,
        })
    }
}

fn rate(tokens: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        tokens as f64 / secs
    } else {
        0.0
    }
}
