//! The commands behind the code actions on Java code: `acdp.generateQa`,
//! `acdp.generateDesign` and `acdp.showRules`. Generation picks the requests citing the chunk
//! ([`acdp_generate::qa_citing_chunk`], [`acdp_generate::design_through_chunk`]) on the
//! folder's analysis snapshot; the offline generator answers them, or, when the editor names an
//! LLM endpoint (`llm.baseUrl`), the model does, and also writes questions about the topics
//! that include the chunk ([`acdp_generate::topics_citing_chunk`]). Every candidate is
//! validated with [`acdp_sample::validate_sample`] against the snapshot's index (model
//! output also against the path facts, [`acdp_generate::llm::keep_valid`]); the server
//! appends the kept ones to `.acdp/samples.jsonl` (`acdp_dataset::workspace_samples`).

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;

use crate::session::{FileKey, Session};
use crate::settings::LlmEndpointSettings;
use crate::snapshot::AnalysisSnapshot;
use acdp_analysis::Rule;
use acdp_config::ProjectConfig;
use acdp_dataset::repo_info;
use acdp_generate::llm::{LlmConfig, LlmJob, keep_valid};
use acdp_generate::{
    OfflineOptions, Written, design_through_chunk, offline_generator, qa_citing_chunk,
    topics_citing_chunk,
};
use acdp_index::ChunkId;
use acdp_sample::{Sample, SampleLanguage, ValidationOptions, validate_sample};

/// The argument of `acdp.generateQa` and `acdp.showRules`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChunkArgument {
    pub chunk_id: ChunkId,
}

/// The argument of `acdp.generateDesign`: the editor asks the user for the requirement and adds
/// it to the code action's `{chunk_id}`.
#[derive(Clone, Debug, Deserialize)]
pub struct DesignArgument {
    pub chunk_id: ChunkId,
    pub requirement: Option<String>,
}

/// What to generate for a chunk.
#[derive(Clone, Debug)]
pub enum SampleTask {
    Qa,
    Design { requirement: String },
}

/// Validated candidates for one chunk.
#[derive(Debug)]
pub struct GeneratedSamples {
    pub symbol: String,
    pub kept: Vec<Sample>,
    pub rejected: usize,
}

/// The result of `acdp.generateQa` / `acdp.generateDesign`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateResult {
    /// Ids of the samples appended to `.acdp/samples.jsonl`, in order.
    pub added: Vec<String>,
    /// Candidates that failed validation.
    pub rejected: usize,
    /// Valid samples that were in the file already (same `sample_id`).
    pub unchanged: usize,
}

/// Where a chunk lives and whether the analysis has its current text.
pub struct ChunkState {
    pub key: FileKey,
    pub symbol: String,
    /// The analysed text of the chunk differs from the editor's (or the disk's): generating
    /// now would cite stale code.
    pub analysis_outdated: bool,
}

/// Finds the chunk and compares it with the folder's analysis.
pub fn chunk_state(session: &Session, id: &ChunkId) -> jsonrpc::Result<ChunkState> {
    let Some((key, _, chunk)) = session.find_chunk(id) else {
        return Err(jsonrpc::Error::invalid_params(format!(
            "no chunk {id} in the workspace: it may have been edited away; ask for the code actions again"
        )));
    };
    let analysed = session
        .snapshot(key.workspace)
        .and_then(|s| s.chunk(id).map(|c| c.content_hash.clone()));
    Ok(ChunkState {
        symbol: chunk.symbol.clone(),
        analysis_outdated: analysed.as_ref() != Some(&chunk.content_hash),
        key,
    })
}

/// The requests citing one chunk, with the offline generator's answers, and the options they
/// were made with.
fn written_for_chunk(
    snapshot: &AnalysisSnapshot,
    chunk_id: &ChunkId,
    task: &SampleTask,
    language: Option<SampleLanguage>,
) -> jsonrpc::Result<(String, OfflineOptions, Vec<Written>)> {
    let Some(chunk) = snapshot.chunk(chunk_id) else {
        return Err(jsonrpc::Error::invalid_params(format!(
            "chunk {chunk_id} is not in the analysed index; save the file and try again"
        )));
    };
    let mut options = OfflineOptions {
        include_generated: snapshot.settings.include_generated,
        ..OfflineOptions::default()
    };
    if let Some(language) = language {
        options.languages = vec![language];
    }
    let index = &snapshot.index;
    let analysis = &snapshot.analysis;
    let written = match task {
        SampleTask::Qa => qa_citing_chunk(index, analysis, &snapshot.generated, &options, chunk_id),
        SampleTask::Design { requirement } => design_through_chunk(
            index,
            analysis,
            &snapshot.generated,
            &options,
            chunk_id,
            requirement,
        ),
    };
    Ok((chunk.symbol.clone(), options, written))
}

/// Generates and validates the samples for one chunk (blocking: run it off the session lock).
/// `language`: only samples in that language (the `sampleLanguage` setting); `None`: en and zh.
pub fn generate_for_chunk(
    snapshot: &AnalysisSnapshot,
    chunk_id: &ChunkId,
    task: &SampleTask,
    language: Option<SampleLanguage>,
) -> jsonrpc::Result<GeneratedSamples> {
    let (symbol, _, written) = written_for_chunk(snapshot, chunk_id, task, language)?;
    let index = &snapshot.index;
    let repo = repo_info(&index.root);
    let validation = ValidationOptions::default();
    let mut kept = Vec::new();
    let mut rejected = 0;
    for candidate in written {
        let sample = candidate.into_sample(offline_generator(), &repo);
        if validate_sample(&sample, index, &validation).passed {
            kept.push(sample);
        } else {
            rejected += 1;
        }
    }
    kept.sort_by(|a, b| a.sample_id.cmp(&b.sample_id));
    Ok(GeneratedSamples {
        symbol,
        kept,
        rejected,
    })
}

/// The LLM settings for a folder: `[llm]` of its acdp.toml with the editor's endpoint, model
/// and key variable over it. `None` when the editor names no endpoint (the offline generator
/// writes the samples then); `Err` when the folder's acdp.toml cannot be read.
pub fn llm_config(
    root: &std::path::Path,
    endpoint: &LlmEndpointSettings,
) -> Option<Result<LlmConfig, String>> {
    let base_url = endpoint.base_url.as_ref()?;
    Some(
        ProjectConfig::load(root)
            .map_err(|err| err.to_string())
            .map(|config| {
                let mut settings = config.llm;
                if let Some(key) = &endpoint.api_key_env {
                    settings.api_key_env = key.clone();
                }
                // The editor's endpoint and model win over the file and the environment.
                let mut config = LlmConfig::from_settings(&settings);
                config.base_urls = acdp_config::BaseUrls::parse_list(base_url)
                    .0
                    .into_iter()
                    .map(|url| url.trim_end_matches('/').to_owned())
                    .collect();
                if let Some(model) = &endpoint.model {
                    config.model = model.clone();
                }
                config
            }),
    )
}

/// The jobs an LLM gets for one chunk: the requests citing it, and for QA the topics that
/// include it (the model writes `questions_per_topic` questions about each).
pub fn llm_jobs_for_chunk(
    snapshot: &AnalysisSnapshot,
    chunk_id: &ChunkId,
    task: &SampleTask,
    language: Option<SampleLanguage>,
    questions_per_topic: usize,
) -> jsonrpc::Result<(String, Vec<LlmJob>)> {
    let (symbol, options, written) = written_for_chunk(snapshot, chunk_id, task, language)?;
    let mut jobs: Vec<LlmJob> = written.into_iter().map(|w| w.request.into()).collect();
    if matches!(task, SampleTask::Qa) {
        jobs.extend(
            topics_citing_chunk(
                &snapshot.index,
                &snapshot.analysis,
                &snapshot.generated,
                &options,
                questions_per_topic,
                chunk_id,
            )
            .into_iter()
            .map(LlmJob::from),
        );
    }
    Ok((symbol, jobs))
}

/// Keeps the model's samples that pass validation and the path-fact check.
pub fn keep_llm_samples(
    snapshot: &AnalysisSnapshot,
    symbol: String,
    samples: Vec<Sample>,
    report: &mut acdp_generate::llm::LlmReport,
) -> GeneratedSamples {
    let total = samples.len();
    let (mut kept, _) = keep_valid(
        samples,
        &snapshot.index,
        Some(&snapshot.analysis),
        &ValidationOptions::default(),
        report,
    );
    kept.sort_by(|a, b| a.sample_id.cmp(&b.sample_id));
    GeneratedSamples {
        symbol,
        rejected: total - kept.len(),
        kept,
    }
}

/// Why nothing was generated, in words for `window/showMessage`.
pub fn nothing_generated(task: &SampleTask, symbol: &str) -> String {
    match task {
        SampleTask::Qa => format!(
            "acdp: no QA samples for {symbol}: the analysis found no rule, flow or state transition citing it"
        ),
        SampleTask::Design { .. } => {
            format!("acdp: no design sample for {symbol}: no flow that writes data runs through it")
        }
    }
}

/// `acdp.showRules`: the rules whose `chunk_ids` contain the chunk (the analysis' objects).
pub fn show_rules(session: &Session, id: &ChunkId) -> jsonrpc::Result<Vec<Rule>> {
    let Some((key, _, chunk)) = session.find_chunk(id) else {
        return Err(jsonrpc::Error::invalid_params(format!(
            "no chunk {id} in the workspace"
        )));
    };
    let Some(snapshot) = session.snapshot(key.workspace) else {
        return Err(not_analysed());
    };
    Ok(snapshot
        .chunk_analysis(chunk)
        .rules
        .into_iter()
        .cloned()
        .collect())
}

/// The error while the folder's analysis is not ready.
pub fn not_analysed() -> jsonrpc::Error {
    crate::error_codes::error(
        crate::error_codes::NOT_ANALYSED,
        "acdp: the workspace is still being analysed; try again when indexing ends",
    )
}
