//! Frozen base matrices: the weights LoRA trains beside and never changes.
//!
//! A [`FrozenWeight`] stays as the checkpoint holds it: f32, bf16 or f16 from safetensors (bf16
//! is half the memory of f32), or a GGUF file's quantized blocks, so `acdp train` runs on the
//! file most people who run small models hold (QLoRA-style: the quantized weights frozen as
//! they are). Products convert it to f32 a block of rows at a time, so the f32 copy that
//! exists at any moment is at most [`FROZEN_CHUNK_ELEMS`] values, even for the 151936-row tied
//! lm_head, and the conversion runs on every core.
//!
//! [`FrozenMatmul`] is the product as a custom op whose backward returns the input gradient
//! only: candle's matmul backward would also compute a weight-sized gradient for every frozen
//! matrix (the known trap that makes LoRA training cost as much memory as full fine-tuning),
//! and quantized blocks have no gradient at all.

use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Storage, Tensor};

/// A frozen `[out, in]` matrix.
#[derive(Clone, Debug)]
pub enum FrozenWeight {
    /// A float tensor (f32, bf16 or f16).
    Dense(Tensor),
    /// GGUF blocks, converted to f32 a block of rows at a time and never whole.
    Quantized(Arc<QTensor>),
}

/// At most this many weight values are converted to f32 at once by a product on the CPU
/// (16 MiB): a Qwen2.5-0.5B attention projection, half an MLP one, or 4681 rows of its
/// 151936-row lm_head. A GPU converts the whole matrix at once (its dequantization has no
/// row ranges, and one call per block would convert it whole every time).
pub const FROZEN_CHUNK_ELEMS: usize = 1 << 22;

impl FrozenWeight {
    /// `(out, in)`.
    pub fn dims(&self) -> (usize, usize) {
        let dims = match self {
            FrozenWeight::Dense(tensor) => tensor.dims(),
            FrozenWeight::Quantized(blocks) => blocks.shape().dims(),
        };
        match dims {
            [out_dim, in_dim] => (*out_dim, *in_dim),
            _ => (0, 0),
        }
    }

    /// The float dtype of a dense matrix; `None` for quantized blocks.
    pub fn dense_dtype(&self) -> Option<DType> {
        match self {
            FrozenWeight::Dense(tensor) => Some(tensor.dtype()),
            FrozenWeight::Quantized(_) => None,
        }
    }

    /// Rows `start..start + len` as f32 `[len, in]` on `device`.
    pub fn rows_f32(
        &self,
        start: usize,
        len: usize,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        match self {
            FrozenWeight::Dense(tensor) => dense_to_f32(&tensor.narrow(0, start, len)?),
            FrozenWeight::Quantized(blocks) => {
                super::dequantize::rows_tensor(blocks, start, len, device)
            }
        }
    }

    /// The whole matrix as f32 (merging an adapter, tests).
    pub fn to_f32(&self, device: &Device) -> candle_core::Result<Tensor> {
        let (out_dim, _) = self.dims();
        self.rows_f32(0, out_dim, device)
    }

    /// The rows `ids` as f32 `[ids.len(), in]` (an embedding lookup): only these rows are
    /// converted.
    pub fn gather_f32(&self, ids: &[u32], device: &Device) -> candle_core::Result<Tensor> {
        match self {
            FrozenWeight::Dense(tensor) => {
                let ids = Tensor::new(ids, tensor.device())?;
                tensor.index_select(&ids, 0)?.to_dtype(DType::F32)
            }
            FrozenWeight::Quantized(blocks) => blocks.embedding(&Tensor::new(ids, device)?),
        }
    }

    /// Rows of this matrix converted per block of [`FROZEN_CHUNK_ELEMS`] values; a dense
    /// matrix already in `dtype` is one block, used as it is.
    fn blocks(&self, dtype: DType, device: &Device) -> BlockIter<'_> {
        let (out_dim, in_dim) = self.dims();
        let whole =
            !device.is_cpu() || matches!(self, FrozenWeight::Dense(t) if t.dtype() == dtype);
        let rows = if whole {
            out_dim
        } else {
            (FROZEN_CHUNK_ELEMS / in_dim.max(1)).clamp(1, out_dim.max(1))
        };
        BlockIter {
            weight: self,
            dtype,
            device: device.clone(),
            rows,
            next: 0,
            out_dim,
        }
    }

    /// `x [n, in] Wᵀ -> [n, out]`, in `x`'s dtype.
    pub fn product(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut parts = Vec::new();
        for block in self.blocks(x.dtype(), x.device()) {
            let (_, block) = block?;
            parts.push(x.matmul(&block.t()?)?);
        }
        match parts.len() {
            1 => Ok(parts.remove(0)),
            _ => Tensor::cat(&parts, 1),
        }
    }

    /// `grad [n, out] W -> [n, in]`: the input gradient of [`FrozenWeight::product`].
    pub fn product_backward(&self, grad: &Tensor) -> candle_core::Result<Tensor> {
        let mut sum: Option<Tensor> = None;
        for block in self.blocks(grad.dtype(), grad.device()) {
            let (start, block) = block?;
            let len = block.dims()[0];
            let part = if len == grad.dims()[1] {
                grad.matmul(&block)?
            } else {
                grad.narrow(1, start, len)?.contiguous()?.matmul(&block)?
            };
            sum = Some(match sum {
                Some(acc) => (acc + part)?,
                None => part,
            });
        }
        match sum {
            Some(sum) => Ok(sum),
            None => candle_core::bail!("frozen matrix without rows"),
        }
    }
}

/// Consecutive row blocks `(first row, [rows, in] in dtype)` of a [`FrozenWeight`].
struct BlockIter<'a> {
    weight: &'a FrozenWeight,
    dtype: DType,
    device: Device,
    rows: usize,
    next: usize,
    out_dim: usize,
}

impl Iterator for BlockIter<'_> {
    type Item = candle_core::Result<(usize, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.out_dim {
            return None;
        }
        let start = self.next;
        let len = self.rows.min(self.out_dim - start);
        self.next += len;
        let block = match self.weight {
            FrozenWeight::Dense(tensor) if tensor.dtype() == self.dtype => {
                tensor.narrow(0, start, len)
            }
            weight => weight
                .rows_f32(start, len, &self.device)
                .and_then(|rows| rows.to_dtype(self.dtype)),
        };
        Some(block.map(|block| (start, block)))
    }
}

/// A dense float tensor as f32; bf16 and f16 on the CPU are converted on every core (candle's
/// `to_dtype` uses one, and this conversion ran in every product of a training step).
fn dense_to_f32(tensor: &Tensor) -> candle_core::Result<Tensor> {
    use half::slice::HalfFloatSliceExt;
    use rayon::prelude::*;
    if !tensor.device().is_cpu() || !matches!(tensor.dtype(), DType::BF16 | DType::F16) {
        return tensor.to_dtype(DType::F32);
    }
    let tensor = tensor.contiguous()?;
    let (storage, layout) = tensor.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else {
        return tensor.to_dtype(DType::F32);
    };
    let mut values = vec![0f32; end - start];
    const PER_TASK: usize = 1 << 14;
    match &*storage {
        Storage::Cpu(CpuStorage::BF16(source)) => values
            .par_chunks_mut(PER_TASK)
            .zip(source[start..end].par_chunks(PER_TASK))
            .for_each(|(out, source)| source.convert_to_f32_slice(out)),
        Storage::Cpu(CpuStorage::F16(source)) => values
            .par_chunks_mut(PER_TASK)
            .zip(source[start..end].par_chunks(PER_TASK))
            .for_each(|(out, source)| source.convert_to_f32_slice(out)),
        _ => return tensor.to_dtype(DType::F32),
    }
    Tensor::from_vec(values, tensor.shape(), tensor.device())
}

/// `x [n, in] -> x Wᵀ [n, out]` for a frozen `W`: the backward gives `grad W` to `x` and
/// nothing to `W`.
pub struct FrozenMatmul {
    pub weight: FrozenWeight,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = match (storage, layout.contiguous_offsets()) {
            (CpuStorage::F32(values), Some((start, end))) => {
                Tensor::from_slice(&values[start..end], layout.shape(), &Device::Cpu)?
            }
            _ => candle_core::bail!("frozen-matmul expects a contiguous f32 input"),
        };
        let y = self.weight.product(&x)?.contiguous()?;
        let shape = y.shape().clone();
        let (storage, layout) = y.storage_and_layout();
        match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) => {
                Ok((CpuStorage::F32(values[start..end].to_vec()), shape))
            }
            _ => candle_core::bail!("frozen-matmul produced a non-f32 result"),
        }
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(self.weight.product_backward(grad_res)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SplitMix64;
    use candle_core::quantized::GgmlDType;

    fn diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    fn random(shape: (usize, usize), rng: &mut SplitMix64) -> Tensor {
        let values: Vec<f32> = (0..shape.0 * shape.1).map(|_| rng.uniform(1.0)).collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    /// A bf16 or quantized weight larger than one conversion block is multiplied block by
    /// block; the product and the input gradient equal those of the whole matrix converted at
    /// once, and an embedding lookup gives the converted rows.
    #[test]
    fn products_in_blocks_equal_the_whole_product() {
        let mut rng = SplitMix64::new(1);
        let (out_dim, in_dim) = (FROZEN_CHUNK_ELEMS / 64 + 5, 64);
        let values = random((out_dim, in_dim), &mut rng);
        let weights = [
            FrozenWeight::Dense(values.to_dtype(DType::BF16).unwrap()),
            FrozenWeight::Quantized(Arc::new(
                QTensor::quantize(&values, GgmlDType::Q8_0).unwrap(),
            )),
        ];
        let x = random((3, in_dim), &mut rng);
        let g = random((3, out_dim), &mut rng);
        for weight in weights {
            let whole = weight.to_f32(&Device::Cpu).unwrap();
            assert_eq!(whole.dims(), [out_dim, in_dim]);
            let y = weight.product(&x).unwrap();
            assert_eq!(y.dims(), [3, out_dim]);
            assert!(diff(&y, &x.matmul(&whole.t().unwrap()).unwrap()) < 1e-4);
            let back = weight.product_backward(&g).unwrap();
            // Sums of 65541 products of values below 1: compare relative to their size.
            let expected = g.matmul(&whole).unwrap();
            let scale = expected
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff(&back, &expected) < 1e-4 * scale.max(1.0));
            let ids = [7u32, 0, out_dim as u32 - 1];
            let gathered = weight.gather_f32(&ids, &Device::Cpu).unwrap();
            let index = Tensor::new(&ids, &Device::Cpu).unwrap();
            assert_eq!(
                diff(&gathered, &whole.index_select(&index, 0).unwrap()),
                0.0
            );
        }
    }

    /// The parallel bf16 conversion gives candle's `to_dtype`, bit for bit.
    #[test]
    fn parallel_bf16_conversion_equals_candles() {
        let mut rng = SplitMix64::new(2);
        let bf16 = random((300, 257), &mut rng).to_dtype(DType::BF16).unwrap();
        let ours = dense_to_f32(&bf16.narrow(0, 3, 290).unwrap()).unwrap();
        let theirs = bf16
            .narrow(0, 3, 290)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        assert_eq!(diff(&ours, &theirs), 0.0);
    }
}
