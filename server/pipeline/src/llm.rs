//! The generate stage with an LLM endpoint: the jobs (the offline generator's requests to
//! answer, and topics the model writes questions about), the requests, the path-fact check,
//! the optional judge pass, and the run's record beside the response cache.

use std::collections::HashSet;
use std::path::PathBuf;

use acdp_analysis::Analysis;
use acdp_generate::llm::{
    LlmConfig, LlmJob, LlmJudge, LlmPlan, LlmReport, drop_unfaithful_calls, generate_with_llm,
    judge_samples, keep_valid, plan as plan_jobs,
};
use acdp_generate::{topic_requests, write_offline};
use acdp_index::{ChunkId, WorkspaceIndex};
use acdp_sample::{RepoInfo, Sample};

use super::{LlmRun, Observer, PipelineError, PipelineOptions, Stage, write_report};

/// The endpoint settings of `[llm]` with the run's overrides.
fn config(options: &PipelineOptions<'_>, overrides: &LlmRun) -> LlmConfig {
    let mut llm = LlmConfig::from_settings(&options.config.llm);
    llm.max_requests = overrides.max_requests;
    if let Some(questions) = overrides.questions_per_topic {
        llm.questions_per_topic = questions;
    }
    if let Some(judge) = overrides.judge {
        llm.judge = judge;
    }
    llm
}

/// Answers to the offline generator's questions, then topics to write questions about.
fn jobs(
    options: &PipelineOptions<'_>,
    llm: &LlmConfig,
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
) -> Vec<LlmJob> {
    let mut jobs: Vec<LlmJob> = write_offline(index, analysis, generated, &options.offline)
        .into_iter()
        .map(|written| written.request.into())
        .collect();
    jobs.extend(
        topic_requests(
            index,
            analysis,
            generated,
            &options.offline,
            llm.questions_per_topic,
        )
        .into_iter()
        .map(LlmJob::from),
    );
    jobs
}

/// `<repo>/<state dir>/llm-cache`: replies are cached with the index state.
fn cache_dir(options: &PipelineOptions<'_>) -> PathBuf {
    options
        .repo
        .join(&options.index.settings.state_dir)
        .join("llm-cache")
}

pub(crate) fn plan(
    options: &PipelineOptions<'_>,
    overrides: &LlmRun,
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    count_tokens: Option<&dyn Fn(&str) -> usize>,
) -> LlmPlan {
    let llm = config(options, overrides);
    let jobs = jobs(options, &llm, index, analysis, generated);
    let repo = acdp_dataset::repo_info(&options.repo);
    plan_jobs(jobs, &llm, &cache_dir(options), &repo, count_tokens)
}

pub(crate) fn generate(
    options: &PipelineOptions<'_>,
    overrides: &LlmRun,
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    repo: &RepoInfo,
    observer: &dyn Observer,
) -> Result<(Vec<Sample>, LlmReport), PipelineError> {
    let llm = config(options, overrides);
    let jobs = jobs(options, &llm, index, analysis, generated);
    let cache_dir = cache_dir(options);
    observer.progress(
        Stage::Generate,
        &format!(
            "{} requests to {} ({})",
            jobs.len(),
            llm.endpoints_text(),
            llm.model
        ),
    );
    let runtime = tokio::runtime::Runtime::new().map_err(PipelineError::Runtime)?;
    let (samples, mut report) =
        runtime.block_on(generate_with_llm(jobs, &llm, &cache_dir, repo))?;
    let mut samples = drop_unfaithful_calls(samples, analysis, &mut report);
    if llm.judge != LlmJudge::Off {
        // Judge only what validation keeps, within what is left of the request budget.
        let (valid, _) = keep_valid(
            samples,
            index,
            None,
            &options.dataset.validation,
            &mut report,
        );
        let mut judging = llm.clone();
        judging.max_requests = llm.max_requests.map(|n| n.saturating_sub(report.sent));
        samples = match runtime.block_on(judge_samples(
            valid.clone(),
            &judging,
            &cache_dir,
            repo,
            &mut report,
        )) {
            Ok(judged) => judged,
            Err(stopped) => {
                // The samples stand without verdicts.
                observer.warning(&format!("the judge pass stopped: {stopped}"));
                valid
            }
        };
    }
    observer.llm_finished(&report, samples.len());
    // The run's record, kept with the cache whether or not a dataset is written.
    write_report(&cache_dir.with_file_name("llm-report.json"), &report)?;
    Ok((samples, report))
}
