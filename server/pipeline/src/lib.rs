//! One run of the pipeline: index -> analyse -> generate -> validate, dedup, split -> export.
//!
//! `acdp pipeline` and the language server's `acdp.exportDataset` both call [`run`]; they
//! differ only in how they show progress (an [`Observer`]: spinners on a terminal,
//! `$/progress` in an editor) and in the options they pass. Everything a run decides — which
//! samples, which split, when nothing useful was made — is decided here, once.
//!
//! The run is deterministic (seeded), so a rerun after a crash writes the same files; the
//! index reuses its stored state and the LLM generator its response cache, so a rerun does not
//! pay twice. A run that keeps no sample writes nothing and says why ([`PipelineError`]).
//! Depends on every stage crate up to `dataset`; not on the model (a token counter comes in as
//! a function) nor on any protocol.

mod llm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use acdp_analysis::{Analysis, analyze};
use acdp_config::ProjectConfig;
use acdp_dataset::review::{ReviewSummary, merge_reviewed};
use acdp_dataset::workspace_samples::{read_samples_file, samples_path};
use acdp_dataset::{DatasetOptions, WriteError, build_dataset, repo_info, write_dataset};
use acdp_generate::llm::{EndpointUnreachable, LlmJudge, LlmPlan, LlmReport};
use acdp_generate::{OfflineOptions, generate_offline, generated_chunks};
use acdp_index::{IndexError, IndexOptions, WorkspaceIndex, index_workspace_with_trees};
use acdp_sample::validate::check;

/// The stages of a run, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Index,
    Analyse,
    Generate,
    Dataset,
    Export,
}

impl Stage {
    /// The name progress reports show.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Index => "index",
            Stage::Analyse => "analyse",
            Stage::Generate => "generate",
            Stage::Dataset => "dataset",
            Stage::Export => "export",
        }
    }

    /// Rough share of a run done when the stage starts, for percentage progress.
    pub fn percent(self) -> u32 {
        match self {
            Stage::Index => 0,
            Stage::Analyse => 20,
            Stage::Generate => 40,
            Stage::Dataset => 70,
            Stage::Export => 85,
        }
    }
}

/// What a run tells whoever shows it. Every method has a default that ignores the event.
pub trait Observer {
    fn started(&self, _stage: Stage) {}
    /// Something the stage is doing now (e.g. how many requests go to which endpoint).
    fn progress(&self, _stage: Stage, _message: &str) {}
    /// The stage's result, one line.
    fn finished(&self, _stage: Stage, _summary: &str) {}
    /// A problem that did not stop the run (e.g. a file the analysis left out).
    fn warning(&self, _message: &str) {}
    /// What the LLM requests did, with the samples left after the path-fact check (and the
    /// judge), before validation.
    fn llm_finished(&self, _report: &LlmReport, _samples: usize) {}
    /// Whoever asked for the run no longer wants it (an editor cancelled the request): the run
    /// stops before its next stage, and never writes the dataset once this is true.
    fn cancelled(&self) -> bool {
        false
    }
}

/// The options of one run.
pub struct PipelineOptions<'a> {
    pub repo: PathBuf,
    pub out: PathBuf,
    /// The repository's `acdp.toml`, loaded by the caller (so it can resolve a tokenizer from
    /// it before any work).
    pub config: ProjectConfig,
    /// Which files, and whether to reuse the stored index state.
    pub index: IndexOptions,
    /// Seed, languages, requirements, generated code as evidence.
    pub offline: OfflineOptions,
    /// Write answers with the `[llm]` endpoint instead of the offline generator.
    pub llm: Option<LlmRun>,
    /// Validation (with an optional token limit), dedup threshold and split shares.
    pub dataset: DatasetOptions<'a>,
    /// The editor's samples and reviews to merge into the generated ones
    /// (`<repo>/.acdp/samples.jsonl` by default; nothing happens when the file is absent).
    pub workspace_samples: Option<PathBuf>,
}

impl PipelineOptions<'_> {
    /// The defaults of `acdp pipeline` for `repo`: seed 42, en and zh, offline, dev and test
    /// 10 % each, generated code cited only when `acdp.toml` says so. No token limit: a caller
    /// that resolves `[dataset]`'s tokenizer (`acdp_model::token_limit`) sets
    /// `dataset.validation.max_tokens`, as both shells do.
    pub fn new(repo: PathBuf, out: PathBuf, config: ProjectConfig) -> Self {
        let index = IndexOptions {
            settings: config.index.clone(),
            use_cache: true,
        };
        let offline = OfflineOptions {
            include_generated: config.analysis.include_generated,
            ..OfflineOptions::default()
        };
        PipelineOptions {
            workspace_samples: Some(samples_path(&repo, Some(&index))),
            repo,
            out,
            config,
            index,
            offline,
            llm: None,
            dataset: DatasetOptions::default(),
        }
    }
}

/// Overrides of `[llm]` for one run, from the command line.
#[derive(Clone, Debug, Default)]
pub struct LlmRun {
    /// Send at most this many requests (cached replies are free); a rerun resumes.
    pub max_requests: Option<usize>,
    /// Questions the model writes per topic (`questions_per_topic`).
    pub questions_per_topic: Option<usize>,
    pub judge: Option<LlmJudge>,
}

/// What a finished run wrote; also the result of the language server's `acdp.exportDataset`.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub out: PathBuf,
    /// Files written, `manifest.json` included.
    pub files: usize,
    pub samples: usize,
    /// Candidates validation rejected.
    pub rejected: usize,
    pub train: usize,
    pub dev: usize,
    pub test: usize,
    /// The LLM run's record, when the run used an endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_report: Option<LlmReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot start the async runtime for the LLM requests: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Llm(#[from] EndpointUnreachable),
    #[error("cannot write {path}")]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cancelled before the {} stage; nothing was written", .0.name())]
    Cancelled(Stage),
    #[error(
        "no sample passed validation, so nothing was written to {out} (an earlier dataset there \
         is left as it was): {why}; failed checks {failures:?}"
    )]
    NothingKept {
        out: PathBuf,
        why: String,
        failures: BTreeMap<String, usize>,
    },
    #[error("split leak check failed: {groups} groups on two sides")]
    Leak { groups: usize },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Runs the pipeline on `options.repo` and writes the dataset to `options.out`.
pub fn run(
    options: &PipelineOptions<'_>,
    observer: &dyn Observer,
) -> Result<RunSummary, PipelineError> {
    let (index, analysis) = index_and_analyse(options, observer)?;

    stage(Stage::Generate, observer)?;
    let generated = generated_chunks(&index);
    let repo = repo_info(&options.repo);
    let (samples, llm_report) = match &options.llm {
        Some(overrides) => {
            let (samples, report) = llm::generate(
                options, overrides, &index, &analysis, &generated, &repo, observer,
            )?;
            (samples, Some(report))
        }
        None => (
            generate_offline(&index, &analysis, &generated, &options.offline, &repo),
            None,
        ),
    };
    let (samples, review) = merge_workspace_samples(options, samples, observer);
    let reviewed = review.as_ref().map_or_else(String::new, |r| {
        format!(
            " (with the editor's samples: {} accepted, {} edited, {} rejected, {} not reviewed)",
            r.accepted, r.edited, r.rejected, r.pending
        )
    });
    observer.finished(
        Stage::Generate,
        &format!("{} candidate samples{reviewed}", samples.len()),
    );

    stage(Stage::Dataset, observer)?;
    let mut dataset = build_dataset(samples, &index, &generated, &options.dataset);
    dataset.stats.review = review;
    let s = &dataset.stats;
    let split = |name: &str| s.by_split.get(name).copied().unwrap_or(0);
    let over_limit = match s.validation.token_limit {
        Some(limit) => format!(
            " ({} over {limit} tokens)",
            s.validation
                .failures_by_check
                .get(check::LENGTH)
                .copied()
                .unwrap_or(0)
        ),
        None => String::new(),
    };
    observer.finished(
        Stage::Dataset,
        &format!(
            "{} kept: {} rejected by validation{over_limit}, {} exact + {} near duplicates; \
             train {} / dev {} / test {}",
            s.samples,
            s.validation.rejected,
            s.dedup.exact_duplicates,
            s.dedup.near_duplicates,
            split("train"),
            split("dev"),
            split("test"),
        ),
    );
    if s.samples == 0 {
        let why = match &llm_report {
            Some(report) => format!(
                "the LLM endpoint answered {} of {} requests usably ({:?})",
                report.successes, report.requests, report.rejected
            ),
            None if s.validation.checked > 0 => format!(
                "validation rejected all {} candidates",
                s.validation.checked
            ),
            None => "the analysis found nothing to ask about (no Java or mapper code with \
                     rules, flows or state machines?)"
                .to_owned(),
        };
        return Err(PipelineError::NothingKept {
            out: options.out.clone(),
            why,
            failures: s.validation.failures_by_check.clone().into_iter().collect(),
        });
    }
    if s.split.leaked_groups != 0 {
        return Err(PipelineError::Leak {
            groups: s.split.leaked_groups,
        });
    }
    let mut summary = RunSummary {
        out: options.out.clone(),
        files: 0,
        samples: s.samples,
        rejected: s.validation.rejected,
        train: split("train"),
        dev: split("dev"),
        test: split("test"),
        llm_report: None,
    };

    stage(Stage::Export, observer)?;
    let repo_root = options
        .repo
        .canonicalize()
        .unwrap_or_else(|_| options.repo.clone());
    summary.files = write_dataset(&options.out, &repo_root, &dataset)?;
    // After the dataset, so a run killed before the export leaves the previous run's report
    // beside the previous run's dataset.
    if let Some(report) = &llm_report {
        write_report(&options.out.join("llm_report.json"), report)?;
    }
    observer.finished(
        Stage::Export,
        &format!("{} files in {}", summary.files, options.out.display()),
    );
    summary.llm_report = llm_report;
    Ok(summary)
}

/// The generated samples with the editor's reviews applied ([`merge_reviewed`]); unchanged,
/// with no summary, when there is no editor sample file.
fn merge_workspace_samples(
    options: &PipelineOptions<'_>,
    generated: Vec<acdp_sample::Sample>,
    observer: &dyn Observer,
) -> (Vec<acdp_sample::Sample>, Option<ReviewSummary>) {
    let Some(path) = options.workspace_samples.as_deref().filter(|p| p.exists()) else {
        return (generated, None);
    };
    let (workspace, problem) = read_samples_file(path);
    if let Some(problem) = problem {
        observer.warning(&problem);
    }
    let (merged, summary) = merge_reviewed(generated, &workspace);
    (merged, Some(summary))
}

/// What `--llm --dry-run` prints: the requests a run would send, without sending any.
/// `count_tokens` counts prompt tokens with the user's tokenizer; without it they are
/// estimated.
pub fn plan_llm(
    options: &PipelineOptions<'_>,
    overrides: &LlmRun,
    count_tokens: Option<&dyn Fn(&str) -> usize>,
    observer: &dyn Observer,
) -> Result<LlmPlan, PipelineError> {
    let (index, analysis) = index_and_analyse(options, observer)?;
    observer.started(Stage::Generate);
    let generated = generated_chunks(&index);
    let plan = llm::plan(
        options,
        overrides,
        &index,
        &analysis,
        &generated,
        count_tokens,
    );
    observer.finished(Stage::Generate, &format!("{} requests planned", plan.jobs));
    Ok(plan)
}

fn index_and_analyse(
    options: &PipelineOptions<'_>,
    observer: &dyn Observer,
) -> Result<(WorkspaceIndex, Analysis), PipelineError> {
    stage(Stage::Index, observer)?;
    let mut index = index_workspace_with_trees(&options.repo, &options.index)?;
    observer.finished(
        Stage::Index,
        &format!(
            "{} files, {} chunks, {} skipped",
            index.stats.files, index.stats.chunks, index.stats.skipped
        ),
    );

    stage(Stage::Analyse, observer)?;
    let mut settings = options.config.analysis.clone();
    settings.include_generated |= options.offline.include_generated;
    let analysis = analyze(&index, &settings);
    index.drop_trees();
    observer.finished(
        Stage::Analyse,
        &format!(
            "{} rules, {} flows, {} state machines, {} domains",
            analysis.rules.len(),
            analysis.flows.len(),
            analysis.states.len(),
            analysis.domains.domains.len(),
        ),
    );
    // As `acdp analyze` does: a file left out of the analysis must not go unnoticed.
    for warning in &analysis.warnings {
        observer.warning(&warning.to_string());
    }
    Ok((index, analysis))
}

/// Starts `stage`, unless the run was cancelled.
fn stage(stage: Stage, observer: &dyn Observer) -> Result<(), PipelineError> {
    if observer.cancelled() {
        return Err(PipelineError::Cancelled(stage));
    }
    observer.started(stage);
    Ok(())
}

pub(crate) fn write_report(path: &Path, report: &LlmReport) -> Result<(), PipelineError> {
    let text = serde_json::to_string_pretty(report).expect("an LLM report serialises") + "\n";
    acdp_durable::write_atomic(path, text.as_bytes()).map_err(|source| PipelineError::Report {
        path: path.to_owned(),
        source,
    })
}
