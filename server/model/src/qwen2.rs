//! Our own Qwen2 forward: RMSNorm, rotary embeddings, grouped-query attention with a causal
//! mask and KV cache, SwiGLU MLP, tied or untied lm_head, logits for every position.
//!
//! candle's `qwen2` returns the last position only and uses private concrete `Linear`s; LoRA
//! training needs per-position logits and adaptable projections, hence this module. Weights
//! are plain tensors (never `Var`s), loaded from Hugging Face safetensors (single file or
//! sharded with `model.safetensors.index.json`) one tensor at a time, so loading never holds
//! the whole file and the whole model at once.
//!
//! Training keeps the base matrices as the checkpoint holds them (bf16 halves their memory; a
//! GGUF file's quantized blocks, [`Qwen2Model::load_gguf_for_training`], are smaller still) and
//! recomputes activations: [`Qwen2Model::masked_loss_backward`] runs the layers forward
//! keeping only each layer's input, then recomputes one layer at a time with its graph while
//! the gradient flows back (gradient checkpointing), and sends the trained rows through the
//! lm_head a few at a time. Peak memory is then the weights plus one layer's graph, instead of
//! every layer's `[seq, intermediate]` and `[heads, seq, seq]` activations.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};

use super::frozen::{FrozenMatmul, FrozenWeight};
use super::lora::{LoraConfig, LoraLinear, PeftAdapterConfig, peft_key};
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

    /// This layer's trainable variables in [`Qwen2Model::lora_vars`] order (module, A, B).
    fn lora_vars(&self, config: &LoraConfig) -> Vec<Var> {
        let mut vars = Vec::new();
        for module in config.target_modules() {
            if let Some(adapter) = self.linear(module).and_then(|l| l.adapter.as_ref()) {
                vars.push(adapter.a.clone());
                vars.push(adapter.b.clone());
            }
        }
        vars
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
    embed_tokens: FrozenWeight,
    layers: Vec<DecoderLayer>,
    norm: Tensor,
    /// `[vocab, hidden]`; the embedding matrix itself when tied.
    lm_head: FrozenWeight,
    cos: Tensor,
    sin: Tensor,
    lora: Option<LoraConfig>,
    /// Set while training: enables dropout and disables the KV cache.
    training_rng: Option<SplitMix64>,
    /// Trained rows per lm_head chunk in the loss; `None`: about 8M logits per chunk.
    loss_chunk_rows: Option<usize>,
    device: Device,
}

/// Reads every tensor of a Hugging Face checkpoint directory (single or sharded safetensors).
/// Matrices (2-D tensors) keep the file's dtype when `keep_matrix_dtype`; everything else is
/// converted to f32 as it is read.
pub fn load_safetensors_dir(
    dir: &Path,
    device: &Device,
    keep_matrix_dtype: bool,
) -> Result<HashMap<String, Tensor>> {
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
        read_safetensors(&file, device, keep_matrix_dtype, &mut tensors)?;
    }
    Ok(tensors)
}

/// One entry of a safetensors header.
#[derive(serde::Deserialize)]
struct SafetensorsEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// Reads the tensors of one safetensors file into `out`, one tensor at a time (candle's
/// `safetensors::load` reads the whole file first: for Qwen2.5-0.5B that is 1 GB more at peak).
fn read_safetensors(
    path: &Path,
    device: &Device,
    keep_matrix_dtype: bool,
    out: &mut HashMap<String, Tensor>,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let io = ModelError::io(path);
    let format = ModelError::format(path);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(io)?;
    let header_len = u64::from_le_bytes(len);
    if header_len > file_len.saturating_sub(8) {
        return Err(format(format!(
            "header of {header_len} bytes does not fit in the file: not a safetensors file, or \
             a truncated download"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let header: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| format(format!("safetensors header is not a JSON object ({e})")))?;
    let data_start = 8 + header_len;
    let mut entries = Vec::with_capacity(header.len());
    for (name, value) in header {
        if name == "__metadata__" {
            continue;
        }
        let entry: SafetensorsEntry = serde_json::from_value(value)
            .map_err(|e| format(format!("tensor {name}: bad header entry ({e})")))?;
        entries.push((name, entry));
    }
    entries.sort_by_key(|(_, e)| e.data_offsets[0]);
    for (name, entry) in entries {
        let dtype = match entry.dtype.as_str() {
            "BF16" => DType::BF16,
            "F16" => DType::F16,
            "F32" => DType::F32,
            "F64" => DType::F64,
            "I64" => DType::I64,
            "U32" => DType::U32,
            "U8" => DType::U8,
            other => {
                return Err(format(format!(
                    "tensor {name}: dtype {other} is not supported (BF16, F16, F32, F64, I64, \
                     U32, U8 are)"
                )));
            }
        };
        let [start, end] = entry.data_offsets;
        let expected = entry.shape.iter().product::<usize>() as u64 * dtype.size_in_bytes() as u64;
        if end < start || end - start != expected || data_start + end > file_len {
            return Err(format(format!(
                "tensor {name}: data offsets {start}..{end} do not hold a {:?} {} tensor inside \
                 the file: the file is truncated or corrupt",
                entry.shape, entry.dtype
            )));
        }
        file.seek(SeekFrom::Start(data_start + start)).map_err(io)?;
        let mut bytes = vec![0u8; expected as usize];
        file.read_exact(&mut bytes).map_err(io)?;
        let tensor = Tensor::from_raw_buffer(&bytes, dtype, &entry.shape, device)?;
        drop(bytes);
        let tensor = if keep_matrix_dtype && entry.shape.len() == 2 {
            tensor
        } else {
            tensor.to_dtype(DType::F32)?
        };
        out.insert(name, tensor);
    }
    Ok(())
}

impl Qwen2Model {
    /// Loads `config.json` and the safetensors weights of `dir`, as f32 (inference: the
    /// fastest products).
    pub fn load(dir: &Path, device: &Device) -> Result<Qwen2Model> {
        Qwen2Model::load_with(dir, device, false)
    }

    /// Loads `dir` for LoRA training: on the CPU the frozen matrices (projections, embedding,
    /// lm_head) stay in the checkpoint's dtype (bf16 for Qwen2.5, half the memory of f32) and
    /// are converted block by block inside each product; norms, biases and activations are f32.
    pub fn load_for_training(dir: &Path, device: &Device) -> Result<Qwen2Model> {
        Qwen2Model::load_with(dir, device, device.is_cpu())
    }

    fn load_with(dir: &Path, device: &Device, keep_matrix_dtype: bool) -> Result<Qwen2Model> {
        let config = Qwen2Config::load(&dir.join("config.json"))?;
        let tensors = load_safetensors_dir(dir, device, keep_matrix_dtype)?;
        Qwen2Model::build_dense(config, tensors, device, keep_matrix_dtype)
    }

    /// Loads a GGUF file for LoRA training (QLoRA-style): its matrices stay quantized blocks,
    /// converted to f32 a block of rows at a time inside each product; norms, biases and
    /// activations are f32. The shape comes from the file's metadata.
    pub fn load_gguf_for_training(path: &Path, device: &Device) -> Result<Qwen2Model> {
        let base = super::gguf_base::read(path, device)?;
        Qwen2Model::build(base.config, base.matrices, base.vectors, device)
    }

    /// Builds the model from tensors named as in Hugging Face checkpoints (`model.layers.0...`).
    pub fn from_tensors(
        config: Qwen2Config,
        tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Qwen2Model> {
        Qwen2Model::build_dense(config, tensors, device, false)
    }

    /// [`Qwen2Model::build`] from float tensors: matrices (2-D) keep their dtype when
    /// `keep_matrix_dtype`, everything else is f32.
    fn build_dense(
        config: Qwen2Config,
        tensors: HashMap<String, Tensor>,
        device: &Device,
        keep_matrix_dtype: bool,
    ) -> Result<Qwen2Model> {
        let mut matrices = HashMap::new();
        let mut vectors = HashMap::new();
        for (name, tensor) in tensors {
            let float = matches!(tensor.dtype(), DType::BF16 | DType::F16 | DType::F32);
            if tensor.rank() == 2 {
                let tensor = if keep_matrix_dtype && float {
                    tensor
                } else {
                    tensor.to_dtype(DType::F32)?
                };
                matrices.insert(name, FrozenWeight::Dense(tensor));
            } else {
                vectors.insert(name, tensor.to_dtype(DType::F32)?);
            }
        }
        Qwen2Model::build(config, matrices, vectors, device)
    }

    fn build(
        config: Qwen2Config,
        mut matrices: HashMap<String, FrozenWeight>,
        mut vectors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Qwen2Model> {
        let missing = |name: &str| {
            ModelError::Invalid(format!("weight {name} is missing from the checkpoint"))
        };
        let mut matrix = |name: &str| matrices.remove(name).ok_or_else(|| missing(name));
        let mut vector = |name: &str| vectors.remove(name).ok_or_else(|| missing(name));
        let embed_tokens = matrix("model.embed_tokens.weight")?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let mut lin = |name: &str, bias: bool| -> Result<LoraLinear> {
                let weight = matrix(&format!("{p}.{name}.weight"))?;
                let bias = if bias {
                    Some(vector(&format!("{p}.{name}.bias"))?)
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
                input_layernorm: vector(&format!("{p}.input_layernorm.weight"))?,
                post_attention_layernorm: vector(&format!("{p}.post_attention_layernorm.weight"))?,
            });
        }
        let norm = vector("model.norm.weight")?;
        let lm_head = if config.tie_word_embeddings {
            embed_tokens.clone()
        } else {
            match matrix("lm_head.weight") {
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
            loss_chunk_rows: None,
            device: device.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype the frozen matrices are held in (f32, or the checkpoint's for training);
    /// `None` for a GGUF file's quantized blocks.
    pub fn matrix_dtype(&self) -> Option<DType> {
        self.embed_tokens.dense_dtype()
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
                    linear.attach(config, &mut rng, &self.device)?;
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
                vars.extend(layer.lora_vars(config));
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
        let (peft, tensors) = super::lora::load_peft_adapter(dir, &self.device)?;
        let config = peft.lora_config();
        let pairs = super::lora::adapter_pairs(dir, &peft, tensors, self.layers.len())?;
        for (layer, module, a, b) in pairs {
            let linear = self.layers[layer]
                .linear_mut(&module)
                .expect("adapter_pairs keeps Qwen2 projections only");
            linear.set_adapter(a, b, &config)?;
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

    /// What the decoder layers of one pass over `seq` tokens from position `offset` share.
    fn pass_context(&self, seq: usize, offset: usize) -> Result<PassContext> {
        if offset + seq > self.cos.dims()[0] {
            return Err(ModelError::Invalid(format!(
                "sequence of {} tokens is longer than the model's {} positions",
                offset + seq,
                self.cos.dims()[0]
            )));
        }
        Ok(PassContext {
            mask: causal_mask(seq, offset, &self.device)?,
            cos: self.cos.narrow(0, offset, seq)?,
            sin: self.sin.narrow(0, offset, seq)?,
            training: self.training_rng.is_some(),
        })
    }

    /// Embeddings `[batch, seq, hidden]` (f32) of `input_ids [batch, seq]`: only the rows
    /// asked for are gathered and converted.
    fn embed(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        let ids = input_ids
            .flatten_all()?
            .to_dtype(DType::U32)?
            .to_vec1::<u32>()?;
        Ok(self.embed_tokens.gather_f32(&ids, &self.device)?.reshape((
            batch,
            seq,
            self.config.hidden_size,
        ))?)
    }

    /// Final hidden states `[batch, seq, hidden]` for `input_ids [batch, seq]` whose first
    /// token sits at position `offset` (the length of the KV cache in inference).
    pub fn forward_hidden(&mut self, input_ids: &Tensor, offset: usize) -> Result<Tensor> {
        let (_, seq) = input_ids.dims2()?;
        let ctx = self.pass_context(seq, offset)?;
        let mut xs = self.embed(input_ids)?;
        for layer in &mut self.layers {
            xs = decoder_layer(layer, &xs, &self.config, &ctx, self.training_rng.as_mut())?;
        }
        rms_norm(&xs, &self.norm, self.config.rms_norm_eps)
    }

    /// Logits `[rows, vocab]` for hidden states `[rows, hidden]`.
    pub fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        let training = self.training_rng.is_some();
        if training && hidden.device().is_cpu() {
            Ok(hidden.contiguous()?.apply_op1(FrozenMatmul {
                weight: self.lm_head.clone(),
            })?)
        } else {
            Ok(self.lm_head.product(hidden)?)
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
    /// tokens before it. `None` when no position counts. The result carries the whole graph
    /// (every layer's activations): the reference that [`Qwen2Model::masked_loss_backward`]
    /// computes with far less memory.
    pub fn masked_loss(&mut self, tokens: &[u32], loss_mask: &[bool]) -> Result<Option<Tensor>> {
        let Some((rows, targets)) = loss_rows(tokens, loss_mask) else {
            return Ok(None);
        };
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

    /// The masked loss as a number, computed without keeping any graph: one layer's
    /// activations and one chunk of logits at a time (dev loss). Clears the KV cache.
    pub fn masked_loss_value(&mut self, tokens: &[u32], loss_mask: &[bool]) -> Result<Option<f64>> {
        let Some((rows, targets)) = loss_rows(tokens, loss_mask) else {
            return Ok(None);
        };
        self.clear_kv_cache();
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let ctx = self.pass_context(tokens.len(), 0)?;
        let mut xs = self.embed(&input)?;
        for layer in &mut self.layers {
            xs =
                decoder_layer(layer, &xs, &self.config, &ctx, self.training_rng.as_mut())?.detach();
        }
        self.clear_kv_cache();
        let rows_t = Tensor::new(rows.as_slice(), &self.device)?;
        let hidden = xs.squeeze(0)?.index_select(&rows_t, 0)?;
        let chunk = self.loss_chunk_rows();
        let mut sum = 0.0;
        for start in (0..rows.len()).step_by(chunk) {
            let len = chunk.min(rows.len() - start);
            let loss =
                self.chunk_loss(&hidden.narrow(0, start, len)?, &targets[start..start + len])?;
            sum += loss.to_scalar::<f32>()? as f64;
        }
        Ok(Some(sum / rows.len() as f64))
    }

    /// The masked loss and the gradients of `scale * loss` for [`Qwen2Model::lora_vars`] (same
    /// order), by activation recomputation: the forward keeps only each decoder layer's input
    /// (detached); the loss segment (final norm, lm_head, cross-entropy) runs a chunk of rows
    /// at a time; then each layer, last to first, is recomputed with its graph from its input
    /// as a `Var` and back-propagated from `sum(output * upstream gradient)`, whose input
    /// gradient is the next layer's upstream gradient. Dropout masks are replayed from the RNG
    /// state saved before each layer, so the gradients equal those of
    /// `masked_loss(..).backward()`. `None` when no position counts.
    pub fn masked_loss_backward(
        &mut self,
        tokens: &[u32],
        loss_mask: &[bool],
        scale: f64,
    ) -> Result<Option<(f64, Vec<Tensor>)>> {
        let Some((rows, targets)) = loss_rows(tokens, loss_mask) else {
            return Ok(None);
        };
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let ctx = self.pass_context(tokens.len(), 0)?;
        let mut xs = self.embed(&input)?;
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut rng_states = Vec::with_capacity(self.layers.len());
        for layer in &mut self.layers {
            rng_states.push(self.training_rng.clone());
            let out =
                decoder_layer(layer, &xs, &self.config, &ctx, self.training_rng.as_mut())?.detach();
            inputs.push(std::mem::replace(&mut xs, out));
        }
        let rng_after = self.training_rng.clone();

        // The loss segment, a chunk of trained rows at a time.
        let rows_t = Tensor::new(rows.as_slice(), &self.device)?;
        let hidden = xs.squeeze(0)?;
        let picked = hidden.index_select(&rows_t, 0)?;
        let per_row = scale / rows.len() as f64;
        let chunk = self.loss_chunk_rows();
        let mut loss_sum = 0.0;
        let mut row_grads = Vec::with_capacity(rows.len().div_ceil(chunk));
        for start in (0..rows.len()).step_by(chunk) {
            let len = chunk.min(rows.len() - start);
            let part = Var::from_tensor(&picked.narrow(0, start, len)?)?;
            let loss = self.chunk_loss(part.as_tensor(), &targets[start..start + len])?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            let grads = (loss * per_row)?.backward()?;
            row_grads.push(match grads.get(&part) {
                Some(g) => g.detach(),
                None => part.as_tensor().zeros_like()?,
            });
        }
        let row_grads = Tensor::cat(&row_grads, 0)?;
        let mut upstream = hidden
            .zeros_like()?
            .index_add(&rows_t, &row_grads, 0)?
            .unsqueeze(0)?;

        // The decoder layers, last to first.
        let config = self.lora.clone().unwrap_or_default();
        let mut layer_grads: Vec<Vec<Tensor>> = Vec::with_capacity(self.layers.len());
        for (i, rng) in rng_states.into_iter().enumerate().rev() {
            let Some(layer_input) = inputs.pop() else {
                break;
            };
            let layer_input = Var::from_tensor(&layer_input)?;
            self.training_rng = rng;
            let layer = &mut self.layers[i];
            let out = decoder_layer(
                layer,
                layer_input.as_tensor(),
                &self.config,
                &ctx,
                self.training_rng.as_mut(),
            )?;
            let grads = (out * &upstream)?.sum_all()?.backward()?;
            let vars = layer.lora_vars(&config);
            let mut these = Vec::with_capacity(vars.len());
            for var in &vars {
                these.push(match grads.get(var) {
                    Some(g) => g.detach(),
                    None => var.as_tensor().zeros_like()?,
                });
            }
            layer_grads.push(these);
            if i > 0 {
                upstream = match grads.get(&layer_input) {
                    Some(g) => g.detach(),
                    None => layer_input.as_tensor().zeros_like()?,
                };
            }
        }
        self.training_rng = rng_after;
        layer_grads.reverse();
        let grads = layer_grads.into_iter().flatten().collect();
        Ok(Some((loss_sum / rows.len() as f64, grads)))
    }

    /// Trained rows per lm_head chunk: keeps the `[rows, vocab]` f32 logits near 32 MiB
    /// (55 rows for a 151936-token vocabulary).
    fn loss_chunk_rows(&self) -> usize {
        self.loss_chunk_rows
            .unwrap_or((8 << 20) / self.config.vocab_size.max(1))
            .max(1)
    }

    /// Sets how many trained rows go through the lm_head at once in the chunked losses
    /// (tests use small chunks on tiny vocabularies; `None` restores the default).
    pub fn set_loss_chunk_rows(&mut self, rows: Option<usize>) {
        self.loss_chunk_rows = rows;
    }

    /// The summed cross-entropy of `hidden [rows, hidden]` (pre-norm final states) against
    /// `targets`, through the final norm and the lm_head.
    fn chunk_loss(&self, hidden: &Tensor, targets: &[u32]) -> Result<Tensor> {
        let normed = rms_norm(hidden, &self.norm, self.config.rms_norm_eps)?;
        let logits = self.lm_head(&normed)?;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let targets = Tensor::new(targets, &self.device)?.unsqueeze(1)?;
        Ok(log_probs.gather(&targets, 1)?.sum_all()?.neg()?)
    }
}

/// The positions whose next token is trained, and those next tokens; `None` when there are
/// none. Only these rows reach the lm_head, which keeps the `[seq, vocab]` logits of a 150k
/// vocabulary out of memory.
fn loss_rows(tokens: &[u32], loss_mask: &[bool]) -> Option<(Vec<u32>, Vec<u32>)> {
    let rows: Vec<u32> = (0..tokens.len().saturating_sub(1))
        .filter(|&p| loss_mask.get(p + 1).copied().unwrap_or(false))
        .map(|p| p as u32)
        .collect();
    if rows.is_empty() {
        return None;
    }
    let targets = rows.iter().map(|&p| tokens[p as usize + 1]).collect();
    Some((rows, targets))
}

/// What the decoder layers of one forward pass share.
struct PassContext {
    mask: Option<Tensor>,
    cos: Tensor,
    sin: Tensor,
    /// Dropout, no KV cache, and the rotary/softmax ops that have a backward.
    training: bool,
}

/// One decoder layer: attention (with the KV cache outside training) and the MLP, each with
/// its residual.
fn decoder_layer(
    layer: &mut DecoderLayer,
    xs: &Tensor,
    cfg: &Qwen2Config,
    ctx: &PassContext,
    mut rng: Option<&mut SplitMix64>,
) -> Result<Tensor> {
    let (batch, seq, _) = xs.dims3()?;
    let (heads, kv_heads, head_dim) = (cfg.num_attention_heads, cfg.num_kv_heads(), cfg.head_dim());
    let eps = cfg.rms_norm_eps;
    let training = ctx.training;
    let (cos, sin) = (&ctx.cos, &ctx.sin);
    let residual = xs;
    let h = rms_norm(xs, &layer.input_layernorm, eps)?;
    let attn = &mut layer.self_attn;
    let q = attn.q_proj.forward(&h, rng.as_deref_mut())?;
    let k = attn.k_proj.forward(&h, rng.as_deref_mut())?;
    let v = attn.v_proj.forward(&h, rng.as_deref_mut())?;
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
            candle_nn::rotary_emb::rope_slow(&q.contiguous()?, cos, sin)?,
            candle_nn::rotary_emb::rope_slow(&k.contiguous()?, cos, sin)?,
        )
    } else {
        (
            candle_nn::rotary_emb::rope(&q.contiguous()?, cos, sin)?,
            candle_nn::rotary_emb::rope(&k.contiguous()?, cos, sin)?,
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
    let scores = match &ctx.mask {
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
    let out = attn.o_proj.forward(&out, rng.as_deref_mut())?;
    let xs = (out + residual)?;

    let residual = &xs;
    let h = rms_norm(&xs, &layer.post_attention_layernorm, eps)?;
    let gate = layer.mlp.gate_proj.forward(&h, rng.as_deref_mut())?;
    let up = layer.mlp.up_proj.forward(&h, rng.as_deref_mut())?;
    let act = (candle_nn::ops::silu(&gate)? * up)?;
    let down = layer.mlp.down_proj.forward(&act, rng)?;
    Ok((down + residual)?)
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
