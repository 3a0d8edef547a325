//! Quantized matrix products in int8 on AVX-512 VNNI, the weights repacked once at load.
//!
//! Why: a 490-token prompt spent 53% of its time in the f32 GEMM over weights dequantized for
//! each call, and that GEMM runs its AVX2 kernel (the `gemm` crate keeps its AVX-512 kernels
//! behind a nightly feature); generation ran candle's per-row dot products, which reduce every
//! 32-weight block horizontally. llama.cpp, the speed to beat, multiplies quantized weights by
//! activations quantized to 8 bits. This module does the same with one layout for every case.
//!
//! Every block type handled here is, per group of 16 or 32 weights, an affine map of small
//! unsigned integers: `w = a·u − b` with `u` in `0..=255` (Q8_0: `u = q + 128`, `b = 128a`;
//! Q5_0: `u = q + 16`, `b = 16a`; Q6_K: groups of 16, `u = q + 32`, `b = 32a`; Q4_K: `u` is
//! the stored nibble, `b` the block's scaled minimum). The `u` of 16 output rows sit side by
//! side, four consecutive inputs per 32-bit lane: the operand layout of VPDPBUSD, so one
//! instruction multiplies 16 rows by 4 inputs of one activation row with no horizontal sums.
//! Activations are quantized as llama.cpp's Q8_0 (`q` in `-127..=127` per 32 inputs, scale
//! `sx = amax / 127`), so over one group `Σ w·x ≈ a·sx·Σ u·q − b·sx·Σ q`.
//!
//! The weights keep their values exactly (`a·u − b` is the GGUF weight); the activations lose
//! what 8 bits lose, as in llama.cpp. The kernel needs AVX-512 F/BW and VNNI at run time;
//! [`PackedInt8Matrix::pack`] answers `None` elsewhere and the caller keeps candle's kernels.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use half::f16;
use rayon::prelude::*;

/// Output rows per tile: one 512-bit register of 32-bit lanes.
const LANES: usize = 16;
/// Inputs per activation scale (llama.cpp's Q8_0 block).
const X_BLOCK: usize = 32;
/// Activation rows and weight tiles one kernel call keeps in registers: 4 × 2 integer and
/// float accumulators, 16 of the 32 vector registers, leaving room for operands.
const ROWS_PER_CALL: usize = 4;
const TILES_PER_CALL: usize = 2;

/// A `[out, in]` matrix as VNNI operands: for each tile of 16 output rows, `in / 4` steps of
/// 64 bytes (`[step][lane][4 inputs]`), and per group of inputs a scale `a` and offset `b` for
/// each of the 16 rows. Rows past `out` (the last tile's padding) are zero.
#[derive(Debug)]
pub struct PackedInt8Matrix {
    out_dim: usize,
    in_dim: usize,
    /// Inputs per scale: 32, or 16 for Q6_K.
    group: usize,
    tiles: usize,
    quants: Vec<u8>,
    /// `[tile][group][lane]`.
    scales: Vec<f32>,
    offsets: Offsets,
}

/// What each group subtracts: `b` of `w = a·u − b`.
#[derive(Debug)]
enum Offsets {
    /// `b = c·a` for one integer `c` (Q8_0: 128, Q5_0: 16, Q6_K: 32), subtracted from the
    /// integer sums: nothing stored, so generation reads 4 bytes fewer per group.
    Uniform(i32),
    /// `[tile][group][lane]`: Q4_K's scaled minimums.
    PerGroup(Vec<f32>),
}

/// Whether this CPU runs the kernel.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PackedInt8Matrix {
    /// `weights` repacked, or `None` where the kernel cannot run it: a CPU without VNNI, a
    /// tensor not on the CPU, not a matrix, or a block type without a case here.
    pub fn pack(weights: &QTensor) -> Option<Self> {
        if !available() {
            return None;
        }
        Self::pack_layout(weights)
    }

    /// The repacking alone, on any CPU (the layout's tests run everywhere).
    fn pack_layout(weights: &QTensor) -> Option<Self> {
        let (out_dim, in_dim) = weights.shape().dims2().ok()?;
        if !weights.device().is_cpu() {
            return None;
        }
        let format = BlockFormat::of(weights.dtype())?;
        if in_dim % format.weights() != 0 || in_dim % X_BLOCK != 0 {
            return None;
        }
        let bytes = weights.data().ok()?;
        let row_bytes = in_dim / format.weights() * format.bytes();
        if bytes.len() != row_bytes * out_dim {
            return None;
        }
        let group = format.group();
        let groups = in_dim / group;
        let tiles = out_dim.div_ceil(LANES);
        let mut quants = vec![0u8; tiles * in_dim * LANES];
        let mut scales = vec![0f32; tiles * groups * LANES];
        // Per tile, the offsets when they are not implied by the scales.
        let tile_offsets: Vec<Vec<f32>> = quants
            .par_chunks_mut(in_dim * LANES)
            .zip(scales.par_chunks_mut(groups * LANES))
            .enumerate()
            .map(|(tile, (tile_quants, tile_scales))| {
                let mut u = vec![0u8; in_dim];
                let mut a = vec![0f32; groups];
                let mut b = vec![0f32; groups];
                let mut tile_offsets = vec![0f32; groups * LANES];
                for lane in 0..LANES {
                    let row = tile * LANES + lane;
                    if row >= out_dim {
                        break;
                    }
                    let row_blocks = &bytes[row * row_bytes..(row + 1) * row_bytes];
                    let per_block = format.weights() / group;
                    for (block, raw) in row_blocks.chunks_exact(format.bytes()).enumerate() {
                        let at = block * format.weights();
                        let g = block * per_block;
                        format.decode(
                            raw,
                            &mut u[at..at + format.weights()],
                            &mut a[g..g + per_block],
                            &mut b[g..g + per_block],
                        );
                    }
                    for g in 0..groups {
                        tile_scales[g * LANES + lane] = a[g];
                        tile_offsets[g * LANES + lane] = b[g];
                    }
                    for (k, &value) in u.iter().enumerate() {
                        tile_quants[(k / 4) * 4 * LANES + lane * 4 + k % 4] = value;
                    }
                }
                if format.uniform_offset().is_some() {
                    Vec::new()
                } else {
                    tile_offsets
                }
            })
            .collect();
        let offsets = match format.uniform_offset() {
            Some(c) => Offsets::Uniform(c),
            None => Offsets::PerGroup(tile_offsets.concat()),
        };
        Some(Self {
            out_dim,
            in_dim,
            group,
            tiles,
            quants,
            scales,
            offsets,
        })
    }

    /// The weight at `(row, col)` as the packed form holds it, `a·u − b`.
    #[cfg(test)]
    fn weight(&self, row: usize, col: usize) -> f32 {
        let (tile, lane) = (row / LANES, row % LANES);
        let u =
            self.quants[tile * self.in_dim * LANES + (col / 4) * 4 * LANES + lane * 4 + col % 4];
        let at = (tile * (self.in_dim / self.group) + col / self.group) * LANES + lane;
        let offset = match &self.offsets {
            Offsets::Uniform(c) => *c as f32 * self.scales[at],
            Offsets::PerGroup(offsets) => offsets[at],
        };
        self.scales[at] * f32::from(u) - offset
    }

    /// `x [rows, in] · selfᵀ`, row-major `[rows, out]`.
    pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.in_dim, "activation shape");
        assert!(available(), "the int8 kernel needs AVX-512 VNNI");
        let activations = QuantizedRows::new(x, rows, self.in_dim, self.group);
        let mut out = vec![0f32; rows * self.out_dim];
        let out_ptr = OutPtr(out.as_mut_ptr());
        let units = self.tiles.div_ceil(TILES_PER_CALL);
        (0..units).into_par_iter().for_each(|unit| {
            let tile0 = unit * TILES_PER_CALL;
            let full_tiles = self.tiles - tile0 >= TILES_PER_CALL;
            let mut row0 = 0;
            while row0 < rows {
                let many = rows - row0 >= ROWS_PER_CALL;
                // SAFETY: the kernel's CPU features were checked above; every call writes rows
                // `row0..` of its own tiles' columns, so no two calls write the same element,
                // and `out` outlives the parallel loop.
                unsafe {
                    match (many, full_tiles) {
                        (true, true) => self.call::<ROWS_PER_CALL, TILES_PER_CALL>(
                            &activations,
                            row0,
                            tile0,
                            &out_ptr,
                        ),
                        (true, false) => {
                            self.call::<ROWS_PER_CALL, 1>(&activations, row0, tile0, &out_ptr)
                        }
                        (false, true) => {
                            self.call::<1, TILES_PER_CALL>(&activations, row0, tile0, &out_ptr)
                        }
                        (false, false) => self.call::<1, 1>(&activations, row0, tile0, &out_ptr),
                    }
                }
                row0 += if many { ROWS_PER_CALL } else { 1 };
            }
        });
        out
    }

    /// The kernel for this matrix's kind of offsets.
    ///
    /// # Safety
    /// As [`kernel`].
    unsafe fn call<const R: usize, const T: usize>(
        &self,
        x: &QuantizedRows,
        row0: usize,
        tile0: usize,
        out: &OutPtr,
    ) {
        // SAFETY: passed on from the caller.
        unsafe {
            match &self.offsets {
                Offsets::Uniform(c) => kernel::<R, T, false>(self, x, row0, tile0, *c, out.0),
                Offsets::PerGroup(_) => kernel::<R, T, true>(self, x, row0, tile0, 0, out.0),
            }
        }
    }
}

/// The output buffer shared by the parallel kernel calls, each writing its own elements.
struct OutPtr(*mut f32);
// SAFETY: see `matmul`: the calls write disjoint elements.
unsafe impl Sync for OutPtr {}

/// As a candle op on `[.., in]` f32 activations, giving `[.., out]`.
impl CustomOp1 for PackedInt8Matrix {
    fn name(&self) -> &'static str {
        "packed-int8-matmul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(values) = storage else {
            candle_core::bail!("packed-int8-matmul takes f32 activations");
        };
        let dims = layout.shape().dims();
        if dims.last() != Some(&self.in_dim) {
            candle_core::bail!(
                "packed-int8-matmul: activations {dims:?} against a {}x{} matrix",
                self.out_dim,
                self.in_dim
            );
        }
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("packed-int8-matmul takes contiguous activations");
        };
        let rows = (end - start) / self.in_dim;
        let out = self.matmul(&values[start..end], rows);
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("a matrix has dims") = self.out_dim;
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }
}

/// Activation rows quantized per 32 inputs: `q` `[rows, in]`, and per group of the weights'
/// size the scale `sx`, `Σq` (what a uniform offset multiplies) and `sx·Σq` (what a
/// per-group offset multiplies).
struct QuantizedRows {
    in_dim: usize,
    groups: usize,
    q: Vec<i8>,
    scale: Vec<f32>,
    sum: Vec<i32>,
    scaled_sum: Vec<f32>,
}

impl QuantizedRows {
    fn new(x: &[f32], rows: usize, in_dim: usize, group: usize) -> Self {
        let groups = in_dim / group;
        let mut q = vec![0i8; rows * in_dim];
        let mut scale = vec![0f32; rows * groups];
        let mut sums = vec![0i32; rows * groups];
        let mut scaled_sum = vec![0f32; rows * groups];
        q.par_chunks_mut(in_dim)
            .zip(scale.par_chunks_mut(groups))
            .zip(sums.par_chunks_mut(groups))
            .zip(scaled_sum.par_chunks_mut(groups))
            .zip(x.par_chunks(in_dim))
            .for_each(|((((q, scale), sums), scaled_sum), x)| {
                for (block, (q, x)) in q
                    .chunks_exact_mut(X_BLOCK)
                    .zip(x.chunks_exact(X_BLOCK))
                    .enumerate()
                {
                    // A NaN input makes the block's scale NaN, so it reaches the output as
                    // in an f32 product instead of vanishing into a zero.
                    let amax = if x.iter().any(|v| v.is_nan()) {
                        f32::NAN
                    } else {
                        x.iter().fold(0f32, |m, v| m.max(v.abs()))
                    };
                    let d = amax / 127.0;
                    let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
                    for (q, x) in q.iter_mut().zip(x) {
                        *q = (x * inverse).round() as i8;
                    }
                    for (i, q) in q.chunks_exact(group).enumerate() {
                        let g = block * (X_BLOCK / group) + i;
                        let sum: i32 = q.iter().map(|&v| i32::from(v)).sum();
                        scale[g] = d;
                        sums[g] = sum;
                        scaled_sum[g] = d * sum as f32;
                    }
                }
            });
        Self {
            in_dim,
            groups,
            q,
            scale,
            sum: sums,
            scaled_sum,
        }
    }
}

/// Rows `row0..row0 + R` of the product for tiles `tile0..tile0 + T`, into `out`; with
/// `PER_GROUP` the matrix's stored offsets, else `uniform` times each scale.
///
/// # Safety
/// The CPU has AVX-512 F/BW and VNNI; `row0 + R` rows and `tile0 + T` tiles exist; `out` holds
/// `[rows, out_dim]` f32 and no other thread writes these elements; `PER_GROUP` holds iff the
/// matrix stores its offsets (`Offsets::PerGroup`), as [`PackedInt8Matrix::call`] picks it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn kernel<const R: usize, const T: usize, const PER_GROUP: bool>(
    matrix: &PackedInt8Matrix,
    x: &QuantizedRows,
    row0: usize,
    tile0: usize,
    uniform: i32,
    out: *mut f32,
) {
    use std::arch::x86_64::*;
    let steps_per_group = matrix.group / 4;
    let groups = x.groups;
    let tile_steps = matrix.in_dim / 4;
    let quants = matrix.quants.as_ptr();
    let xq = x.q.as_ptr();
    let offsets: &[f32] = match &matrix.offsets {
        Offsets::PerGroup(offsets) => offsets,
        Offsets::Uniform(_) => &[],
    };
    debug_assert_eq!(
        PER_GROUP,
        !offsets.is_empty(),
        "the kernel for the matrix's offsets"
    );
    let mut sums = [[_mm512_setzero_ps(); T]; R];
    for g in 0..groups {
        let mut dots = [[_mm512_setzero_si512(); T]; R];
        for s in 0..steps_per_group {
            let step = g * steps_per_group + s;
            // SAFETY: `step` < `tile_steps` and the tiles exist, so 64 bytes are in bounds.
            let w: [__m512i; T] = std::array::from_fn(|t| unsafe {
                _mm512_loadu_si512(quants.add(((tile0 + t) * tile_steps + step) * 64).cast())
            });
            for (r, dots) in dots.iter_mut().enumerate() {
                // SAFETY: row `row0 + r` exists and `step * 4 + 4 <= in_dim`.
                let four = unsafe {
                    std::ptr::read_unaligned(xq.add((row0 + r) * x.in_dim + step * 4).cast::<i32>())
                };
                let xv = _mm512_set1_epi32(four);
                for (dot, w) in dots.iter_mut().zip(&w) {
                    *dot = _mm512_dpbusd_epi32(*dot, *w, xv);
                }
            }
        }
        let at = |t: usize| ((tile0 + t) * groups + g) * LANES;
        // SAFETY: `at(t) + 16` is within the tiles' scales (and offsets, when stored).
        let a: [__m512; T] =
            std::array::from_fn(|t| unsafe { _mm512_loadu_ps(matrix.scales.as_ptr().add(at(t))) });
        if PER_GROUP {
            let b: [__m512; T] =
                std::array::from_fn(|t| unsafe { _mm512_loadu_ps(offsets.as_ptr().add(at(t))) });
            for (r, (sums, dots)) in sums.iter_mut().zip(&dots).enumerate() {
                let sx = _mm512_set1_ps(x.scale[(row0 + r) * groups + g]);
                let sq = _mm512_set1_ps(x.scaled_sum[(row0 + r) * groups + g]);
                for t in 0..T {
                    let scale = _mm512_mul_ps(a[t], sx);
                    sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots[t]), scale, sums[t]);
                    sums[t] = _mm512_fnmadd_ps(b[t], sq, sums[t]);
                }
            }
        } else {
            for (r, (sums, dots)) in sums.iter_mut().zip(&dots).enumerate() {
                let sx = _mm512_set1_ps(x.scale[(row0 + r) * groups + g]);
                let shift = _mm512_set1_epi32(uniform * x.sum[(row0 + r) * groups + g]);
                for t in 0..T {
                    let scale = _mm512_mul_ps(a[t], sx);
                    let dot = _mm512_sub_epi32(dots[t], shift);
                    sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, sums[t]);
                }
            }
        }
    }
    for (r, sums) in sums.iter().enumerate() {
        for (t, sum) in sums.iter().enumerate() {
            let col0 = (tile0 + t) * LANES;
            let valid = matrix.out_dim.saturating_sub(col0).min(LANES);
            let mask: __mmask16 = ((1u32 << valid) - 1) as __mmask16;
            // SAFETY: the masked lanes are columns `col0..col0 + valid` of row `row0 + r`.
            unsafe {
                _mm512_mask_storeu_ps(out.add((row0 + r) * matrix.out_dim + col0), mask, *sum);
            }
        }
    }
}

/// Never called: [`available`] is false off x86-64, so nothing is packed.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel<const R: usize, const T: usize, const PER_GROUP: bool>(
    _: &PackedInt8Matrix,
    _: &QuantizedRows,
    _: usize,
    _: usize,
    _: i32,
    _: *mut f32,
) {
    unreachable!("the int8 kernel is x86-64 only")
}

/// The GGUF block types with a case here (see the module docs for each map).
#[derive(Debug, Clone, Copy)]
enum BlockFormat {
    Q8_0,
    Q5_0,
    Q4K,
    Q6K,
}

impl BlockFormat {
    fn of(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q8_0 => Some(Self::Q8_0),
            GgmlDType::Q5_0 => Some(Self::Q5_0),
            GgmlDType::Q4K => Some(Self::Q4K),
            GgmlDType::Q6K => Some(Self::Q6K),
            _ => None,
        }
    }

    /// Bytes per block, as ggml lays them out.
    fn bytes(self) -> usize {
        match self {
            Self::Q8_0 => 34,
            Self::Q5_0 => 22,
            Self::Q4K => 144,
            Self::Q6K => 210,
        }
    }

    /// Weights per block.
    fn weights(self) -> usize {
        match self {
            Self::Q8_0 | Self::Q5_0 => 32,
            Self::Q4K | Self::Q6K => 256,
        }
    }

    /// Weights per scale.
    fn group(self) -> usize {
        match self {
            Self::Q6K => 16,
            _ => 32,
        }
    }

    /// `c` where every group's offset is `c` times its scale.
    fn uniform_offset(self) -> Option<i32> {
        match self {
            Self::Q8_0 => Some(128),
            Self::Q5_0 => Some(16),
            Self::Q6K => Some(32),
            Self::Q4K => None,
        }
    }

    /// One block into `u` (its weights) and `a`, `b` (one per group), so that weight `k` is
    /// `a[k / group] · u[k] − b[k / group]`. The layouts are ggml's (`dequantize_row_*`).
    fn decode(self, block: &[u8], u: &mut [u8], a: &mut [f32], b: &mut [f32]) {
        let half = |at: usize| f16::from_le_bytes([block[at], block[at + 1]]).to_f32();
        match self {
            Self::Q8_0 => {
                let d = half(0);
                for (u, &q) in u.iter_mut().zip(&block[2..34]) {
                    *u = q ^ 0x80; // the i8 q as u8, plus 128
                }
                a[0] = d;
                b[0] = 128.0 * d;
            }
            Self::Q5_0 => {
                let d = half(0);
                let high = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
                let low = &block[6..22];
                for j in 0..16 {
                    let high0 = (((high >> j) << 4) & 0x10) as u8;
                    let high1 = ((high >> (j + 12)) & 0x10) as u8;
                    u[j] = (low[j] & 0x0F) | high0;
                    u[j + 16] = (low[j] >> 4) | high1;
                }
                a[0] = d;
                b[0] = 16.0 * d;
            }
            Self::Q4K => {
                let d = half(0);
                let dmin = half(2);
                let scales = &block[4..16];
                let nibbles = &block[16..144];
                for chunk in 0..4 {
                    let q = &nibbles[chunk * 32..(chunk + 1) * 32];
                    for (i, g) in [2 * chunk, 2 * chunk + 1].into_iter().enumerate() {
                        let (scale, min) = q4k_scale_min(g, scales);
                        a[g] = d * f32::from(scale);
                        b[g] = dmin * f32::from(min);
                        for (l, &byte) in q.iter().enumerate() {
                            u[64 * chunk + 32 * i + l] =
                                if i == 0 { byte & 0x0F } else { byte >> 4 };
                        }
                    }
                }
            }
            Self::Q6K => {
                let (low, high, scales) = (&block[0..128], &block[128..192], &block[192..208]);
                let d = half(208);
                for n in 0..2 {
                    let (low, high, u) = (&low[64 * n..], &high[32 * n..], &mut u[128 * n..]);
                    for l in 0..32 {
                        u[l] = (low[l] & 0x0F) | ((high[l] & 3) << 4);
                        u[l + 32] = (low[l + 32] & 0x0F) | (((high[l] >> 2) & 3) << 4);
                        u[l + 64] = (low[l] >> 4) | (((high[l] >> 4) & 3) << 4);
                        u[l + 96] = (low[l + 32] >> 4) | (((high[l] >> 6) & 3) << 4);
                    }
                }
                for (g, &scale) in scales.iter().enumerate() {
                    let scale = d * f32::from(scale as i8);
                    a[g] = scale;
                    b[g] = 32.0 * scale;
                }
            }
        }
    }
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and minimum of group `j` of a Q4_K block.
fn q4k_scale_min(j: usize, scales: &[u8]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// A `[rows, cols]` matrix of varied values, some rows much larger than others (as real
    /// weights and activations are), from a fixed seed.
    fn values(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..rows * cols)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                unit * (1.0 + (i / cols % 5) as f32)
            })
            .collect()
    }

    fn quantized(rows: usize, cols: usize, dtype: GgmlDType) -> QTensor {
        let w = Tensor::from_vec(values(rows, cols, 7), (rows, cols), &Device::Cpu).unwrap();
        QTensor::quantize(&w, dtype).unwrap()
    }

    /// Whether the kernel's tests can run; `ACDP_REQUIRE_INT8=1` (CI sets it where
    /// /proc/cpuinfo lists avx512_vnni) turns a skip into a failure, so a detection bug cannot
    /// pass as a CPU without the instructions.
    fn kernel_runs_here() -> bool {
        let required = std::env::var("ACDP_REQUIRE_INT8").is_ok_and(|v| v == "1");
        assert!(
            available() || !required,
            "ACDP_REQUIRE_INT8=1 but the int8 kernel is not available on this CPU"
        );
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, so the int8 kernel never runs here");
        }
        available()
    }

    const TYPES: [GgmlDType; 4] = [
        GgmlDType::Q8_0,
        GgmlDType::Q5_0,
        GgmlDType::Q4K,
        GgmlDType::Q6K,
    ];

    #[test]
    fn the_packed_weights_are_the_gguf_weights() {
        // 37 rows: a last tile that is mostly padding.
        for dtype in TYPES {
            let q = quantized(37, 512, dtype);
            let expected = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let packed = PackedInt8Matrix::pack_layout(&q).expect("a type with a case");
            for (row, expected) in expected.iter().enumerate() {
                for (col, &e) in expected.iter().enumerate() {
                    let got = packed.weight(row, col);
                    assert!(
                        (got - e).abs() <= 1e-6 * e.abs().max(1e-3),
                        "{dtype:?} ({row}, {col}): packed {got}, GGUF {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn types_without_a_case_are_not_packed() {
        let f32_matrix = quantized(16, 64, GgmlDType::F32);
        assert!(PackedInt8Matrix::pack_layout(&f32_matrix).is_none());
        let q4_0 = quantized(16, 64, GgmlDType::Q4_0);
        assert!(PackedInt8Matrix::pack_layout(&q4_0).is_none());
    }

    /// The product against f32 on the dequantized weights, for one row (generation), a few,
    /// and a prompt's worth: row counts that leave single-row calls after the four-row ones.
    #[test]
    fn the_int8_product_matches_the_f32_product() {
        if !kernel_runs_here() {
            return;
        }
        for dtype in TYPES {
            // 7 tiles: calls over two tiles and one over the last, partly padded.
            let (out_dim, in_dim) = (99, 512);
            let q = quantized(out_dim, in_dim, dtype);
            let w = q.dequantize(&Device::Cpu).unwrap();
            let packed = PackedInt8Matrix::pack(&q).unwrap();
            for rows in [1, 3, 4, 19] {
                let x = values(rows, in_dim, rows as u64);
                let xs = Tensor::from_vec(x.clone(), (rows, in_dim), &Device::Cpu).unwrap();
                let expected = xs.matmul(&w.t().unwrap()).unwrap();
                let expected = expected.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let got = packed.matmul(&x, rows);
                let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
                let diff: Vec<f32> = got.iter().zip(&expected).map(|(g, e)| g - e).collect();
                let relative = norm(&diff) / norm(&expected);
                eprintln!("{dtype:?} {rows}: {relative}");
                // 8-bit activations: about 1/254 of each block's largest value per input.
                assert!(
                    relative < 5e-3,
                    "{dtype:?}, {rows} rows: relative error {relative}"
                );
                let through_op = xs.apply_op1_no_bwd(&packed).unwrap();
                assert_eq!(through_op.dims(), &[rows, out_dim]);
                assert_eq!(
                    through_op.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    got
                );
            }
        }
    }

    /// The kernel against the same sums in f64 over the same quantized activations: only the
    /// order of float additions may differ.
    #[test]
    fn the_kernel_computes_the_quantized_sums_exactly() {
        if !kernel_runs_here() {
            return;
        }
        for dtype in TYPES {
            let (out_dim, in_dim, rows) = (40, 256, 6);
            let packed = PackedInt8Matrix::pack(&quantized(out_dim, in_dim, dtype)).unwrap();
            let x = values(rows, in_dim, 3);
            let activations = QuantizedRows::new(&x, rows, in_dim, packed.group);
            let got = packed.matmul(&x, rows);
            for row in 0..rows {
                for col in 0..out_dim {
                    let mut expected = 0f64;
                    for k in 0..in_dim {
                        let g = k / packed.group;
                        let sx = f64::from(activations.scale[row * activations.groups + g]);
                        let q = f64::from(activations.q[row * in_dim + k]);
                        expected += f64::from(packed.weight(col, k)) * sx * q;
                    }
                    let got = f64::from(got[row * out_dim + col]);
                    assert!(
                        (got - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                        "{dtype:?} ({row}, {col}): kernel {got}, quantized sums {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_nan_activation_reaches_the_output() {
        if !kernel_runs_here() {
            return;
        }
        let packed = PackedInt8Matrix::pack(&quantized(16, 64, GgmlDType::Q8_0)).unwrap();
        let mut x = values(1, 64, 5);
        x[40] = f32::NAN;
        let out = packed.matmul(&x, 1);
        assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
    }
}
