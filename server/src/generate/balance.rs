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

/// Families whose question is answered by one fact of one method (a guard, a formula, an
/// annotation): true, but each restates a line or two of code. They are kept to a small share
/// each so the composed families (several facts across methods) and flows make up the mix, as
/// far as that loses no fact: only samples whose rules another family's sample also states
/// are dropped.
const SINGLE_FACT_FAMILIES: &[&str] = &[
    "rule-check",
    "computation",
    "what-happens-if",
    "why",
    "transaction",
    "validation",
    "schedule",
    "state-values",
];

/// Most a single-fact family may hold of the QA candidates.
pub const MAX_SINGLE_FACT_SHARE: f64 = 0.08;

/// Samples a single-fact family keeps whatever its share: a small repository (a module, a
/// fixture) has few questions of any kind, and its checks are worth asking about.
const MIN_SINGLE_FACT_KEPT: usize = 16;

fn max_share(family: &str) -> f64 {
    if SINGLE_FACT_FAMILIES.contains(&family) {
        MAX_SINGLE_FACT_SHARE
    } else {
        MAX_FAMILY_SHARE
    }
}

fn min_kept(family: &str) -> usize {
    if SINGLE_FACT_FAMILIES.contains(&family) {
        MIN_SINGLE_FACT_KEPT
    } else {
        0
    }
}

pub fn cap_families(written: Vec<Written>, seed: u64) -> Vec<Written> {
    let mut dropped: HashSet<String> = HashSet::new();
    // Single-fact families that have nothing left to drop without losing a fact.
    let mut settled: HashSet<String> = HashSet::new();
    loop {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut total = 0usize;
        for w in &written {
            if !dropped.contains(&w.request.source.twin_key) {
                *counts.entry(w.request.source.kind.as_str()).or_default() += 1;
                total += 1;
            }
        }
        if counts.len() < 2 {
            break;
        }
        // Largest n with n / (n + others) <= share, for each family; the one furthest over
        // its share is trimmed first.
        let allowed_of = |family: &str, count: usize| {
            let share = max_share(family);
            let others = total - count;
            (((share * others as f64) / (1.0 - share)).floor() as usize).max(min_kept(family))
        };
        let Some((family, count, allowed)) = counts
            .iter()
            .map(|(&k, &n)| (k, n, allowed_of(k, n)))
            .filter(|(k, n, allowed)| n > allowed && !settled.contains(*k))
            .max_by(|a, b| {
                let over =
                    |(_, n, allowed): &(&str, usize, usize)| *n as f64 / (*allowed).max(1) as f64;
                over(a).total_cmp(&over(b)).then_with(|| b.0.cmp(a.0))
            })
        else {
            break;
        };
        let family = family.to_owned();
        // A single-fact sample goes only when its rules are the subject of a sample of
        // another family too (a `method-checks` list holds the same check): the cap trims
        // restatements, never the only sample of a rule.
        let single_fact = SINGLE_FACT_FAMILIES.contains(&family.as_str());
        let covered: HashSet<&str> = written
            .iter()
            .filter(|w| {
                w.request.source.kind != family && !dropped.contains(&w.request.source.twin_key)
            })
            .flat_map(|w| w.request.source.rule_ids.iter().map(String::as_str))
            .collect();
        let droppable = |w: &Written| {
            !single_fact
                || (!w.request.source.rule_ids.is_empty()
                    && w.request
                        .source
                        .rule_ids
                        .iter()
                        .all(|r| covered.contains(r.as_str())))
        };
        // Twin groups of the family, poorest first: fewest evidence chunks, then seeded.
        let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
        for w in &written {
            if w.request.source.kind == family
                && !dropped.contains(&w.request.source.twin_key)
                && droppable(w)
            {
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
        if newly.is_empty() {
            settled.insert(family);
            continue;
        }
        dropped.extend(newly);
    }
    written
        .into_iter()
        .filter(|w| !dropped.contains(&w.request.source.twin_key))
        .collect()
}
