//! Prompt products on Q8_0 weights in 8-bit integers (AVX-512 VNNI), as llama.cpp runs them.
//!
//! A prompt's products are compute-bound. The f32 GEMM over weights dequantized for the call
//! (`quantized_qwen2.rs`) runs near the f32 peak of the cores and still reached only two thirds
//! of llama.cpp's prompt speed, which multiplies in int8: one VNNI instruction (`vpdpbusd`)
//! does 64 multiply-adds of bytes where an f32 FMA does 16. Here the activations are quantized
//! per block of 32 to Q8_0 (a scale and 32 integers, as ggml does) and multiplied with the
//! weight blocks as they are in the file (Q5_0 reaches here as Q8_0, `gguf_q8.rs`): each block
//! pair gives an exact integer dot product, scaled by the two blocks' scales into f32 sums.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes, so activations are stored offset by 128; the
//! offset's share, `128 · Σ w` per weight block, starts the integer sum negated, so each
//! block's dot product comes out exact. Both operands are packed into tiles of 4 rows whose
//! data the kernel reads in order (two blocks per 512-bit register, their sums landing in
//! lanes 0-7 and 8-15), and a tile of 4 by 4 dot products stays in registers. Tasks own
//! disjoint weight rows.

use half::f16;

/// Bytes of one Q8_0 block: an f16 scale and 32 signed weights.
const BLOCK_BYTES: usize = 34;
const BLOCK: usize = 32;
/// Rows per tile, of activations and of weights.
const TILE: usize = 4;

/// Whether this CPU has the instructions of [`matmul_q8_0`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vnni")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One block of 32 activations or weights quantized: its scale and values.
fn quantize_block(values: &[f32], codes: &mut [u8]) -> f32 {
    let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
    for (code, value) in codes.iter_mut().zip(values) {
        *code = ((value * inverse).round() as i32 + 128) as u8;
    }
    d
}

/// Activations in tiles of [`TILE`] rows: per tile and pair of blocks, each row's 64 offset
/// codes (`q + 128`), then each row's 16 lane scales (the first block's scale in lanes 0-7,
/// the second's in 8-15). Rows and blocks past the end are padding: code 128, scale 0.
struct PackedRows {
    codes: Vec<u8>,
    scales: Vec<f32>,
    pairs: usize,
    tiles: usize,
}

/// Quantizes `x [m, k]` (k a multiple of 32) into [`PackedRows`], a tile per parallel task.
fn pack_rows(x: &[f32], m: usize, k: usize) -> PackedRows {
    use rayon::prelude::*;
    let blocks = k / BLOCK;
    let pairs = blocks.div_ceil(2);
    let tiles = m.div_ceil(TILE);
    let tile_codes = pairs * TILE * 2 * BLOCK;
    let tile_scales = pairs * TILE * 16;
    let mut codes = vec![128u8; tiles * tile_codes];
    let mut scales = vec![0f32; tiles * tile_scales];
    codes
        .par_chunks_mut(tile_codes)
        .zip(scales.par_chunks_mut(tile_scales))
        .enumerate()
        .for_each(|(tile, (codes, scales))| {
            for i in 0..TILE.min(m - tile * TILE) {
                let row = &x[(tile * TILE + i) * k..][..k];
                for (b, values) in row.chunks_exact(BLOCK).enumerate() {
                    let (pair, half) = (b / 2, b % 2);
                    let at = (pair * TILE + i) * 2 * BLOCK + half * BLOCK;
                    let d = quantize_block(values, &mut codes[at..at + BLOCK]);
                    let lanes = (pair * TILE + i) * 16 + half * 8;
                    scales[lanes..lanes + 8].fill(d);
                }
            }
        });
    PackedRows {
        codes,
        scales,
        pairs,
        tiles,
    }
}

/// Bytes per pair of blocks of one weight row in [`pack_weights`]' layout: 64 weights, the
/// negated offsets (16 i32: `-128 · Σ w` of each block in lanes 0 and 8), 16 lane scales.
const WEIGHT_PAIR_BYTES: usize = 64 + 64 + 64;

/// Weight rows in tiles of [`TILE`] rows, per tile and pair of blocks each row's
/// `WEIGHT_PAIR_BYTES`; rows and blocks past the end are zeros (no contribution).
fn pack_weights(bytes: &[u8], rows: usize, blocks: usize) -> Vec<u8> {
    let pairs = blocks.div_ceil(2);
    let tiles = rows.div_ceil(TILE);
    let mut packed = vec![0u8; tiles * pairs * TILE * WEIGHT_PAIR_BYTES];
    for (index, block) in bytes.chunks_exact(BLOCK_BYTES).enumerate() {
        let (row, b) = (index / blocks, index % blocks);
        let (tile, i, pair, half) = (row / TILE, row % TILE, b / 2, b % 2);
        let at = ((tile * pairs + pair) * TILE + i) * WEIGHT_PAIR_BYTES;
        let entry = &mut packed[at..at + WEIGHT_PAIR_BYTES];
        entry[half * BLOCK..(half + 1) * BLOCK].copy_from_slice(&block[2..]);
        let sum: i32 = block[2..].iter().map(|&w| w as i8 as i32).sum();
        let lane = 64 + half * 32;
        entry[lane..lane + 4].copy_from_slice(&(-128 * sum).to_le_bytes());
        let d = f16::from_le_bytes([block[0], block[1]])
            .to_f32()
            .to_le_bytes();
        for l in 0..8 {
            let at = 128 + (half * 8 + l) * 4;
            entry[at..at + 4].copy_from_slice(&d);
        }
    }
    packed
}

/// `x [m, k] · Wᵀ -> [m, n]` for a Q8_0 matrix `W [n, k]` given as its blocks' bytes; `None`
/// when the CPU lacks the instructions or the shapes are not whole blocks.
pub fn matmul_q8_0(x: &[f32], m: usize, k: usize, weights: &[u8], n: usize) -> Option<Vec<f32>> {
    if !available()
        || m == 0
        || k == 0
        || !k.is_multiple_of(BLOCK)
        || x.len() != m * k
        || weights.len() != n * (k / BLOCK) * BLOCK_BYTES
    {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        Some(product(x, m, k, weights, n))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Weight rows per parallel task (a multiple of [`TILE`]): enough work to amortise the task,
/// few enough for both cores to get an even share of a 128-row projection.
#[cfg(target_arch = "x86_64")]
const ROWS_PER_TASK: usize = 32;

#[cfg(target_arch = "x86_64")]
fn product(x: &[f32], m: usize, k: usize, weights: &[u8], n: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let rows = pack_rows(x, m, k);
    let blocks = k / BLOCK;
    // Yᵀ [n, m]: each task owns whole rows of it (weight rows), so no two write the same value.
    let mut transposed = vec![0f32; n * m];
    transposed
        .par_chunks_mut(ROWS_PER_TASK * m)
        .enumerate()
        .for_each(|(task, out)| {
            let first = task * ROWS_PER_TASK;
            let count = out.len() / m;
            let bytes = &weights[first * blocks * BLOCK_BYTES..][..count * blocks * BLOCK_BYTES];
            let packed = pack_weights(bytes, count, blocks);
            for (w_tile, tile_weights) in packed
                .chunks_exact(rows.pairs * TILE * WEIGHT_PAIR_BYTES)
                .enumerate()
            {
                for x_tile in 0..rows.tiles {
                    // SAFETY: `available()` checked AVX-512 F/VNNI/VL, AVX2 and FMA.
                    let dots = unsafe { vnni::tile(&rows, x_tile, tile_weights) };
                    for (j, row) in dots.iter().enumerate() {
                        let weight_row = w_tile * TILE + j;
                        if weight_row >= count {
                            break;
                        }
                        for (i, &value) in row.iter().enumerate() {
                            let activation_row = x_tile * TILE + i;
                            if activation_row < m {
                                out[weight_row * m + activation_row] = value;
                            }
                        }
                    }
                }
            }
        });
    let mut y = vec![0f32; m * n];
    for (j, column) in transposed.chunks_exact(m).enumerate() {
        for (i, &value) in column.iter().enumerate() {
            y[i * n + j] = value;
        }
    }
    y
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{BLOCK, PackedRows, TILE, WEIGHT_PAIR_BYTES};

    /// The 4 x 4 dot products `[weight row][activation row]` of activation tile `x_tile`
    /// against one packed weight tile, every block.
    #[target_feature(enable = "avx512f,avx512vnni,avx512vl,avx2,fma")]
    pub(super) fn tile(rows: &PackedRows, x_tile: usize, weights: &[u8]) -> [[f32; TILE]; TILE] {
        let pairs = rows.pairs;
        let codes = &rows.codes[x_tile * pairs * TILE * 2 * BLOCK..][..pairs * TILE * 2 * BLOCK];
        let scales = &rows.scales[x_tile * pairs * TILE * 16..][..pairs * TILE * 16];
        assert_eq!(weights.len(), pairs * TILE * WEIGHT_PAIR_BYTES);
        let mut acc = [[_mm512_setzero_ps(); TILE]; TILE];
        let (mut x, mut xs, mut w) = (codes.as_ptr(), scales.as_ptr(), weights.as_ptr());
        for _ in 0..pairs {
            // SAFETY: each pair reads TILE * 64 codes, TILE * 16 scales and
            // TILE * WEIGHT_PAIR_BYTES weight bytes, exactly the lengths asserted above over
            // `pairs` steps; unaligned loads.
            unsafe {
                let mut a = [_mm512_setzero_si512(); TILE];
                let mut da = [_mm512_setzero_ps(); TILE];
                for i in 0..TILE {
                    a[i] = _mm512_loadu_si512(x.add(i * 64).cast());
                    da[i] = _mm512_loadu_ps(xs.add(i * 16));
                }
                for (j, acc_j) in acc.iter_mut().enumerate() {
                    let entry = w.add(j * WEIGHT_PAIR_BYTES);
                    let values = _mm512_loadu_si512(entry.cast());
                    let start = _mm512_loadu_si512(entry.add(64).cast());
                    let dw = _mm512_loadu_ps(entry.add(128).cast());
                    for i in 0..TILE {
                        let dot = _mm512_dpbusd_epi32(start, a[i], values);
                        acc_j[i] = _mm512_fmadd_ps(
                            _mm512_cvtepi32_ps(dot),
                            _mm512_mul_ps(da[i], dw),
                            acc_j[i],
                        );
                    }
                }
                x = x.add(TILE * 64);
                xs = xs.add(TILE * 16);
                w = w.add(TILE * WEIGHT_PAIR_BYTES);
            }
        }
        let mut dots = [[0f32; TILE]; TILE];
        for (dots_j, acc_j) in dots.iter_mut().zip(&acc) {
            for (dot, acc) in dots_j.iter_mut().zip(acc_j) {
                *dot = _mm512_reduce_add_ps(*acc);
            }
        }
        dots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::SplitMix64::new(seed);
        (0..n).map(|_| rng.uniform(2.0)).collect()
    }

    /// The activations as the kernel quantizes them: per row and block, codes and the scale.
    fn quantized(x: &[f32], k: usize) -> Vec<(Vec<u8>, f32)> {
        x.chunks_exact(BLOCK)
            .map(|values| {
                let mut codes = vec![0u8; BLOCK];
                let d = quantize_block(values, &mut codes);
                (codes, d)
            })
            .collect::<Vec<_>>()
            .chunks(k / BLOCK)
            .flat_map(|row| row.to_vec())
            .collect()
    }

    /// The same arithmetic in plain Rust: quantized activations, exact integer block dots.
    fn reference(x: &[f32], m: usize, k: usize, weights: &[u8], n: usize) -> Vec<f32> {
        let blocks = k / BLOCK;
        let rows = quantized(x, k);
        let mut y = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut sum = 0f32;
                for b in 0..blocks {
                    let w = &weights[(j * blocks + b) * BLOCK_BYTES..][..BLOCK_BYTES];
                    let dw = f16::from_le_bytes([w[0], w[1]]).to_f32();
                    let (codes, dx) = &rows[i * blocks + b];
                    let dot: i32 = codes
                        .iter()
                        .zip(&w[2..])
                        .map(|(&c, &w)| (c as i32 - 128) * (w as i8 as i32))
                        .sum();
                    sum += dx * dw * dot as f32;
                }
                y[i * n + j] = sum;
            }
        }
        y
    }

    /// Tiles and their edges (rows and weight rows not multiples of 4, an odd number of
    /// blocks, several tasks): the kernel gives the plain arithmetic's values, and the f32
    /// product within the activations' 8-bit rounding.
    #[test]
    fn int8_products_equal_the_plain_arithmetic() {
        if !available() {
            eprintln!("no AVX-512 VNNI here: the f32 GEMM is used, nothing to compare");
            return;
        }
        for (m, k, n) in [(1, 32, 1), (5, 96, 7), (16, 256, 70), (23, 896, 131)] {
            let w = Tensor::from_vec(values(n * k, n as u64), (n, k), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
            let bytes = q.data().unwrap().into_owned();
            let x = values(m * k, 7 + m as u64);
            let ours = matmul_q8_0(&x, m, k, &bytes, n).expect("available");
            let plain = reference(&x, m, k, &bytes, n);
            let scale = plain.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (a, b) in ours.iter().zip(&plain) {
                assert!((a - b).abs() <= 1e-5 * scale, "{m}x{k}x{n}: {a} vs {b}");
            }
            let dense = q.dequantize(&Device::Cpu).unwrap();
            let w_dense: Vec<f32> = dense.flatten_all().unwrap().to_vec1().unwrap();
            let rows = quantized(&x, k);
            let xs = Tensor::from_vec(x, (m, k), &Device::Cpu).unwrap();
            let f32_product: Vec<f32> = xs
                .matmul(&dense.t().unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            // Each activation moves by at most half its block's step: bound the sum by that.
            for (at, (a, b)) in ours.iter().zip(&f32_product).enumerate() {
                let (i, j) = (at / n, at % n);
                let bound: f32 = (0..k)
                    .map(|c| rows[i * (k / BLOCK) + c / BLOCK].1 / 2.0 * w_dense[j * k + c].abs())
                    .sum();
                assert!(
                    (a - b).abs() <= bound * 1.01 + 1e-5 * scale,
                    "{m}x{k}x{n}: {a} vs f32 {b} (bound {bound})"
                );
            }
        }
    }

    #[test]
    fn shapes_that_are_not_whole_blocks_are_declined() {
        assert!(matmul_q8_0(&[0.0; 30], 1, 30, &[0; 34], 1).is_none());
        assert!(matmul_q8_0(&[0.0; 32], 1, 32, &[0; 33], 1).is_none());
    }
}
