//! Q5_0 weights with an AVX2 dot product, inside candle's quantized matmul.
//!
//! llama.cpp's mixed files keep most matrices of small models in Q5_0 (133 of the 170 in
//! Qwen2.5-Coder-0.5B Q4_K_M), and candle 0.11 has only a scalar loop for Q5_0 · Q8_0. Reading
//! them as Q8_0 (`gguf_q8.rs`) reaches candle's SIMD kernel but reads 34 bytes per 32 weights
//! instead of 22, and generation is bound by those reads. [`Q5_0Block`] has candle's `BlockQ5_0`
//! layout and implements candle's `GgmlType` with the dot product of ggml's AVX2 kernel
//! (`ggml_vec_dot_q5_0_q8_0`), so candle's matmul (its thread pool, its Q8_0 activations) runs
//! it unchanged: [`with_simd_kernel`] moves a Q5_0 tensor's blocks into such storage when the
//! CPU has AVX2 and FMA.

use candle_core::quantized::k_quants::{BlockQ5_0, BlockQ8_0};
use candle_core::quantized::{GgmlDType, GgmlType, QStorage, QTensor};
use half::f16;

/// One Q5_0 block, laid out as candle's `BlockQ5_0` and ggml's `block_q5_0`: the scale, the
/// fifth bits of the 32 weights, and their low nibbles (weight `j` in the low nibble of byte
/// `j`, weight `j + 16` in its high nibble).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Q5_0Block {
    d: f16,
    qh: [u8; 4],
    qs: [u8; 16],
}

/// candle's `BlockQ8_0` layout (its fields are crate-private): the scale and 32 weights.
#[repr(C)]
struct Q8_0Layout {
    d: f16,
    qs: [i8; 32],
}

const _: () = assert!(std::mem::size_of::<Q5_0Block>() == std::mem::size_of::<BlockQ5_0>());
const _: () = assert!(std::mem::align_of::<Q5_0Block>() == std::mem::align_of::<BlockQ5_0>());
const _: () = assert!(std::mem::size_of::<Q8_0Layout>() == std::mem::size_of::<BlockQ8_0>());
const _: () = assert!(std::mem::align_of::<Q8_0Layout>() == std::mem::align_of::<BlockQ8_0>());

/// Whether this CPU runs [`Q5_0Block`]'s SIMD dot product.
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `weights` with its Q5_0 blocks in [`Q5_0Block`] storage when the CPU has the SIMD kernel;
/// any other tensor (another type, a GPU tensor, a CPU without AVX2) as it is.
pub fn with_simd_kernel(weights: QTensor) -> candle_core::Result<QTensor> {
    if weights.dtype() != GgmlDType::Q5_0 || !weights.device().is_cpu() || !simd_available() {
        return Ok(weights);
    }
    let bytes = weights.data()?;
    let size = std::mem::size_of::<Q5_0Block>();
    if !bytes.len().is_multiple_of(size) {
        candle_core::bail!("Q5_0 storage of {} bytes is not whole blocks", bytes.len());
    }
    let blocks: Vec<Q5_0Block> = bytes
        .chunks_exact(size)
        .map(|b| Q5_0Block {
            d: f16::from_le_bytes([b[0], b[1]]),
            qh: [b[2], b[3], b[4], b[5]],
            qs: b[6..22].try_into().expect("16 bytes"),
        })
        .collect();
    let shape = weights.shape().clone();
    drop(bytes);
    QTensor::new(QStorage::Cpu(Box::new(blocks)), shape)
}

/// The same blocks as candle's type (identical layout, asserted above).
fn as_candle(xs: &[Q5_0Block]) -> &[BlockQ5_0] {
    // SAFETY: same size and alignment, both `#[repr(C)]` with the same fields in order.
    unsafe { std::slice::from_raw_parts(xs.as_ptr().cast(), xs.len()) }
}

fn as_candle_mut(xs: &mut [Q5_0Block]) -> &mut [BlockQ5_0] {
    // SAFETY: as in `as_candle`.
    unsafe { std::slice::from_raw_parts_mut(xs.as_mut_ptr().cast(), xs.len()) }
}

fn q8_layout(ys: &[BlockQ8_0]) -> &[Q8_0Layout] {
    // SAFETY: candle's `BlockQ8_0` is `#[repr(C)] { d: f16, qs: [i8; 32] }` (size and alignment
    // asserted above); only reads are made through the view.
    unsafe { std::slice::from_raw_parts(ys.as_ptr().cast(), ys.len()) }
}

impl GgmlType for Q5_0Block {
    const DTYPE: GgmlDType = GgmlDType::Q5_0;
    const BLCK_SIZE: usize = 32;
    type VecDotType = BlockQ8_0;

    fn to_float(xs: &[Self], ys: &mut [f32]) {
        BlockQ5_0::to_float(as_candle(xs), ys)
    }

    fn from_float(xs: &[f32], ys: &mut [Self]) {
        BlockQ5_0::from_float(xs, as_candle_mut(ys))
    }

    fn vec_dot(n: usize, xs: &[Self], ys: &[Self::VecDotType]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2::dot(xs, q8_layout(ys)) };
        }
        Self::vec_dot_unopt(n, xs, ys)
    }

    fn vec_dot_unopt(n: usize, xs: &[Self], ys: &[Self::VecDotType]) -> f32 {
        BlockQ5_0::vec_dot_unopt(n, as_candle(xs), ys)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Q5_0Block, Q8_0Layout};

    /// `Σ d_x d_y Σ_j x_j y_j` over the blocks, as ggml's `ggml_vec_dot_q5_0_q8_0` (AVX2).
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot(xs: &[Q5_0Block], ys: &[Q8_0Layout]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (x, y) in xs.iter().zip(ys) {
            let d = _mm256_set1_ps(x.d.to_f32() * y.d.to_f32());
            // SAFETY: `qs` holds 16 bytes, `y.qs` 32; unaligned loads.
            let (nibbles, by) = unsafe {
                (
                    _mm_loadu_si128(x.qs.as_ptr().cast()),
                    _mm256_loadu_si256(y.qs.as_ptr().cast()),
                )
            };
            // Weights 0..16 from the low nibbles, 16..32 from the high ones: 0..=15 each.
            let bx = _mm256_and_si256(
                _mm256_set_m128i(_mm_srli_epi16(nibbles, 4), nibbles),
                _mm256_set1_epi8(0x0F),
            );
            // A weight whose fifth bit is clear is its nibble minus 16: as an i8, the nibble
            // with 0xF0 set.
            let high = bytes_from_bits(u32::from_le_bytes(x.qh));
            let bx = _mm256_or_si256(bx, _mm256_andnot_si256(high, _mm256_set1_epi8(-16)));
            // i8 x i8 through maddubs (u8 x i8): move x's sign onto y.
            let ax = _mm256_sign_epi8(bx, bx);
            let sy = _mm256_sign_epi8(by, bx);
            let pairs = _mm256_maddubs_epi16(ax, sy);
            let sums = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sums), acc);
        }
        horizontal_sum(acc)
    }

    /// 0xFF in byte `j` where bit `j` of `bits` is set, 0 elsewhere.
    #[target_feature(enable = "avx2")]
    fn bytes_from_bits(bits: u32) -> __m256i {
        let shuffle = _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuffle);
        let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }

    #[target_feature(enable = "avx2")]
    fn horizontal_sum(x: __m256) -> f32 {
        let sum = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
        let sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
        let sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
        _mm_cvtss_f32(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::SplitMix64::new(seed);
        (0..n).map(|_| rng.uniform(2.0)).collect()
    }

    /// The SIMD dot product equals candle's scalar loop on the same blocks (to float rounding:
    /// both sum exact integers per block, in a different order across blocks).
    #[test]
    fn simd_dot_equals_candles_scalar_dot() {
        if !simd_available() {
            eprintln!("no AVX2/FMA here: the scalar loop is used, nothing to compare");
            return;
        }
        for blocks in [1, 2, 7, 28, 152] {
            let n = blocks * 32;
            let mut xs = vec![
                Q5_0Block {
                    d: f16::ZERO,
                    qh: [0; 4],
                    qs: [0; 16]
                };
                blocks
            ];
            Q5_0Block::from_float(&values(n, blocks as u64), &mut xs);
            let mut ys = vec![BlockQ8_0::zeros(); blocks];
            BlockQ8_0::from_float(&values(n, 99 + blocks as u64), &mut ys);
            let simd = Q5_0Block::vec_dot(n, &xs, &ys);
            let scalar = BlockQ5_0::vec_dot_unopt(n, as_candle(&xs), &ys);
            assert!(
                (simd - scalar).abs() <= 1e-5 * scalar.abs().max(1.0),
                "{blocks} blocks: {simd} against {scalar}"
            );
        }
    }

    /// A matrix product through candle's quantized matmul with the moved blocks equals the
    /// product with candle's own Q5_0 storage, and the blocks dequantize to the same values.
    #[test]
    fn moved_blocks_multiply_as_candles() {
        let weights = Tensor::from_vec(values(96 * 256, 5), (96, 256), &Device::Cpu).unwrap();
        let candle = QTensor::quantize(&weights, GgmlDType::Q5_0).unwrap();
        let ours = with_simd_kernel(QTensor::quantize(&weights, GgmlDType::Q5_0).unwrap()).unwrap();
        assert_eq!(ours.dtype(), GgmlDType::Q5_0);
        assert_eq!(candle.data().unwrap(), ours.data().unwrap(), "same bytes");
        let x = Tensor::from_vec(values(3 * 256, 6), (3, 256), &Device::Cpu).unwrap();
        let product = |q: QTensor| {
            let matmul = candle_core::quantized::QMatMul::from_qtensor(q).unwrap();
            candle_core::Module::forward(&matmul, &x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (a, b) = (product(candle), product(ours));
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(worst <= 1e-5 * scale, "differ by {worst} (scale {scale})");
    }
}
