//! The editor's samples in the export: what a person accepted, edited or rejected in the
//! review view overrides what the generator made.
//!
//! A sample's id is the hash of its task, language, question (or requirement) and evidence,
//! so "the same question on the same evidence" is "the same `sample_id`". [`merge_reviewed`]
//! puts an accepted or edited sample in place of the generated one with its id, keeps a
//! rejected one out (the generator makes it again on every run; the rejection stays), and
//! adds the editor's samples nobody reviewed yet when the generator did not make them (an LLM
//! answer, a design for a requirement the user typed). Pure: the pipeline reads the file.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use acdp_sample::{ReviewVerdict, Sample};

/// What the merge did, for stats.md.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReviewSummary {
    /// Samples in the editor's file.
    pub workspace_samples: usize,
    pub accepted: usize,
    pub edited: usize,
    pub rejected: usize,
    /// Not reviewed yet.
    pub pending: usize,
    /// Generated samples an accepted or edited one stands in for.
    pub replaced_generated: usize,
    /// Generated samples kept out because a person rejected them.
    pub rejected_generated: usize,
    /// Editor samples added beside the generated ones (reviewed or not).
    pub added: usize,
}

/// The generated samples with the editor's reviews applied, and what was done.
pub fn merge_reviewed(
    generated: Vec<Sample>,
    workspace: &[Sample],
) -> (Vec<Sample>, ReviewSummary) {
    let mut summary = ReviewSummary {
        workspace_samples: workspace.len(),
        ..ReviewSummary::default()
    };
    // The file holds one sample per id; should a hand edit repeat one, the last line wins.
    let reviewed: HashMap<&str, &Sample> = workspace
        .iter()
        .filter(|s| s.review.is_some())
        .map(|s| (s.sample_id.as_str(), s))
        .collect();
    for sample in reviewed.values() {
        match sample.review.as_ref().map(|r| r.verdict) {
            Some(ReviewVerdict::Accepted) => summary.accepted += 1,
            Some(ReviewVerdict::Edited) => summary.edited += 1,
            Some(ReviewVerdict::Rejected) => summary.rejected += 1,
            None => {}
        }
    }
    let mut merged = Vec::with_capacity(generated.len() + workspace.len());
    let mut generated_ids: HashSet<String> = HashSet::new();
    for sample in generated {
        generated_ids.insert(sample.sample_id.clone());
        match reviewed.get(sample.sample_id.as_str()) {
            Some(person) if is_rejected(person) => summary.rejected_generated += 1,
            Some(_) => summary.replaced_generated += 1,
            None => merged.push(sample),
        }
    }
    let mut taken: HashSet<&str> = HashSet::new();
    for sample in workspace {
        let id = sample.sample_id.as_str();
        let person = reviewed.get(id).copied();
        if person.is_none() {
            summary.pending += 1;
        }
        if !taken.insert(id) || person.is_some_and(is_rejected) {
            continue;
        }
        let generated_too = generated_ids.contains(id);
        match person {
            // In place of the generated twin (counted above), or beside the generated ones.
            Some(person) => {
                summary.added += usize::from(!generated_too);
                merged.push(person.clone());
            }
            // The generator's copy is the current one.
            None if generated_too => {}
            None => {
                summary.added += 1;
                merged.push(sample.clone());
            }
        }
    }
    (merged, summary)
}

fn is_rejected(sample: &Sample) -> bool {
    sample
        .review
        .as_ref()
        .is_some_and(|r| r.verdict == ReviewVerdict::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use acdp_sample::{
        GeneratorInfo, RepoInfo, Review, SCHEMA_VERSION, SampleBody, SampleLanguage, SampleSource,
    };

    fn sample(id: &str, answer: &str, verdict: Option<ReviewVerdict>) -> Sample {
        Sample {
            schema_version: SCHEMA_VERSION,
            sample_id: id.to_owned(),
            language: SampleLanguage::En,
            domain: "order".to_owned(),
            body: SampleBody::Qa {
                question: format!("question of {id}?"),
                answer: answer.to_owned(),
            },
            evidence: Vec::new(),
            trace: Vec::new(),
            generator: GeneratorInfo {
                name: "offline".to_owned(),
                version: "1".to_owned(),
                model: None,
            },
            repo: RepoInfo::default(),
            source: SampleSource::default(),
            judgement: None,
            review: verdict.map(|verdict| Review {
                verdict,
                at: "2026-12-06T16:00:00Z".to_owned(),
                reviewer: None,
            }),
        }
    }

    fn answers(samples: &[Sample]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = samples
            .iter()
            .map(|s| match &s.body {
                SampleBody::Qa { answer, .. } => (s.sample_id.clone(), answer.clone()),
                SampleBody::Design { .. } => unreachable!(),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn reviews_replace_keep_out_and_add() {
        let generated = vec![
            sample("qa-a", "generated a", None),
            sample("qa-b", "generated b", None),
            sample("qa-c", "generated c", None),
            sample("qa-d", "generated d", None),
        ];
        let workspace = vec![
            sample("qa-a", "generated a", Some(ReviewVerdict::Accepted)),
            sample("qa-b", "corrected b", Some(ReviewVerdict::Edited)),
            sample("qa-c", "generated c", Some(ReviewVerdict::Rejected)),
            // Made in the editor by the same generator, not reviewed: the generator's copy.
            sample("qa-d", "older d", None),
            // Made only in the editor (an LLM answer), not reviewed, and one rejected.
            sample("qa-e", "llm e", None),
            sample("qa-f", "llm f", Some(ReviewVerdict::Rejected)),
        ];
        let (merged, summary) = merge_reviewed(generated, &workspace);
        assert_eq!(
            answers(&merged),
            [
                ("qa-a", "generated a"),
                ("qa-b", "corrected b"),
                ("qa-d", "generated d"),
                ("qa-e", "llm e"),
            ]
            .map(|(id, a)| (id.to_owned(), a.to_owned()))
        );
        let reviewed: Vec<_> = merged.iter().map(|s| s.review.is_some()).collect();
        assert_eq!(reviewed.iter().filter(|r| **r).count(), 2);
        assert_eq!(
            summary,
            ReviewSummary {
                workspace_samples: 6,
                accepted: 1,
                edited: 1,
                rejected: 2,
                pending: 2,
                replaced_generated: 2,
                rejected_generated: 1,
                added: 1,
            }
        );
    }

    #[test]
    fn without_editor_samples_nothing_changes() {
        let generated = vec![sample("qa-a", "a", None), sample("qa-b", "b", None)];
        let (merged, summary) = merge_reviewed(generated.clone(), &[]);
        assert_eq!(merged, generated);
        assert_eq!(summary, ReviewSummary::default());
    }
}
