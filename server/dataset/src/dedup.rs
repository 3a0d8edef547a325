//! Removing repeated samples: exact repeats (same normalised text) and near repeats (MinHash
//! over character 5-grams with LSH banding, then the estimated Jaccard similarity against a
//! threshold). Character n-grams work for English and Chinese alike.
//!
//! The first sample in input order is kept; inputs are sorted by the caller, so the result is
//! deterministic.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use acdp_sample::{Sample, SampleBody};

const SHINGLE: usize = 5;
const HASHES: usize = 128;
const BANDS: usize = 32;
const ROWS: usize = HASHES / BANDS;

#[derive(Clone, Debug, Default, Serialize)]
pub struct DedupReport {
    pub input: usize,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    pub kept: usize,
    pub threshold: f64,
    /// (dropped sample, the kept sample it repeats).
    pub dropped: Vec<(String, String)>,
}

/// Text that decides whether two samples say the same.
fn comparable_text(sample: &Sample) -> String {
    let body = match &sample.body {
        SampleBody::Qa { question, answer } => format!("{question}\n{answer}"),
        SampleBody::Design {
            requirement,
            design,
            ..
        } => {
            format!("{requirement}\n{}", design.summary)
        }
    };
    format!(
        "{}|{}|{body}",
        sample.body.task().as_str(),
        sample.language.as_str()
    )
}

/// Lower case, punctuation dropped, whitespace collapsed.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

fn minhash(text: &str) -> [u64; HASHES] {
    let chars: Vec<char> = text.chars().collect();
    let mut signature = [u64::MAX; HASHES];
    let windows = chars.len().saturating_sub(SHINGLE - 1).max(1);
    for start in 0..windows {
        let end = (start + SHINGLE).min(chars.len());
        let shingle: String = chars[start..end].iter().collect();
        let base = u64::from_le_bytes(
            blake3::hash(shingle.as_bytes()).as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        );
        for (i, slot) in signature.iter_mut().enumerate() {
            // Cheap independent permutations: multiply-xorshift with per-index odd constants.
            let mut h = base ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9 | 1);
            h ^= h >> 31;
            *slot = (*slot).min(h);
        }
    }
    signature
}

fn similarity(a: &[u64; HASHES], b: &[u64; HASHES]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / HASHES as f64
}

/// Keeps the first of each group of exact or near repeats (estimated Jaccard >= `threshold`).
pub fn deduplicate(samples: Vec<Sample>, threshold: f64) -> (Vec<Sample>, DedupReport) {
    let mut report = DedupReport {
        input: samples.len(),
        threshold,
        ..Default::default()
    };
    let mut exact: HashMap<blake3::Hash, String> = HashMap::new();
    let mut signatures: Vec<[u64; HASHES]> = Vec::new();
    let mut kept_ids: Vec<String> = Vec::new();
    let mut buckets: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    let mut kept = Vec::new();
    for sample in samples {
        let text = normalise(&comparable_text(&sample));
        let key = blake3::hash(text.as_bytes());
        if let Some(first) = exact.get(&key) {
            report.exact_duplicates += 1;
            report
                .dropped
                .push((sample.sample_id.clone(), first.clone()));
            continue;
        }
        let signature = minhash(&text);
        let band_keys: Vec<(usize, u64)> = (0..BANDS)
            .map(|band| {
                let rows = &signature[band * ROWS..(band + 1) * ROWS];
                let mut hasher = blake3::Hasher::new();
                for row in rows {
                    hasher.update(&row.to_le_bytes());
                }
                let bytes = hasher.finalize();
                (
                    band,
                    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes")),
                )
            })
            .collect();
        let candidates: HashSet<usize> = band_keys
            .iter()
            .filter_map(|k| buckets.get(k))
            .flatten()
            .copied()
            .collect();
        let mut candidates: Vec<usize> = candidates.into_iter().collect();
        candidates.sort_unstable();
        if let Some(&near) = candidates
            .iter()
            .find(|&&c| similarity(&signatures[c], &signature) >= threshold)
        {
            report.near_duplicates += 1;
            report
                .dropped
                .push((sample.sample_id.clone(), kept_ids[near].clone()));
            continue;
        }
        let slot = signatures.len();
        for key in band_keys {
            buckets.entry(key).or_default().push(slot);
        }
        signatures.push(signature);
        kept_ids.push(sample.sample_id.clone());
        exact.insert(key, sample.sample_id.clone());
        kept.push(sample);
    }
    report.kept = kept.len();
    (kept, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_drops_case_punctuation_and_spacing() {
        assert_eq!(
            normalise("Can  an Order be cancelled?\n"),
            "can an order be cancelled"
        );
        assert_eq!(normalise("订单，能取消吗？"), "订单 能取消吗");
    }

    #[test]
    fn similar_texts_have_similar_signatures() {
        let a = minhash(&normalise(
            "What happens when an order is cancelled after it was paid by the customer",
        ));
        let b = minhash(&normalise(
            "What happens when an order is cancelled after it was paid by a customer",
        ));
        let c = minhash(&normalise(
            "Which table does the stock lock statement update and under what guard",
        ));
        assert!(similarity(&a, &b) > 0.7, "{}", similarity(&a, &b));
        assert!(similarity(&a, &c) < 0.2, "{}", similarity(&a, &c));
    }
}
