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

/// The share a family may hold: single-fact families their small one while samples can go
/// without losing a fact; once none can (`relaxed`), the share every family is held to, since
/// no family may dominate a dataset even at the cost of some rules' only samples.
fn max_share(family: &str, relaxed: &HashSet<String>) -> f64 {
    if SINGLE_FACT_FAMILIES.contains(&family) && !relaxed.contains(family) {
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
    // Families that have nothing left to drop.
    let mut settled: HashSet<String> = HashSet::new();
    // Single-fact families with nothing left to drop without losing a fact, held to the
    // general share from then on.
    let mut relaxed: HashSet<String> = HashSet::new();
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
            let share = max_share(family, &relaxed);
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
        let single_fact =
            SINGLE_FACT_FAMILIES.contains(&family.as_str()) && !relaxed.contains(&family);
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
            if single_fact {
                relaxed.insert(family);
            } else {
                settled.insert(family);
            }
            continue;
        }
        dropped.extend(newly);
    }
    written
        .into_iter()
        .filter(|w| !dropped.contains(&w.request.source.twin_key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SampleRequest;
    use acdp_sample::{SampleBody, SampleLanguage, SampleSource, Task};

    fn sample(kind: &str, n: usize) -> Written {
        Written {
            request: SampleRequest {
                task: Task::Qa,
                language: SampleLanguage::En,
                domain: "d".into(),
                prompt: format!("{kind} {n}"),
                evidence: Vec::new(),
                source: SampleSource {
                    kind: kind.into(),
                    rule_ids: vec![format!("r{kind}{n}")],
                    twin_key: format!("{kind}:{n}"),
                    ..Default::default()
                },
            },
            body: SampleBody::Qa {
                question: String::new(),
                answer: String::new(),
            },
            trace: Vec::new(),
        }
    }

    /// Eight composed families of forty samples each: a mix none of them dominates.
    fn others() -> Vec<Written> {
        (0..8)
            .flat_map(|f| (0..40).map(move |n| sample(&format!("family-{f}"), n)))
            .collect()
    }

    fn share(kept: &[Written], kind: &str) -> f64 {
        kept.iter()
            .filter(|w| w.request.source.kind == kind)
            .count() as f64
            / kept.len() as f64
    }

    #[test]
    fn a_single_fact_family_no_other_family_covers_is_still_held_to_the_general_share() {
        // Every check has only its own sample (nothing covers it), and there are far more
        // checks than flows: the family must still not dominate the dataset.
        let mut written: Vec<Written> = (0..300).map(|n| sample("what-happens-if", n)).collect();
        written.extend(others());
        let kept = cap_families(written, 7);
        assert!(share(&kept, "what-happens-if") <= MAX_FAMILY_SHARE + 1e-9);
        assert!(share(&kept, "what-happens-if") > MAX_SINGLE_FACT_SHARE);
    }

    #[test]
    fn a_single_fact_sample_whose_rule_another_family_states_goes_first() {
        let mut written: Vec<Written> = (0..100).map(|n| sample("rule-check", n)).collect();
        // A list that states the first 60 checks.
        let mut list = sample("method-checks", 0);
        list.request.source.rule_ids = (0..60).map(|n| format!("rrule-check{n}")).collect();
        written.push(list);
        written.extend(others());
        let kept = cap_families(written, 7);
        let checks: Vec<&Written> = kept
            .iter()
            .filter(|w| w.request.source.kind == "rule-check")
            .collect();
        // The 40 uncovered checks keep their samples; covered ones go down to the share.
        for n in 60..100 {
            assert!(
                checks
                    .iter()
                    .any(|w| w.request.source.twin_key == format!("rule-check:{n}"))
            );
        }
        assert!(checks.len() < 100);
    }
}
