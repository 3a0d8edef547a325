//! Our own Qwen2 forward: RMSNorm, rotary embeddings, grouped-query attention with a causal
//! mask and KV cache, SwiGLU MLP, tied or untied lm_head, logits for every position.
//!
//! candle's `qwen2` returns the last position only and uses private concrete `Linear`s; LoRA
//! training needs per-position logits and adaptable projections, hence this module. Weights
//! are plain tensors (never `Var`s), loaded from Hugging Face safetensors (single file or
//! sharded with `model.safetensors.index.json`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};

use super::lora::{FrozenMatmul, LoraConfig, LoraLinear, PeftAdapterConfig, peft_key};
use super::{ModelError, Qwen2Config, Result, SplitMix64};

struct Attention {
    q_proj: LoraLinear,
    k_proj: LoraLinear,
    v_proj: LoraLinear,
    o_proj: LoraLinear,
    kv_cache: Option<(Tensor, Tensor)>,
}

struct Mlp {
    gate_proj: LoraLinear,
    up_proj: LoraLinear,
    down_proj: LoraLinear,
}

struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: Tensor,
    post_attention_layernorm: Tensor,
}

impl DecoderLayer {
    fn linear_mut(&mut self, module: &str) -> Option<&mut LoraLinear> {
        Some(match module {
            "q_proj" => &mut self.self_attn.q_proj,
            "k_proj" => &mut self.self_attn.k_proj,
            "v_proj" => &mut self.self_attn.v_proj,
            "o_proj" => &mut self.self_attn.o_proj,
            "gate_proj" => &mut self.mlp.gate_proj,
            "up_proj" => &mut self.mlp.up_proj,
            "down_proj" => &mut self.mlp.down_proj,
            _ => return None,
        })
    }

    fn linear(&self, module: &str) -> Option<&LoraLinear> {
        Some(match module {
            "q_proj" => &self.self_attn.q_proj,
            "k_proj" => &self.self_attn.k_proj,
            "v_proj" => &self.self_attn.v_proj,
            "o_proj" => &self.self_attn.o_proj,
            "gate_proj" => &self.mlp.gate_proj,
            "up_proj" => &self.mlp.up_proj,
            "down_proj" => &self.mlp.down_proj,
            _ => return None,
        })
    }
}

/// A Qwen2 causal language model.
pub struct Qwen2Model {
    pub config: Qwen2Config,
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: Tensor,
    /// `[vocab, hidden]`; the embedding matrix itself when tied.
    lm_head: Tensor,
    cos: Tensor,
    sin: Tensor,
    lora: Option<LoraConfig>,
    /// Set while training: enables dropout and disables the KV cache.
    training_rng: Option<SplitMix64>,
    device: Device,
}

/// Reads every tensor of a Hugging Face checkpoint directory (single or sharded safetensors).
pub fn load_safetensors_dir(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let files: Vec<std::path::PathBuf> = if single.is_file() {
        vec![single]
    } else if index.is_file() {
        let index: serde_json::Value = super::read_json(&index)?;
        let mut names: Vec<String> = index
            .get("weight_map")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.values()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names.into_iter().map(|n| dir.join(n)).collect()
    } else {
        return Err(ModelError::Format {
            path: dir.to_path_buf(),
            message: "no model.safetensors or model.safetensors.index.json: give a Hugging Face \
                      model directory"
                .into(),
        });
    };
    let mut tensors = HashMap::new();
    for file in files {
        if !file.is_file() {
            return Err(ModelError::Format {
                path: file,
                message: "shard listed in model.safetensors.index.json is missing".into(),
            });
        }
        tensors.extend(candle_core::safetensors::load(&file, device)?);
    }
    Ok(tensors)
}

impl Qwen2Model {
    /// Loads `config.json` and the safetensors weights of `dir`, as f32.
    pub fn load(dir: &Path, device: &Device) -> Result<Qwen2Model> {
        let config = Qwen2Config::load(&dir.join("config.json"))?;
        let tensors = load_safetensors_dir(dir, device)?;
        Qwen2Model::from_tensors(config, tensors, device)
    }

    /// Builds the model from tensors named as in Hugging Face checkpoints (`model.layers.0...`).
    pub fn from_tensors(
        config: Qwen2Config,
        mut tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Qwen2Model> {
        let mut take = |name: &str| -> Result<Tensor> {
            let tensor = tensors.remove(name).ok_or_else(|| {
                ModelError::Invalid(format!("weight {name} is missing from the checkpoint"))
            })?;
            Ok(tensor.to_dtype(DType::F32)?)
        };
        let embed_tokens = take("model.embed_tokens.weight")?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let mut lin = |name: &str, bias: bool| -> Result<LoraLinear> {
                let weight = take(&format!("{p}.{name}.weight"))?;
                let bias = if bias {
                    Some(take(&format!("{p}.{name}.bias"))?)
                } else {
                    None
                };
                Ok(LoraLinear::new(weight, bias))
            };
            let self_attn = Attention {
                q_proj: lin("self_attn.q_proj", true)?,
                k_proj: lin("self_attn.k_proj", true)?,
                v_proj: lin("self_attn.v_proj", true)?,
                o_proj: lin("self_attn.o_proj", false)?,
                kv_cache: None,
            };
            let mlp = Mlp {
                gate_proj: lin("mlp.gate_proj", false)?,
                up_proj: lin("mlp.up_proj", false)?,
                down_proj: lin("mlp.down_proj", false)?,
            };
            layers.push(DecoderLayer {
                self_attn,
                mlp,
                input_layernorm: take(&format!("{p}.input_layernorm.weight"))?,
                post_attention_layernorm: take(&format!("{p}.post_attention_layernorm.weight"))?,
            });
        }
        let norm = take("model.norm.weight")?;
        let lm_head = if config.tie_word_embeddings {
            embed_tokens.clone()
        } else {
            match take("lm_head.weight") {
                Ok(weight) => weight,
                // Some exports tie without saying so.
                Err(_) => embed_tokens.clone(),
            }
        };
        let (cos, sin) = rotary_tables(&config, device)?;
        Ok(Qwen2Model {
            config,
            embed_tokens,
            layers,
            norm,
            lm_head,
            cos,
            sin,
            lora: None,
            training_rng: None,
            device: device.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn lora_config(&self) -> Option<&LoraConfig> {
        self.lora.as_ref()
    }

    /// Adds fresh LoRA adapters to every target projection of every layer.
    pub fn attach_lora(&mut self, config: &LoraConfig, seed: u64) -> Result<()> {
        let mut rng = SplitMix64::new(seed);
        for layer in &mut self.layers {
            for module in config.target_modules() {
                if let Some(linear) = layer.linear_mut(module) {
                    linear.attach(config, &mut rng)?;
                }
            }
        }
        self.lora = Some(config.clone());
        Ok(())
    }

    /// The trainable variables, in a fixed order (layer, module, A then B).
    pub fn lora_vars(&self) -> Vec<Var> {
        let mut vars = Vec::new();
        if let Some(config) = &self.lora {
            for layer in &self.layers {
                for module in config.target_modules() {
                    if let Some(adapter) = layer.linear(module).and_then(|l| l.adapter.as_ref()) {
                        vars.push(adapter.a.clone());
                        vars.push(adapter.b.clone());
                    }
                }
            }
        }
        vars
    }

    /// The adapters as PEFT tensors (`base_model.model.model.layers.N....lora_A.weight`).
    pub fn lora_tensors(&self) -> HashMap<String, Tensor> {
        let mut tensors = HashMap::new();
        if let Some(config) = &self.lora {
            for (i, layer) in self.layers.iter().enumerate() {
                for module in config.target_modules() {
                    if let Some(adapter) = layer.linear(module).and_then(|l| l.adapter.as_ref()) {
                        tensors.insert(peft_key(i, module, 'A'), adapter.a.as_tensor().clone());
                        tensors.insert(peft_key(i, module, 'B'), adapter.b.as_tensor().clone());
                    }
                }
            }
        }
        tensors
    }

    /// Saves the adapters in the PEFT layout.
    pub fn save_adapter(&self, dir: &Path, base_model: Option<String>) -> Result<()> {
        let config = self
            .lora
            .as_ref()
            .ok_or_else(|| ModelError::Invalid("the model has no LoRA adapters to save".into()))?;
        let peft = PeftAdapterConfig::from_lora(config, base_model);
        super::lora::save_peft_adapter(dir, &peft, &self.lora_tensors())
    }

    /// Loads PEFT adapters from `dir` onto this model (unmerged).
    pub fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        let (peft, mut tensors) = super::lora::load_peft_adapter(dir, &self.device)?;
        let config = peft.lora_config();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            for module in &peft.target_modules {
                let (Some(a), Some(b)) = (
                    tensors.remove(&peft_key(i, module, 'A')),
                    tensors.remove(&peft_key(i, module, 'B')),
                ) else {
                    continue;
                };
                let linear = layer.linear_mut(module).ok_or_else(|| ModelError::Format {
                    path: dir.join("adapter_config.json"),
                    message: format!("target module {module:?} is not a Qwen2 projection"),
                })?;
                linear.set_adapter(a, b, &config)?;
            }
        }
        self.lora = Some(config);
        Ok(())
    }

    /// Folds every adapter into its base weight (for inference).
    pub fn merge_lora(&mut self) -> Result<()> {
        for layer in &mut self.layers {
            for module in super::lora::ATTENTION_MODULES
                .iter()
                .chain(super::lora::MLP_MODULES.iter())
            {
                if let Some(linear) = layer.linear_mut(module) {
                    linear.merge()?;
                }
            }
        }
        self.lora = None;
        Ok(())
    }

    /// Training mode: dropout with this seed, no KV cache. `None` returns to inference.
    pub fn set_training(&mut self, seed: Option<u64>) {
        self.training_rng = seed.map(SplitMix64::new);
        self.clear_kv_cache();
    }

    pub fn training_rng_state(&self) -> Option<u64> {
        self.training_rng.as_ref().map(|r| r.state)
    }

    pub fn clear_kv_cache(&mut self) {
        for layer in &mut self.layers {
            layer.self_attn.kv_cache = None;
        }
    }

    /// Final hidden states `[batch, seq, hidden]` for `input_ids [batch, seq]` whose first
    /// token sits at position `offset` (the length of the KV cache in inference).
    pub fn forward_hidden(&mut self, input_ids: &Tensor, offset: usize) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let cfg = &self.config;
        let (hidden, heads, kv_heads, head_dim) = (
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.num_kv_heads(),
            cfg.head_dim(),
        );
        let eps = cfg.rms_norm_eps;
        if offset + seq > self.cos.dims()[0] {
            return Err(ModelError::Invalid(format!(
                "sequence of {} tokens is longer than the model's {} positions",
                offset + seq,
                self.cos.dims()[0]
            )));
        }
        let training = self.training_rng.is_some();
        let mut xs = self
            .embed_tokens
            .index_select(&input_ids.flatten_all()?, 0)?
            .reshape((batch, seq, hidden))?;
        let mask = causal_mask(seq, offset, &self.device)?;
        let cos = self.cos.narrow(0, offset, seq)?;
        let sin = self.sin.narrow(0, offset, seq)?;
        for layer in &mut self.layers {
            let residual = xs.clone();
            let h = rms_norm(&xs, &layer.input_layernorm, eps)?;
            let attn = &mut layer.self_attn;
            let q = attn.q_proj.forward(&h, self.training_rng.as_mut())?;
            let k = attn.k_proj.forward(&h, self.training_rng.as_mut())?;
            let v = attn.v_proj.forward(&h, self.training_rng.as_mut())?;
            let q = q.reshape((batch, seq, heads, head_dim))?.transpose(1, 2)?;
            let k = k
                .reshape((batch, seq, kv_heads, head_dim))?
                .transpose(1, 2)?;
            let v = v
                .reshape((batch, seq, kv_heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()?;
            let (q, k) = if training {
                (
                    candle_nn::rotary_emb::rope_slow(&q.contiguous()?, &cos, &sin)?,
                    candle_nn::rotary_emb::rope_slow(&k.contiguous()?, &cos, &sin)?,
                )
            } else {
                (
                    candle_nn::rotary_emb::rope(&q.contiguous()?, &cos, &sin)?,
                    candle_nn::rotary_emb::rope(&k.contiguous()?, &cos, &sin)?,
                )
            };
            let (k, v) = if training {
                (k, v)
            } else {
                let (k, v) = match &attn.kv_cache {
                    Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                    None => (k, v),
                };
                attn.kv_cache = Some((k.clone(), v.clone()));
                (k, v)
            };
            let groups = heads / kv_heads;
            let k = repeat_kv(k, groups)?;
            let v = repeat_kv(v, groups)?;
            let scale = 1.0 / (head_dim as f64).sqrt();
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let scores = match &mask {
                Some(mask) => scores.broadcast_add(mask)?,
                None => scores,
            };
            let probs = if training {
                candle_nn::ops::softmax(&scores, D::Minus1)?
            } else {
                candle_nn::ops::softmax_last_dim(&scores)?
            };
            let out = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((batch, seq, heads * head_dim))?;
            let out = attn.o_proj.forward(&out, self.training_rng.as_mut())?;
            xs = (out + residual)?;

            let residual = xs.clone();
            let h = rms_norm(&xs, &layer.post_attention_layernorm, eps)?;
            let gate = layer
                .mlp
                .gate_proj
                .forward(&h, self.training_rng.as_mut())?;
            let up = layer.mlp.up_proj.forward(&h, self.training_rng.as_mut())?;
            let act = (candle_nn::ops::silu(&gate)? * up)?;
            let down = layer
                .mlp
                .down_proj
                .forward(&act, self.training_rng.as_mut())?;
            xs = (down + residual)?;
        }
        rms_norm(&xs, &self.norm, eps)
    }

    /// Logits `[rows, vocab]` for hidden states `[rows, hidden]`.
    pub fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        let training = self.training_rng.is_some();
        if training && hidden.device().is_cpu() {
            Ok(hidden.contiguous()?.apply_op1(FrozenMatmul {
                weight: self.lm_head.clone(),
            })?)
        } else {
            Ok(hidden.matmul(&self.lm_head.t()?)?)
        }
    }

    /// Logits for every position: `[batch, seq, vocab]`.
    pub fn forward(&mut self, input_ids: &Tensor, offset: usize) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let hidden = self.forward_hidden(input_ids, offset)?;
        let logits = self.lm_head(&hidden.reshape((batch * seq, self.config.hidden_size))?)?;
        Ok(logits.reshape((batch, seq, self.config.vocab_size))?)
    }

    /// Logits of the last position only, `[vocab]` (generation).
    pub fn forward_last(&mut self, input_ids: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, seq) = input_ids.dims2()?;
        let hidden = self.forward_hidden(input_ids, offset)?;
        let last = hidden.narrow(1, seq - 1, 1)?.flatten_all()?.unsqueeze(0)?;
        Ok(self.lm_head(&last)?.squeeze(0)?)
    }

    /// Mean cross-entropy of the tokens where `loss_mask` is true, each predicted from the
    /// tokens before it. `None` when no position counts.
    pub fn masked_loss(&mut self, tokens: &[u32], loss_mask: &[bool]) -> Result<Option<Tensor>> {
        // Rows of the hidden state whose next token is trained; only those reach the lm_head,
        // which keeps the [seq, vocab] logits of a 150k vocabulary out of memory.
        let rows: Vec<u32> = (0..tokens.len().saturating_sub(1))
            .filter(|&p| loss_mask[p + 1])
            .map(|p| p as u32)
            .collect();
        if rows.is_empty() {
            return Ok(None);
        }
        let targets: Vec<u32> = rows.iter().map(|&p| tokens[p as usize + 1]).collect();
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let hidden = self.forward_hidden(&input, 0)?.squeeze(0)?;
        let rows_t = Tensor::new(rows.as_slice(), &self.device)?;
        let hidden = hidden.index_select(&rows_t, 0)?;
        let logits = self.lm_head(&hidden)?;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let targets = Tensor::new(targets.as_slice(), &self.device)?.unsqueeze(1)?;
        let picked = log_probs.gather(&targets, 1)?;
        Ok(Some(picked.mean_all()?.neg()?))
    }
}

fn rms_norm(xs: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let variance = xs.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = xs.broadcast_div(&(variance + eps)?.sqrt()?)?;
    Ok(normed.broadcast_mul(weight)?)
}

fn repeat_kv(xs: Tensor, groups: usize) -> Result<Tensor> {
    if groups == 1 {
        return Ok(xs);
    }
    let (b, kv, s, d) = xs.dims4()?;
    Ok(Tensor::cat(&vec![&xs; groups], 2)?.reshape((b, kv * groups, s, d))?)
}

/// `[seq, offset + seq]`: 0 where a query may look, -inf at later positions.
fn causal_mask(seq: usize, offset: usize, device: &Device) -> Result<Option<Tensor>> {
    if seq == 1 {
        return Ok(None);
    }
    let total = offset + seq;
    let values: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j > i + offset {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Some(Tensor::from_vec(values, (seq, total), device)?))
}

fn rotary_tables(cfg: &Qwen2Config, device: &Device) -> Result<(Tensor, Tensor)> {
    let dim = cfg.head_dim();
    // Longer contexts than this are not useful on a CPU and would only cost table memory.
    let positions = cfg.max_position_embeddings.min(32768);
    let inv_freq: Vec<f32> = (0..dim)
        .step_by(2)
        .map(|i| 1.0 / cfg.rope_theta.powf(i as f64 / dim as f64) as f32)
        .collect();
    let half = inv_freq.len();
    let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
    let t = Tensor::arange(0u32, positions as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?;
    let freqs = t.matmul(&inv_freq)?;
    Ok((freqs.cos()?, freqs.sin()?))
}
