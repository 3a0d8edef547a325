//! Qwen2 over GGUF weights: candle-transformers 0.11.1's `models::quantized_qwen2` (MIT or
//! Apache-2.0, by the candle authors), with two changes: every matrix is a [`QLinear`], and
//! grouped-query attention reads the shared K/V heads in place instead of copying them.
//!
//! Why a copy: candle multiplies quantized weights one weight row by one token row at a time
//! (AVX2 integer dot products, a horizontal sum per 32-weight block). That left a grounded
//! question's prompt (1-2k tokens of code) at half of llama.cpp's speed and generation below
//! it. Here each matrix of a type the int8 kernel of `packed_int8.rs` reads (Q8_0, Q5_0, Q4_K,
//! Q6_K: the common llama.cpp mixes) is packed once at load for it (AVX-512 VNNI, activations
//! quantized to 8 bits as llama.cpp does), which runs prompts and generation alike; other
//! matrices, and CPUs without VNNI, keep candle's kernel for a few rows and an f32 GEMM over
//! the weights dequantized for the call for many. Attention runs `causal_attention.rs`. candle's model keeps its matrices private,
//! so the choice of kernel needs the model code here. Tracing spans were dropped and the
//! metadata is read by `gguf_base::config` (the reading training uses); the rest follows
//! upstream so fixes there can be carried over line by line.
//!
//! A LoRA adapter (PEFT layout, as `acdp train` writes it) is applied at run time
//! ([`ModelWeights::apply_adapter`]): each adapted [`QLinear`] adds `scale · x Aᵀ Bᵀ` to its
//! quantized product. Merging into quantized weights would requantize them and lose the
//! adapter's small updates; the extra products cost `2 · r · (in + out)` per token.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{D, DType, Device, IndexOp, Result, Tensor};
use candle_nn::{Embedding, Module};
use candle_transformers::quantized_nn::RmsNorm;
use candle_transformers::utils::build_causal_mask;

use crate::causal_attention::CausalAttention;
use crate::packed_int8::PackedInt8Matrix;

#[derive(Debug, Clone)]
struct Mlp {
    feed_forward_w1: QLinear,
    feed_forward_w2: QLinear,
    feed_forward_w3: QLinear,
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let w1 = self.feed_forward_w1.forward(xs)?;
        let w3 = self.feed_forward_w3.forward(xs)?;
        self.feed_forward_w2
            .forward(&(candle_nn::ops::silu(&w1)? * w3)?)
    }
}

#[derive(Debug, Clone)]
struct LayerWeights {
    attention_wq: QLinear,
    attention_wk: QLinear,
    attention_wv: QLinear,
    attention_bq: Tensor,
    attention_bk: Tensor,
    attention_bv: Tensor,
    attention_wo: QLinear,
    attention_norm: RmsNorm,
    mlp: Mlp,
    ffn_norm: RmsNorm,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    cos: Tensor,
    sin: Tensor,
    neg_inf: Tensor,
    kv_cache: Option<(Tensor, Tensor)>,
}

/// Whether attention runs as `causal_attention.rs`'s op (one sequence on the CPU, where the
/// GGUF model's activations are f32; the op refuses any other type) rather than as candle's
/// masked softmax. The mask is built only for the latter.
fn uses_causal_attention_op(device: &Device, batch: usize) -> bool {
    device.is_cpu() && batch == 1
}

fn masked_fill(on_false: &Tensor, mask: &Tensor, on_true: &Tensor) -> Result<Tensor> {
    let shape = mask.shape();
    let m = mask.where_cond(&on_true.broadcast_as(shape.dims())?, on_false)?;
    Ok(m)
}

impl LayerWeights {
    fn apply_rotary_emb(&self, x: &Tensor, index_pos: usize) -> Result<Tensor> {
        let (_b_sz, _n_head, seq_len, _n_embd) = x.dims4()?;
        let cos = self.cos.narrow(0, index_pos, seq_len)?;
        let sin = self.sin.narrow(0, index_pos, seq_len)?;
        candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)
    }

    fn forward_attn(
        &mut self,
        x: &Tensor,
        mask: Option<&Tensor>,
        index_pos: usize,
    ) -> Result<Tensor> {
        let (b_sz, seq_len, n_embd) = x.dims3()?;

        let q = self.attention_wq.forward(x)?;
        let k = self.attention_wk.forward(x)?;
        let v = self.attention_wv.forward(x)?;

        let q = q.broadcast_add(&self.attention_bq)?;
        let k = k.broadcast_add(&self.attention_bk)?;
        let v = v.broadcast_add(&self.attention_bv)?;

        let q = q
            .reshape((b_sz, seq_len, self.n_head, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?;
        let k = k
            .reshape((b_sz, seq_len, self.n_kv_head, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?;
        let v = v
            .reshape((b_sz, seq_len, self.n_kv_head, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?;

        // let (q, k) = self
        //     .rotary_embedding
        //     .apply_rotary_emb_qkv(&q, &k, index_pos)?;
        let q = self.apply_rotary_emb(&q, index_pos)?;
        let k = self.apply_rotary_emb(&k, index_pos)?;

        let (k, v) = match &self.kv_cache {
            None => (k, v),
            Some((k_cache, v_cache)) => {
                if index_pos == 0 {
                    (k, v)
                } else {
                    let k = Tensor::cat(&[k_cache, &k], 2)?;
                    let v = Tensor::cat(&[v_cache, &v], 2)?;
                    (k, v)
                }
            }
        };
        self.kv_cache = Some((k.clone(), v.clone()));

        if uses_causal_attention_op(q.device(), b_sz) {
            let op = CausalAttention {
                group: self.n_head / self.n_kv_head,
            };
            let y = q
                .contiguous()?
                .apply_op3_no_bwd(&k.contiguous()?, &v.contiguous()?, &op)?;
            let y = y.transpose(1, 2)?.reshape(&[b_sz, seq_len, n_embd])?;
            return self.attention_wo.forward(&y);
        }

        // Grouped-query attention without copying K and V once per query head (upstream's
        // `repeat_kv`, 7x the cache per layer and step for Qwen2.5-0.5B): the `n_rep` query
        // heads that share a K/V head are stacked as rows of one product.
        let n_rep = self.n_head / self.n_kv_head;
        let kv_len = k.dim(2)?;
        let q = q.reshape((b_sz, self.n_kv_head, n_rep * seq_len, self.head_dim))?;
        let att = (q.matmul(&k.t()?)? / (self.head_dim as f64).sqrt())?;
        let att = match mask {
            None => att,
            Some(mask) => {
                // Row `r * seq_len + s` is position `s` of the r-th head of the group.
                let mask = mask
                    .unsqueeze(0)?
                    .broadcast_as((n_rep, seq_len, kv_len))?
                    .reshape((n_rep * seq_len, kv_len))?
                    .broadcast_as(att.shape())?;
                masked_fill(&att, &mask, &self.neg_inf)?
            }
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        // Convert to contiguous as matmul doesn't support strided vs for now.
        let y = att.matmul(&v.contiguous()?)?;
        let y = y.reshape((b_sz, self.n_head, seq_len, self.head_dim))?;
        let y = y.transpose(1, 2)?.reshape(&[b_sz, seq_len, n_embd])?;
        let y = self.attention_wo.forward(&y)?;
        Ok(y)
    }
}

/// A Qwen2 model over GGUF weights, with its KV cache.
pub struct ModelWeights {
    tok_embeddings: Embedding,
    layers: Vec<LayerWeights>,
    norm: RmsNorm,
    output: QLinear,
    masks: HashMap<(usize, usize), Tensor>,
}

fn precomput_freqs_cis(
    head_dim: usize,
    freq_base: f32,
    context_length: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let theta: Vec<_> = (0..head_dim)
        .step_by(2)
        .map(|i| 1f32 / freq_base.powf(i as f32 / head_dim as f32))
        .collect();
    let theta = Tensor::new(theta.as_slice(), device)?;
    let idx_theta = Tensor::arange(0, context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((context_length, 1))?
        .matmul(&theta.reshape((1, theta.elem_count()))?)?;
    let cos = idx_theta.cos()?;
    let sin = idx_theta.sin()?;
    Ok((cos, sin))
}

impl ModelWeights {
    /// Reads the model from a GGUF file's header and tensors, its matrices packed for the int8
    /// kernel where the CPU has one.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        ct: gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> Result<Self> {
        Self::from_gguf_with_kernels(ct, reader, device, Kernels::Int8WhereAvailable)
    }

    /// [`Self::from_gguf`] with the choice of kernels made by the caller (tests compare them).
    pub fn from_gguf_with_kernels<R: std::io::Seek + std::io::Read>(
        ct: gguf_file::Content,
        reader: &mut R,
        device: &Device,
        kernels: Kernels,
    ) -> Result<Self> {
        let int8 = kernels == Kernels::Int8WhereAvailable;
        // The shape as training reads it (gguf_base.rs), so a file answers iff it trains.
        let config = crate::gguf_base::config(&ct).map_err(candle_core::Error::msg)?;
        let head_count = config.num_attention_heads;
        let head_count_kv = config.num_kv_heads();
        let embedding_length = config.hidden_size;
        let context_length = config.max_position_embeddings;
        let block_count = config.num_hidden_layers;
        let rms_norm_eps = config.rms_norm_eps;
        let rope_freq_base = config.rope_theta as f32;

        let head_dim = embedding_length / head_count;

        let neg_inf = Tensor::new(f32::NEG_INFINITY, device)?;

        let tok_embeddings = ct.tensor(reader, "token_embd.weight", device)?;
        let tok_embeddings = tok_embeddings.dequantize(device)?;
        let norm = RmsNorm::from_qtensor(
            ct.tensor(reader, "output_norm.weight", device)?,
            rms_norm_eps,
        )?;
        let output = match ct.tensor(reader, "output.weight", device) {
            Ok(v) => QLinear::new(v, int8)?,
            _ => {
                // use tie_word_embeddings
                QLinear::new(ct.tensor(reader, "token_embd.weight", device)?, int8)?
            }
        };

        let (cos, sin) = precomput_freqs_cis(head_dim, rope_freq_base, context_length, device)?;

        let mut layers = Vec::with_capacity(block_count);

        for layer_idx in 0..block_count {
            let prefix = format!("blk.{layer_idx}");
            let attention_wq = ct.tensor(reader, &format!("{prefix}.attn_q.weight"), device)?;
            let attention_wk = ct.tensor(reader, &format!("{prefix}.attn_k.weight"), device)?;
            let attention_wv = ct.tensor(reader, &format!("{prefix}.attn_v.weight"), device)?;

            let attention_bq = ct.tensor(reader, &format!("{prefix}.attn_q.bias"), device)?;
            let attention_bk = ct.tensor(reader, &format!("{prefix}.attn_k.bias"), device)?;
            let attention_bv = ct.tensor(reader, &format!("{prefix}.attn_v.bias"), device)?;

            let attention_wo =
                ct.tensor(reader, &format!("{prefix}.attn_output.weight"), device)?;

            let mlp = {
                let feed_forward_w1 =
                    ct.tensor(reader, &format!("{prefix}.ffn_gate.weight"), device)?;
                let feed_forward_w2 =
                    ct.tensor(reader, &format!("{prefix}.ffn_down.weight"), device)?;
                let feed_forward_w3 =
                    ct.tensor(reader, &format!("{prefix}.ffn_up.weight"), device)?;
                Mlp {
                    feed_forward_w1: QLinear::new(feed_forward_w1, int8)?,
                    feed_forward_w2: QLinear::new(feed_forward_w2, int8)?,
                    feed_forward_w3: QLinear::new(feed_forward_w3, int8)?,
                }
            };

            let attention_norm =
                ct.tensor(reader, &format!("{prefix}.attn_norm.weight"), device)?;
            let ffn_norm = ct.tensor(reader, &format!("{prefix}.ffn_norm.weight"), device)?;

            layers.push(LayerWeights {
                attention_wq: QLinear::new(attention_wq, int8)?,
                attention_wk: QLinear::new(attention_wk, int8)?,
                attention_wv: QLinear::new(attention_wv, int8)?,
                attention_bq: attention_bq.dequantize(device)?,
                attention_bk: attention_bk.dequantize(device)?,
                attention_bv: attention_bv.dequantize(device)?,
                attention_wo: QLinear::new(attention_wo, int8)?,
                attention_norm: RmsNorm::from_qtensor(attention_norm, rms_norm_eps)?,
                cos: cos.clone(),
                sin: sin.clone(),
                mlp,
                ffn_norm: RmsNorm::from_qtensor(ffn_norm, rms_norm_eps)?,
                n_head: head_count,
                n_kv_head: head_count_kv,
                head_dim,
                neg_inf: neg_inf.clone(),
                kv_cache: None,
            });
        }

        Ok(Self {
            tok_embeddings: Embedding::new(tok_embeddings, embedding_length),
            layers,
            norm,
            output,
            masks: HashMap::new(),
        })
    }

    fn mask(&mut self, seq_len: usize, index_pos: usize, device: &Device) -> Result<Tensor> {
        let kv_len = index_pos + seq_len;
        if let Some(mask) = self.masks.get(&(seq_len, kv_len)) {
            Ok(mask.clone())
        } else {
            let mask = build_causal_mask(seq_len, index_pos, device)?;
            self.masks.insert((seq_len, kv_len), mask.clone());
            Ok(mask)
        }
    }

    /// Clear the KV cache across all layers.
    ///
    /// Call this between independent conversations to free cached attention
    /// state without recreating the model.
    /// The number of decoder layers.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// Applies LoRA pairs at run time (from [`crate::lora::adapter_pairs`]) with `scale`
    /// (alpha / r). Matrices that do not fit their projection are an error: the adapter was
    /// trained for another model.
    pub fn apply_adapter(&mut self, pairs: &[crate::lora::AdapterPair], scale: f64) -> Result<()> {
        for (layer, module, a, b) in pairs {
            let weights = &mut self.layers[*layer];
            let linear = match module.as_str() {
                "q_proj" => &mut weights.attention_wq,
                "k_proj" => &mut weights.attention_wk,
                "v_proj" => &mut weights.attention_wv,
                "o_proj" => &mut weights.attention_wo,
                "gate_proj" => &mut weights.mlp.feed_forward_w1,
                "up_proj" => &mut weights.mlp.feed_forward_w3,
                "down_proj" => &mut weights.mlp.feed_forward_w2,
                other => candle_core::bail!("target module {other:?} is not a Qwen2 projection"),
            };
            linear
                .set_lora(a, b, scale)
                .map_err(|e| e.context(format!("layer {layer} {module}")))?;
        }
        Ok(())
    }

    pub fn clear_kv_cache(&mut self) {
        for layer in self.layers.iter_mut() {
            layer.kv_cache = None;
        }
    }

    /// Logits `[batch, vocab]` of the last position of `x` (`[batch, seq]` token ids) placed
    /// at `index_pos`.
    pub fn forward(&mut self, x: &Tensor, index_pos: usize) -> Result<Tensor> {
        let (b_sz, seq_len) = x.dims2()?;
        // The CPU's attention (`causal_attention.rs`) bounds each row itself.
        let mask = if seq_len == 1 || uses_causal_attention_op(x.device(), b_sz) {
            None
        } else {
            Some(self.mask(seq_len, index_pos, x.device())?)
        };
        let mut layer_in = self.tok_embeddings.forward(x)?;
        for layer in self.layers.iter_mut() {
            let x = layer_in;
            let residual = &x;
            let x = layer.attention_norm.forward(&x)?;
            let attn = layer.forward_attn(&x, mask.as_ref(), index_pos)?;
            let x = (attn + residual)?;

            // MLP
            let residual = &x;
            let x = layer.ffn_norm.forward(&x)?;
            let x = layer.mlp.forward(&x)?;
            let x = (x + residual)?;
            layer_in = x
        }
        let x = self.norm.forward(&layer_in)?;
        let x = x.i((.., seq_len - 1, ..))?;
        self.output.forward(&x)
    }
}

/// Prompts with at least this many rows go through the f32 GEMM (see [`QLinear`]).
const GEMM_MIN_ROWS: usize = 16;

/// A quantized matrix and the kernel that multiplies it. With AVX-512 VNNI, the weights are
/// repacked once for the int8 kernel (`packed_int8.rs`), which runs prompts and generation
/// alike. Elsewhere, candle's quantized matmul for a few rows (generation) and an f32 GEMM over
/// the weights dequantized for this call for many (prompts): dequantizing costs one pass over
/// the matrix, paid back many times over by the GEMM once there are more than a handful of
/// rows; the f32 copy lives for the call only.
#[derive(Debug, Clone)]
struct QLinear {
    kernel: Kernel,
    out_dim: usize,
    in_dim: usize,
    /// A LoRA adapter as `(Aᵀ [in, r], scale · Bᵀ [r, out])`, added to the product.
    lora: Option<(Tensor, Tensor)>,
}

/// Which kernels multiply the quantized matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// The int8 kernel (`packed_int8.rs`) where the CPU has AVX-512 VNNI and the matrix's
    /// block type has a case there (Q8_0, Q5_0, Q4_K, Q6_K); candle's for any other matrix.
    Int8WhereAvailable,
    /// candle's quantized kernel for a few rows, the f32 GEMM for many: what CPUs without
    /// VNNI run.
    Candle,
}

#[derive(Debug, Clone)]
enum Kernel {
    /// Only the packed copy is kept: the GGUF blocks are not read again. It takes 1.125 bytes
    /// per weight (1.25 for Q4_K and Q6_K): more than Q5_0's 0.69 or Q4_K's 0.56 in the file,
    /// about the Q8_0 that Q5_0 is widened to on reading (`gguf_q8.rs`, 1.06).
    Int8(Arc<PackedInt8Matrix>),
    Candle {
        quantized: QMatMul,
        weights: Arc<QTensor>,
    },
}

impl QLinear {
    fn new(weights: QTensor, int8: bool) -> Result<Self> {
        let (out_dim, in_dim) = weights.shape().dims2()?;
        let packed = if int8 {
            PackedInt8Matrix::pack(&weights)
        } else {
            None
        };
        let kernel = match packed {
            Some(packed) => Kernel::Int8(Arc::new(packed)),
            None => {
                let weights = Arc::new(weights);
                Kernel::Candle {
                    quantized: QMatMul::from_arc(weights.clone())?,
                    weights,
                }
            }
        };
        Ok(QLinear {
            kernel,
            out_dim,
            in_dim,
            lora: None,
        })
    }

    /// Adds the adapter `a [r, in]`, `b [out, r]` with `scale` (alpha / r) to this product.
    fn set_lora(&mut self, a: &Tensor, b: &Tensor, scale: f64) -> Result<()> {
        let (out_dim, in_dim) = (self.out_dim, self.in_dim);
        let (rank, a_in) = a.dims2()?;
        let (b_out, b_rank) = b.dims2()?;
        if a_in != in_dim || b_out != out_dim || b_rank != rank {
            candle_core::bail!(
                "adapter A {:?} / B {:?} does not fit a {out_dim}x{in_dim} weight",
                a.dims(),
                b.dims()
            );
        }
        let a_t = a.to_dtype(DType::F32)?.t()?.contiguous()?;
        let b_t = (b.to_dtype(DType::F32)?.t()? * scale)?.contiguous()?;
        self.lora = Some((a_t, b_t));
        Ok(())
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let base = self.base_forward(xs)?;
        match &self.lora {
            None => Ok(base),
            Some((a_t, b_t)) => base + xs.broadcast_matmul(a_t)?.broadcast_matmul(b_t)?,
        }
    }

    fn base_forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (quantized, weights) = match &self.kernel {
            Kernel::Int8(packed) if xs.device().is_cpu() && xs.dtype() == DType::F32 => {
                return xs.contiguous()?.apply_op1_no_bwd(packed.as_ref());
            }
            Kernel::Int8(_) => {
                candle_core::bail!("the int8 kernel takes f32 activations on the CPU")
            }
            Kernel::Candle { quantized, weights } => (quantized, weights),
        };
        let rows = xs.elem_count() / xs.dim(D::Minus1)?;
        let is_quantized = !matches!(
            weights.dtype(),
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16
        );
        if rows >= GEMM_MIN_ROWS && is_quantized && xs.device().is_cpu() && xs.dtype() == DType::F32
        {
            let weights = crate::dequantize::dequantize_on_all_cores(weights, xs.device())?;
            xs.broadcast_matmul(&weights.t()?)
        } else {
            quantized.forward(xs)
        }
    }
}
