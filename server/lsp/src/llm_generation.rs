//! The code actions' samples written by an LLM endpoint (when the editor sets `llm.baseUrl`):
//! the same jobs `acdp pipeline --llm` sends for the chunk ([`sample_commands::llm_jobs_for_chunk`]),
//! through [`acdp_generate::llm::generate_with_llm_observed`] with the folder's response
//! cache, reported as work-done progress ("3/7 requests") with a cancel button. Cancelling
//! drops the run: requests in flight are abandoned, replies already cached stay cached, so
//! asking again resumes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::{NumberOrString, ProgressToken};
use tower_lsp_server::{Bounded, Cancellable, Client, OngoingProgress};

use super::progress;
use super::requests::sample_commands::{self, GeneratedSamples, SampleTask};
use super::snapshot::AnalysisSnapshot;
use acdp_config::ProjectConfig;
use acdp_dataset::repo_info;
use acdp_generate::llm::{LlmConfig, generate_with_llm_observed};
use acdp_index::ChunkId;
use acdp_sample::SampleLanguage;

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Generations in progress, by progress token: what wakes them to stop.
#[derive(Default)]
pub struct LlmGenerations {
    running: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
}

impl LlmGenerations {
    /// `window/workDoneProgress/cancel`: stops the generation with this token. Returns whether
    /// one had it.
    pub fn cancel(&self, token: &ProgressToken) -> bool {
        let NumberOrString::String(token) = token else {
            return false;
        };
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.get(token) {
            Some(stop) => {
                stop.notify_one();
                true
            }
            None => false,
        }
    }

    fn start<'r>(&'r self, token: &str) -> Registration<'r> {
        let stop = Arc::new(tokio::sync::Notify::new());
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_owned(), stop.clone());
        Registration {
            runs: self,
            token: token.to_owned(),
            stop,
        }
    }
}

/// A generation's entry in [`LlmGenerations`], removed when dropped: also when the request is
/// cancelled with `$/cancelRequest` and its future dropped mid-run.
struct Registration<'r> {
    runs: &'r LlmGenerations,
    token: String,
    stop: Arc<tokio::sync::Notify>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.runs
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
    }
}

/// The run's progress report, ended however the request ends: when the request is dropped
/// (`$/cancelRequest`) the end is sent from a task of its own, so the editor's spinner stops.
struct ProgressGuard(Option<OngoingProgress<Bounded, Cancellable>>);

impl ProgressGuard {
    async fn finish(mut self) {
        if let Some(progress) = self.0.take() {
            progress.finish().await;
        }
    }
}

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        if let Some(progress) = self.0.take() {
            tokio::spawn(progress.finish());
        }
    }
}

/// The endpoint could not be used (a cancelled run answers `-32800`, RequestCancelled).
fn error(message: String) -> jsonrpc::Error {
    crate::error_codes::error(crate::error_codes::LLM_FAILED, message)
}

/// What the endpoint writes for one chunk, validated and checked against the path facts.
pub struct LlmRequest {
    pub snapshot: std::sync::Arc<AnalysisSnapshot>,
    pub chunk_id: ChunkId,
    pub task: SampleTask,
    pub language: Option<SampleLanguage>,
    pub config: LlmConfig,
    /// Whether the client takes work-done progress.
    pub with_progress: bool,
}

pub async fn generate(
    client: &Client,
    runs: &LlmGenerations,
    request: LlmRequest,
) -> jsonrpc::Result<GeneratedSamples> {
    let LlmRequest {
        snapshot,
        chunk_id,
        task,
        language,
        config,
        with_progress,
    } = request;
    // Building the topics reads the whole analysis: off the async threads.
    let questions = config.questions_per_topic;
    let (snapshot, symbol, jobs) = tokio::task::spawn_blocking(move || {
        sample_commands::llm_jobs_for_chunk(&snapshot, &chunk_id, &task, language, questions)
            .map(|(symbol, jobs)| (snapshot, symbol, jobs))
    })
    .await
    .map_err(|err| error(format!("acdp: preparing the requests stopped: {err}")))??;
    if jobs.is_empty() {
        return Ok(GeneratedSamples {
            symbol,
            kept: Vec::new(),
            rejected: 0,
        });
    }
    let root = snapshot.index.root.clone();
    let state_dir = ProjectConfig::load(&root)
        .map(|c| c.index.state_dir)
        .map_err(|err| error(format!("acdp: {err}")))?;
    let cache_dir = root.join(state_dir).join("llm-cache");
    let repo = repo_info(&root);
    let token = format!(
        "acdp/generate/{}",
        NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)
    );
    // Registered before the progress begins, so a cancel as early as the button is
    // shown finds the run; removed however the request ends (even when dropped).
    let registration = runs.start(&token);
    let accepted = match with_progress {
        true => progress::create(client, token.clone()).await,
        false => None,
    };
    let total = jobs.len();
    let progress = ProgressGuard(match accepted {
        Some(progress_token) => Some(
            client
                .progress(
                    progress_token,
                    format!("acdp: {} writes samples", config.model),
                )
                .with_percentage(0)
                .with_message(format!("{symbol}: 0/{total} requests"))
                .with_cancel_button()
                .begin()
                .await,
        ),
        None => None,
    });
    let stop = registration.stop.clone();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let on_done = move |done: usize, _total: usize| {
        let _ = done_tx.send(done);
    };
    let run = generate_with_llm_observed(jobs, &config, &cache_dir, &repo, &on_done);
    tokio::pin!(run);
    let outcome = loop {
        tokio::select! {
            result = &mut run => break Some(result),
            () = stop.notified() => break None,
            Some(done) = done_rx.recv() => {
                if let Some(progress) = &progress.0 {
                    let percent = (done * 100 / total.max(1)).min(100) as u32;
                    progress
                        .report_with_message(
                            format!("{symbol}: {done}/{total} requests"),
                            percent,
                            None,
                        )
                        .await;
                }
            }
        }
    };
    drop(registration);
    progress.finish().await;
    match outcome {
        None => Err(jsonrpc::Error {
            code: ErrorCode::RequestCancelled,
            message: format!(
                "acdp: generating with {} was cancelled; replies received so far are cached \
                 in {} and a new request resumes from them",
                config.model,
                cache_dir.display()
            )
            .into(),
            data: None,
        }),
        Some(Err(unreachable)) => Err(error(format!("acdp: {unreachable}"))),
        Some(Ok((samples, mut report))) => {
            let generated =
                sample_commands::keep_llm_samples(&snapshot, symbol, samples, &mut report);
            super::log::write(
                "INFO",
                &format!(
                    "llm: {} requests, {} from cache, {} samples, {} kept, rejected {:?}",
                    report.requests,
                    report.cache_hits,
                    report.samples,
                    generated.kept.len(),
                    report.rejected
                ),
            );
            Ok(generated)
        }
    }
}
