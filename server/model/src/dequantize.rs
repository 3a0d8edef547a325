//! GGUF blocks to f32 on every core: a slice of a matrix's rows, or all of them.
//!
//! candle's `QTensor::dequantize` converts a whole matrix on one core. Training on a GGUF base
//! needs a block of rows at a time (the 151936-row lm_head of Qwen2.5 is 544 MB as f32), and
//! both training and long prompts want every core. The conversion itself is candle's
//! (`GgmlType::to_float`), so the values are bit for bit those of `dequantize`.

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K,
    BlockQ8_0,
};
use candle_core::quantized::{GgmlDType, GgmlType, QTensor};
use candle_core::{Device, Tensor};
use half::{bf16, f16};

/// Rows `start..start + rows` of the `[out, in]` matrix `weights` as row-major f32 values.
/// `None` where this module has no case: a type without whole blocks per row, activation-only
/// types (Q8_1, Q8K), or a tensor that is not on the CPU.
pub fn rows_to_f32(weights: &QTensor, start: usize, rows: usize) -> Option<Vec<f32>> {
    let (out_dim, in_dim) = weights.shape().dims2().ok()?;
    if !weights.device().is_cpu() || start + rows > out_dim {
        return None;
    }
    let bytes = weights.data().ok()?;
    let mut values = vec![0f32; rows * in_dim];
    let converted = match weights.dtype() {
        GgmlDType::F32 => rows_of::<f32>(&bytes, in_dim, start, &mut values),
        GgmlDType::F16 => rows_of::<f16>(&bytes, in_dim, start, &mut values),
        GgmlDType::BF16 => rows_of::<bf16>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q4_0 => rows_of::<BlockQ4_0>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q4_1 => rows_of::<BlockQ4_1>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q5_0 => rows_of::<BlockQ5_0>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q5_1 => rows_of::<BlockQ5_1>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q8_0 => rows_of::<BlockQ8_0>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q2K => rows_of::<BlockQ2K>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q3K => rows_of::<BlockQ3K>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q4K => rows_of::<BlockQ4K>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q5K => rows_of::<BlockQ5K>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q6K => rows_of::<BlockQ6K>(&bytes, in_dim, start, &mut values),
        GgmlDType::Q8_1 | GgmlDType::Q8K => false,
    };
    converted.then_some(values)
}

/// Rows `start..start + rows` of `weights` as an f32 tensor `[rows, in]` on `device`; candle's
/// `dequantize` of the whole matrix, narrowed, where [`rows_to_f32`] has no case.
pub fn rows_tensor(
    weights: &QTensor,
    start: usize,
    rows: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let (out_dim, in_dim) = weights.shape().dims2()?;
    if device.is_cpu()
        && let Some(values) = rows_to_f32(weights, start, rows)
    {
        return Tensor::from_vec(values, (rows, in_dim), device);
    }
    let whole = weights.dequantize(device)?;
    if start == 0 && rows == out_dim {
        Ok(whole)
    } else {
        whole.narrow(0, start, rows)?.contiguous()
    }
}

/// The whole matrix as f32, on every core (see [`rows_tensor`]).
pub fn dequantize_on_all_cores(weights: &QTensor, device: &Device) -> candle_core::Result<Tensor> {
    let rows = weights.shape().dims().first().copied().unwrap_or(0);
    if weights.shape().rank() != 2 {
        return weights.dequantize(device);
    }
    rows_tensor(weights, 0, rows, device)
}

/// Converts the rows from `start` of a matrix of `T` blocks with `in_dim` values per row into
/// `out` (whose length says how many rows), in parallel; false (nothing written) unless every
/// row is whole blocks and the bytes hold those rows as aligned `T`s.
fn rows_of<T: GgmlType>(bytes: &[u8], in_dim: usize, start: usize, out: &mut [f32]) -> bool {
    use rayon::prelude::*;
    let size = std::mem::size_of::<T>();
    if in_dim == 0 || !in_dim.is_multiple_of(T::BLCK_SIZE) {
        return false;
    }
    let row_bytes = in_dim / T::BLCK_SIZE * size;
    let rows = out.len() / in_dim;
    let Some(bytes) = bytes.get(start * row_bytes..(start + rows) * row_bytes) else {
        return false;
    };
    if bytes.as_ptr().align_offset(std::mem::align_of::<T>()) != 0 {
        return false;
    }
    // SAFETY: `QTensor::data` of a CPU tensor borrows candle's `Vec<T>` of `#[repr(C)]` blocks
    // (or plain floats); the slice starts at a whole block (`row_bytes` is a multiple of
    // `size`), its alignment was checked above, and every bit pattern is a valid block.
    let blocks: &[T] =
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) };
    const BLOCKS_PER_TASK: usize = 256;
    out.par_chunks_mut(BLOCKS_PER_TASK * T::BLCK_SIZE)
        .zip(blocks.par_chunks(BLOCKS_PER_TASK))
        .for_each(|(values, blocks)| T::to_float(blocks, values));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Tensor {
        let values: Vec<f32> = (0..64 * 1024)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i % 13) as f32))
            .collect();
        Tensor::from_vec(values, (64, 1024), &Device::Cpu).unwrap()
    }

    const TYPES: [GgmlDType; 13] = [
        GgmlDType::F32,
        GgmlDType::F16,
        GgmlDType::BF16,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q2K,
        GgmlDType::Q3K,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ];

    /// The parallel conversion gives candle's `dequantize`, bit for bit, for every type it
    /// handles, whole (rows spanning several parallel tasks) and for a slice of rows.
    #[test]
    fn rows_equal_candles_dequantization() {
        let tensor = matrix();
        for dtype in TYPES {
            let q = QTensor::quantize(&tensor, dtype).unwrap();
            let expected = q.dequantize(&Device::Cpu).unwrap();
            let whole: Vec<f32> = dequantize_on_all_cores(&q, &Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(
                whole,
                expected.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                "{dtype:?}"
            );
            let slice = rows_to_f32(&q, 5, 7).unwrap_or_else(|| panic!("{dtype:?} handled"));
            let narrowed: Vec<f32> = expected
                .narrow(0, 5, 7)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(slice, narrowed, "{dtype:?} rows 5..12");
        }
    }

    #[test]
    fn rows_past_the_end_are_refused() {
        let q = QTensor::quantize(&matrix(), GgmlDType::Q8_0).unwrap();
        assert!(rows_to_f32(&q, 60, 5).is_none());
        assert!(rows_to_f32(&q, 60, 4).is_some());
    }
}
