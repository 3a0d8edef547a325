//! A view of a GGUF file in which every Q5_0 tensor reads as Q8_0.
//!
//! Why: candle's CPU kernels have AVX2 dot products (and a tiled prompt path) for Q8_0 but only
//! a scalar loop for Q5_0, and llama.cpp's mixed quantizations store most matrices of small
//! models as Q5_0 (the Qwen2.5-Coder-0.5B file of issue #6: 133 of its 170 matrices). A Q5_0
//! weight is an integer in -16..=15 times its block's f16 scale, so a Q8_0 block with the same
//! scale holds it exactly: the widening changes no weight and no result, only which kernel reads
//! it, at 34 instead of 22 bytes per 32 weights.
//!
//! The view leaves candle's model code as it is: the tensor table of the GGUF header is
//! rewritten to point Q5_0 tensors at regions past the end of the file, and reads there are
//! answered by converting the source blocks on the fly, one tensor read at a time, so the
//! model never holds both copies.

use std::io::{self, Read, Seek, SeekFrom};

use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::Content;

/// Bytes per block: f16 scale, 32 high bits, 16 bytes of low nibbles.
const Q5_0_BLOCK: usize = 22;
/// Bytes per block: f16 scale, 32 signed bytes.
const Q8_0_BLOCK: usize = 34;
/// Weights per block, the same for both.
const BLOCK_WEIGHTS: usize = 32;

/// One widened tensor: `len` bytes of Q8_0 at virtual offset `start`, converted from the Q5_0
/// blocks at `source` in the file.
#[derive(Debug)]
struct Region {
    start: u64,
    len: u64,
    source: u64,
}

/// A reader over a GGUF file whose Q5_0 tensors read as Q8_0 (see the module docs).
#[derive(Debug)]
pub struct Q8View<R> {
    inner: R,
    inner_len: u64,
    regions: Vec<Region>,
    end: u64,
    pos: u64,
}

/// Rewrites `content`'s tensor table so that its Q5_0 tensors read as Q8_0 through the
/// returned reader, and returns how many tensors were widened. Other tensors read as before.
pub fn widen_q5_0<R: Read + Seek>(
    content: &mut Content,
    mut inner: R,
) -> io::Result<(Q8View<R>, usize)> {
    let inner_len = inner.seek(SeekFrom::End(0))?;
    // Widened regions start past the file, each aligned as GGUF aligns tensors.
    let mut end = inner_len.next_multiple_of(32);
    let mut regions = Vec::new();
    let mut names: Vec<&String> = content
        .tensor_infos
        .iter()
        .filter(|(_, info)| info.ggml_dtype == GgmlDType::Q5_0)
        .map(|(name, _)| name)
        .collect();
    // The table is a hash map: sort so that the layout does not depend on its order.
    names.sort();
    let names: Vec<String> = names.into_iter().cloned().collect();
    for name in &names {
        let info = content
            .tensor_infos
            .get_mut(name)
            .expect("name taken from the table");
        let blocks = (info.shape.elem_count() / BLOCK_WEIGHTS) as u64;
        let start = end;
        let len = blocks * Q8_0_BLOCK as u64;
        regions.push(Region {
            start,
            len,
            source: content.tensor_data_offset + info.offset,
        });
        info.offset = start - content.tensor_data_offset;
        info.ggml_dtype = GgmlDType::Q8_0;
        end = (start + len).next_multiple_of(32);
    }
    let view = Q8View {
        inner,
        inner_len,
        regions,
        end,
        pos: 0,
    };
    Ok((view, names.len()))
}

impl<R: Read + Seek> Read for Q8View<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.end {
            return Ok(0);
        }
        if self.pos < self.inner_len {
            let n = buf.len().min((self.inner_len - self.pos) as usize);
            self.inner.seek(SeekFrom::Start(self.pos))?;
            let n = self.inner.read(&mut buf[..n])?;
            self.pos += n as u64;
            return Ok(n);
        }
        let Some(region) = self
            .regions
            .iter()
            .find(|r| r.start <= self.pos && self.pos < r.start + r.len)
        else {
            // Alignment padding between regions.
            let next = self
                .regions
                .iter()
                .map(|r| r.start)
                .filter(|&s| s > self.pos)
                .min()
                .unwrap_or(self.end);
            let n = buf.len().min((next - self.pos) as usize);
            buf[..n].fill(0);
            self.pos += n as u64;
            return Ok(n);
        };
        let offset = (self.pos - region.start) as usize;
        let n = buf.len().min(region.len as usize - offset);
        let first_block = offset / Q8_0_BLOCK;
        let last_block = (offset + n).div_ceil(Q8_0_BLOCK);
        let mut source = vec![0u8; (last_block - first_block) * Q5_0_BLOCK];
        self.inner.seek(SeekFrom::Start(
            region.source + (first_block * Q5_0_BLOCK) as u64,
        ))?;
        self.inner.read_exact(&mut source)?;
        let mut widened = Vec::with_capacity((last_block - first_block) * Q8_0_BLOCK);
        for block in source.chunks_exact(Q5_0_BLOCK) {
            widened.extend_from_slice(&q5_0_to_q8_0(block.try_into().expect("exact chunks")));
        }
        let skip = offset - first_block * Q8_0_BLOCK;
        buf[..n].copy_from_slice(&widened[skip..skip + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Q8View<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.end.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// One Q5_0 block as the Q8_0 block of the same values (ggml's `dequantize_row_q5_0`: weight
/// `j` is its low nibble plus bit `j` of `qh` as bit 4, minus 16; weight `j + 16` the high
/// nibble plus bit `j + 16`).
fn q5_0_to_q8_0(block: &[u8; Q5_0_BLOCK]) -> [u8; Q8_0_BLOCK] {
    let mut out = [0u8; Q8_0_BLOCK];
    out[..2].copy_from_slice(&block[..2]);
    let high_bits = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
    let nibbles = &block[6..];
    for (j, &byte) in nibbles.iter().enumerate() {
        let low = (byte & 0x0F) | ((((high_bits >> j) & 1) as u8) << 4);
        let high = (byte >> 4) | ((((high_bits >> (j + 16)) & 1) as u8) << 4);
        out[2 + j] = (low as i8 - 16) as u8;
        out[2 + j + 16] = (high as i8 - 16) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{QTensor, gguf_file};
    use candle_core::{Device, Tensor};

    fn random(shape: (usize, usize), seed: u64) -> Tensor {
        let mut state = seed;
        let values: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    /// Writes a GGUF file with a Q5_0, an F32 and a Q8_0 tensor, reads it through the view,
    /// and checks that every tensor dequantizes to exactly what the file holds.
    #[test]
    fn widened_tensors_hold_the_same_values() {
        let q5 = QTensor::quantize(&random((48, 64), 1), GgmlDType::Q5_0).unwrap();
        let f32s = QTensor::quantize(&random((3, 32), 2), GgmlDType::F32).unwrap();
        let q8 = QTensor::quantize(&random((16, 96), 3), GgmlDType::Q8_0).unwrap();
        let q5_b = QTensor::quantize(&random((8, 32), 4), GgmlDType::Q5_0).unwrap();
        let mut file = std::io::Cursor::new(Vec::new());
        gguf_file::write(
            &mut file,
            &[],
            &[
                ("a.q5", &q5),
                ("b.f32", &f32s),
                ("c.q8", &q8),
                ("d.q5", &q5_b),
            ],
        )
        .unwrap();
        file.set_position(0);
        let mut content = Content::read(&mut file).unwrap();
        let original: Vec<(String, Vec<f32>)> = ["a.q5", "b.f32", "c.q8", "d.q5"]
            .iter()
            .map(|name| {
                let t = content.tensor(&mut file, name, &Device::Cpu).unwrap();
                let values = t.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
                (name.to_string(), values.to_vec1().unwrap())
            })
            .collect();

        let (mut view, widened) = widen_q5_0(&mut content, file).unwrap();
        assert_eq!(widened, 2);
        for (name, values) in &original {
            let t = content.tensor(&mut view, name, &Device::Cpu).unwrap();
            let expected_dtype = match name.as_str() {
                "b.f32" => GgmlDType::F32,
                _ => GgmlDType::Q8_0,
            };
            assert_eq!(t.dtype(), expected_dtype, "{name}");
            let got: Vec<f32> = t
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(&got, values, "{name}");
        }
    }

    /// Reads that start or end inside a block get the right bytes.
    #[test]
    fn partial_reads_inside_blocks_match_a_whole_read() {
        let q5 = QTensor::quantize(&random((4, 64), 5), GgmlDType::Q5_0).unwrap();
        let mut file = std::io::Cursor::new(Vec::new());
        gguf_file::write(&mut file, &[], &[("w", &q5)]).unwrap();
        file.set_position(0);
        let mut content = Content::read(&mut file).unwrap();
        let (mut view, _) = widen_q5_0(&mut content, file).unwrap();
        let start = content.tensor_data_offset + content.tensor_infos["w"].offset;
        let len = 8 * Q8_0_BLOCK;
        let mut whole = vec![0u8; len];
        view.seek(SeekFrom::Start(start)).unwrap();
        view.read_exact(&mut whole).unwrap();
        let mut pieces = Vec::new();
        view.seek(SeekFrom::Start(start)).unwrap();
        for size in [5, 40, 1, 33, 34, 200].iter().cycle() {
            if pieces.len() >= len {
                break;
            }
            let mut buf = vec![0u8; (*size).min(len - pieces.len())];
            view.read_exact(&mut buf).unwrap();
            pieces.extend_from_slice(&buf);
        }
        assert_eq!(pieces, whole);
    }
}
