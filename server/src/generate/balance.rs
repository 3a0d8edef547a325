//! The family mix of QA samples: no family (`source.kind`) may be more than a share of a
//! repository's QA samples, so a model is not tuned on one kind of question. Over-represented
//! families keep their richest samples (most evidence, then a seeded order), and twins in
//! other languages are kept or dropped together.

use std::collections::{BTreeMap, HashSet};

use super::Written;
use super::text::seeded_rank;

/// Most a family may hold of the QA candidates. Below the 30% a dataset promises, because
/// deduplication afterwards removes more of the many-phrasings families (guards) than of the
/// one-per-entry ones (flows).
pub const MAX_FAMILY_SHARE: f64 = 0.25;

pub fn cap_families(written: Vec<Written>, seed: u64) -> Vec<Written> {
    let mut dropped: HashSet<String> = HashSet::new();
    loop {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut total = 0usize;
        for w in &written {
            if !dropped.contains(&w.request.source.twin_key) {
                *counts.entry(w.request.source.kind.as_str()).or_default() += 1;
                total += 1;
            }
        }
        let Some((&family, &count)) = counts
            .iter()
            .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
        else {
            break;
        };
        let others = total - count;
        // Largest n with n / (n + others) <= share.
        let allowed =
            ((MAX_FAMILY_SHARE * others as f64) / (1.0 - MAX_FAMILY_SHARE)).floor() as usize;
        if count <= allowed || counts.len() < 2 {
            break;
        }
        let family = family.to_owned();
        // Twin groups of the family, poorest first: fewest evidence chunks, then seeded.
        let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
        for w in &written {
            if w.request.source.kind == family && !dropped.contains(&w.request.source.twin_key) {
                let n = groups
                    .entry(w.request.source.twin_key.as_str())
                    .or_default();
                *n = (*n).max(w.request.evidence.len());
            }
        }
        let mut order: Vec<(&str, usize)> = groups.into_iter().collect();
        order.sort_by_key(|(key, evidence)| (*evidence, seeded_rank(seed, key), *key));
        let per_group = (count as f64 / order.len().max(1) as f64).max(1.0);
        let excess = count - allowed;
        let drop_groups = ((excess as f64) / per_group).ceil() as usize;
        let newly: Vec<String> = order
            .iter()
            .take(drop_groups.max(1))
            .map(|(k, _)| (*k).to_owned())
            .collect();
        dropped.extend(newly);
    }
    written
        .into_iter()
        .filter(|w| !dropped.contains(&w.request.source.twin_key))
        .collect()
}
