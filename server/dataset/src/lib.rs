//! The dataset stage: samples in, training files out.
//!
//! Samples (the `sample` crate's schema, checked by its validation) go in; [`dedup`] drops exact and near repeats; [`split`] makes leak-free
//! train/dev/test splits; [`export`] writes the formats fine-tuning tools read; [`stats`] reports;
//! [`write`] puts a finished dataset in a folder; [`eval_cases`] is the question file `acdp eval`
//! reads and `write` derives from the test split. [`build_dataset`] runs them in that order.
//! [`workspace_samples`] is the editor's sample file and [`review`] merges what a person
//! reviewed there into the generated samples. Depends on `index` and `sample`.

pub mod dedup;
pub mod eval_cases;
pub mod export;
pub mod review;
pub mod split;
pub mod stats;
pub mod workspace_samples;
pub mod write;

use std::collections::HashSet;

pub use split::{Split, SplitOptions};
pub use write::{WriteError, repo_info, write_dataset};

use acdp_index::{ChunkId, WorkspaceIndex};
use acdp_sample::{Sample, ValidationOptions, ValidationReport, validate_sample};
use stats::{DatasetStats, ValidationSummary};

/// Settings of [`build_dataset`].
#[derive(Clone, Copy)]
pub struct DatasetOptions<'a> {
    pub validation: ValidationOptions<'a>,
    /// Estimated Jaccard similarity at which two samples count as near duplicates.
    pub near_duplicate_threshold: f64,
    pub split: SplitOptions,
}

impl Default for DatasetOptions<'_> {
    fn default() -> Self {
        DatasetOptions {
            validation: ValidationOptions::default(),
            near_duplicate_threshold: 0.85,
            split: SplitOptions::default(),
        }
    }
}

/// A finished dataset: kept samples (sorted by id), their splits, rejections and the report.
pub struct Dataset {
    pub samples: Vec<Sample>,
    pub assignment: Vec<Split>,
    pub rejected: Vec<ValidationReport>,
    pub stats: DatasetStats,
}

/// Validates, deduplicates, splits and reports. Failing samples are dropped and counted.
pub fn build_dataset(
    mut samples: Vec<Sample>,
    index: &WorkspaceIndex,
    generated_chunks: &HashSet<ChunkId>,
    options: &DatasetOptions<'_>,
) -> Dataset {
    samples.sort_by(|a, b| a.sample_id.cmp(&b.sample_id));
    samples.dedup_by(|a, b| a.sample_id == b.sample_id);
    let mut summary = ValidationSummary {
        checked: samples.len(),
        token_limit: options.validation.max_tokens.map(|(_, limit)| limit),
        ..Default::default()
    };
    let mut rejected = Vec::new();
    let mut valid = Vec::with_capacity(samples.len());
    for sample in samples {
        let report = validate_sample(&sample, index, &options.validation);
        if report.passed {
            valid.push(sample);
        } else {
            for check in report.checks.iter().filter(|c| !c.passed) {
                *summary
                    .failures_by_check
                    .entry(check.check.to_owned())
                    .or_default() += 1;
            }
            rejected.push(report);
        }
    }
    summary.passed = valid.len();
    summary.rejected = rejected.len();
    // Of near repeats the first is kept: a sample a person reviewed goes before generated ones.
    valid.sort_by_key(|s| s.review.is_none());
    let (mut kept, dedup) = dedup::deduplicate(valid, options.near_duplicate_threshold);
    kept.sort_by(|a, b| a.sample_id.cmp(&b.sample_id));
    let (assignment, split) = split::split_samples(&kept, &options.split);
    let stats = stats::dataset_stats(&kept, &assignment, summary, dedup, split, generated_chunks);
    Dataset {
        samples: kept,
        assignment,
        rejected,
        stats,
    }
}
