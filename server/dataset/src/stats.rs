//! The dataset's report: counts by task, domain, source kind and language, lengths, validation
//! and dedup rates, evidence from generated code, split sizes and the leakage check. Written as
//! `stats.json` and as a readable `stats.md`.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::dedup::DedupReport;
use super::review::ReviewSummary;
use super::split::{Split, SplitReport};
use acdp_index::ChunkId;
use acdp_sample::Sample;
use acdp_sample::prompt::{assistant_turn, user_turn};

#[derive(Clone, Debug, Default, Serialize)]
pub struct ValidationSummary {
    pub checked: usize,
    pub passed: usize,
    pub rejected: usize,
    /// Failures by check name (`length`: over the token limit).
    pub failures_by_check: BTreeMap<String, usize>,
    /// The most tokens a sample may take, when a tokenizer was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_limit: Option<usize>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LengthSummary {
    pub min: usize,
    pub p50: usize,
    pub p95: usize,
    pub max: usize,
}

impl LengthSummary {
    fn of(mut values: Vec<usize>) -> LengthSummary {
        if values.is_empty() {
            return LengthSummary::default();
        }
        values.sort_unstable();
        let pick = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
        LengthSummary {
            min: values[0],
            p50: pick(0.5),
            p95: pick(0.95),
            max: pick(1.0),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DatasetStats {
    pub samples: usize,
    pub by_task: BTreeMap<String, usize>,
    pub by_domain: BTreeMap<String, usize>,
    pub by_source_kind: BTreeMap<String, usize>,
    pub by_language: BTreeMap<String, usize>,
    pub by_split: BTreeMap<String, usize>,
    /// Characters of the user turn (prompt with evidence) and of the assistant turn.
    pub user_chars: LengthSummary,
    pub assistant_chars: LengthSummary,
    pub evidence_per_sample: LengthSummary,
    pub validation: ValidationSummary,
    pub dedup: DedupReport,
    pub split: SplitReport,
    /// Samples citing at least one chunk of generated code.
    pub samples_with_generated_evidence: usize,
    /// Distinct chunks cited, and the share of all indexed chunks.
    pub distinct_evidence_chunks: usize,
    /// What the editor's reviews did, when the workspace has a `samples.jsonl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewSummary>,
    /// Kept samples by review verdict (`accepted`, `edited`; `generated` for the rest), when
    /// the workspace has a `samples.jsonl`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_review: BTreeMap<String, usize>,
}

pub fn dataset_stats(
    samples: &[Sample],
    assignment: &[Split],
    validation: ValidationSummary,
    dedup: DedupReport,
    split: SplitReport,
    generated_chunks: &HashSet<ChunkId>,
) -> DatasetStats {
    let mut stats = DatasetStats {
        samples: samples.len(),
        validation,
        dedup,
        split,
        ..Default::default()
    };
    let mut cited = HashSet::new();
    for (sample, split) in samples.iter().zip(assignment) {
        if let Some(review) = &sample.review {
            *stats
                .by_review
                .entry(review.verdict.as_str().to_owned())
                .or_default() += 1;
        }
        *stats
            .by_task
            .entry(sample.body.task().as_str().to_owned())
            .or_default() += 1;
        *stats.by_domain.entry(sample.domain.clone()).or_default() += 1;
        *stats
            .by_source_kind
            .entry(sample.source.kind.clone())
            .or_default() += 1;
        *stats
            .by_language
            .entry(sample.language.as_str().to_owned())
            .or_default() += 1;
        *stats.by_split.entry(split.as_str().to_owned()).or_default() += 1;
        if sample
            .evidence
            .iter()
            .any(|e| generated_chunks.contains(&e.chunk_id))
        {
            stats.samples_with_generated_evidence += 1;
        }
        cited.extend(sample.evidence.iter().map(|e| e.chunk_id.clone()));
    }
    stats.distinct_evidence_chunks = cited.len();
    stats.user_chars = LengthSummary::of(
        samples
            .iter()
            .map(|s| {
                user_turn(s.body.prompt(), &s.evidence, s.language)
                    .chars()
                    .count()
            })
            .collect(),
    );
    stats.assistant_chars = LengthSummary::of(
        samples
            .iter()
            .map(|s| assistant_turn(s).chars().count())
            .collect(),
    );
    stats.evidence_per_sample =
        LengthSummary::of(samples.iter().map(|s| s.evidence.len()).collect());
    stats
}

/// The same report as markdown.
pub fn render_markdown(stats: &DatasetStats) -> String {
    let mut out = String::from("# Dataset report\n\n");
    out.push_str(&format!("{} samples kept.\n\n", stats.samples));
    let table = |out: &mut String, title: &str, counts: &BTreeMap<String, usize>| {
        out.push_str(&format!(
            "## {title}\n\n| {title} | samples |\n|---|---:|\n"
        ));
        for (key, count) in counts {
            out.push_str(&format!("| {key} | {count} |\n"));
        }
        out.push('\n');
    };
    table(&mut out, "task", &stats.by_task);
    table(&mut out, "domain", &stats.by_domain);
    table(&mut out, "source kind", &stats.by_source_kind);
    table(&mut out, "language", &stats.by_language);
    table(&mut out, "split", &stats.by_split);
    if let Some(r) = &stats.review {
        let kept = |verdict: &str| stats.by_review.get(verdict).copied().unwrap_or(0);
        out.push_str(&format!(
            "## Review

{} samples in the editor's samples.jsonl: {} accepted, {} edited, {} \
             rejected, {} not reviewed.

\
             - kept in this dataset: {} accepted, {} edited
\
             - generated samples replaced by a reviewed one: {}
\
             - generated samples kept out because they were rejected: {}
\
             - editor samples the generator did not make, added: {}

",
            r.workspace_samples,
            r.accepted,
            r.edited,
            r.rejected,
            r.pending,
            kept("accepted"),
            kept("edited"),
            r.replaced_generated,
            r.rejected_generated,
            r.added,
        ));
    }
    let v = &stats.validation;
    out.push_str(&format!(
        "## Validation\n\n{} checked, {} passed, {} rejected.\n\n",
        v.checked, v.passed, v.rejected
    ));
    if let Some(limit) = v.token_limit {
        out.push_str(&format!(
            "Token limit: {limit} per sample (`length` counts the samples dropped for it).\n\n"
        ));
    }
    for (check, count) in &v.failures_by_check {
        out.push_str(&format!("- `{check}` failed {count} times\n"));
    }
    let d = &stats.dedup;
    out.push_str(&format!(
        "\n## Deduplication\n\n{} in, {} exact and {} near duplicates (threshold {}), {} kept.\n",
        d.input, d.exact_duplicates, d.near_duplicates, d.threshold, d.kept
    ));
    let s = &stats.split;
    out.push_str(&format!(
        "\n## Split\n\n{} groups; leaked groups: {} (must be 0); supporting chunks shared across splits: {}.\n",
        s.groups, s.leaked_groups, s.shared_supporting_chunks
    ));
    out.push_str(&format!(
        "\n## Evidence\n\n{} distinct chunks cited; {} samples cite generated code.\n\
         Per sample: min {}, median {}, max {}.\n",
        stats.distinct_evidence_chunks,
        stats.samples_with_generated_evidence,
        stats.evidence_per_sample.min,
        stats.evidence_per_sample.p50,
        stats.evidence_per_sample.max
    ));
    out.push_str(&format!(
        "\n## Lengths (characters)\n\n| turn | min | p50 | p95 | max |\n|---|---:|---:|---:|---:|\n\
         | user | {} | {} | {} | {} |\n| assistant | {} | {} | {} | {} |\n",
        stats.user_chars.min,
        stats.user_chars.p50,
        stats.user_chars.p95,
        stats.user_chars.max,
        stats.assistant_chars.min,
        stats.assistant_chars.p50,
        stats.assistant_chars.p95,
        stats.assistant_chars.max
    ));
    out
}
