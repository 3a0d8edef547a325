//! The `LanguageServer` implementation: lock the session, call the method's function in
//! [`super::requests`] or [`super::notifications`] inside a panic guard, and talk to the
//! client. Edits are applied before the handler's first `.await`, so `didChange`
//! notifications apply in the order they arrive.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService};

use super::error_codes;
use super::indexing::{index_in_background, lock, refresh_in_background};
use super::llm_generation::{self, LlmGenerations, LlmRequest};
use super::notifications::{self, ChunksChanged, Outcome};
use super::requests::ask::{self, AskParams, AskResult};
use super::requests::chunk::{self, ChunkInfo, ChunkParams};
use super::requests::code_action::{self, ACDP_ACTION_KIND};
use super::requests::execute_command::{self, AcdpCommand};
use super::requests::hover;
use super::requests::review_commands::{self, EditCheck};
use super::requests::sample_commands::{self, GenerateResult, SampleTask};
use super::requests::samples::{self, SamplesParams};
use super::session::{InitializationOptions, Session, Settings};
use super::stale_evidence::stale_evidence;
use super::training::{self, TrainingRuns};
use super::transport::{MALFORMED_MESSAGE, guard_input};
use super::{convert, log};
use acdp_model::answer::Task;
use acdp_model::{ModelCache, ModelSource};

/// Hover answers by (chunk_id, content_hash, model): the same code gets the same answer.
type HoverAnswers = Arc<Mutex<HashMap<(String, String, ModelSource), String>>>;

/// Hover answers kept before the oldest are dropped (all at once: they are cheap to lose).
const MAX_HOVER_ANSWERS: usize = 512;

/// `window/workDoneProgress/cancel`, which tower-lsp-server's trait does not route.
const WORK_DONE_PROGRESS_CANCEL: &str = "window/workDoneProgress/cancel";

/// Options from the command line (`acdp lsp --log-file`).
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Overrides the log file of `initializationOptions.logFile` and the default.
    pub log_file: Option<PathBuf>,
}

/// Serves LSP on stdin/stdout until `exit`. Errors when the client left without `shutdown`
/// (the specification's exit code 1).
pub async fn serve_stdio(options: ServeOptions) -> anyhow::Result<()> {
    log::install_panic_hook();
    if serve(tokio::io::stdin(), tokio::io::stdout(), options).await {
        Ok(())
    } else {
        anyhow::bail!("the client closed the connection without a shutdown request")
    }
}

/// Serves LSP on any pair of byte streams until `exit` or the end of `input`, and returns
/// whether a `shutdown` request came first. The same service, transport guard and methods as
/// [`serve_stdio`], without the process-wide panic hook: this is the seam through which the
/// fuzz targets in `server/fuzz` feed raw client bytes to the server in-process.
pub async fn serve<I, O>(input: I, output: O, options: ServeOptions) -> bool
where
    I: tokio::io::AsyncRead + Unpin + Send + 'static,
    O: tokio::io::AsyncWrite + Unpin,
{
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = shutdown.clone();
    let (service, socket) = LspService::build(move |client| AcdpServer::new(client, options, flag))
        .custom_method(chunk::METHOD, AcdpServer::chunk)
        .custom_method(samples::METHOD, AcdpServer::samples)
        .custom_method(ask::METHOD, AcdpServer::ask)
        .custom_method(
            WORK_DONE_PROGRESS_CANCEL,
            AcdpServer::work_done_progress_cancel,
        )
        .custom_method(MALFORMED_MESSAGE, AcdpServer::malformed_message)
        .finish();
    tower_lsp_server::Server::new(guard_input(input), output, socket)
        .serve(service)
        .await;
    shutdown.load(Ordering::SeqCst)
}

pub struct AcdpServer {
    client: Client,
    session: Arc<Mutex<Session>>,
    options: ServeOptions,
    shutdown: Arc<AtomicBool>,
    /// Warnings from `initialize`, sent once the client may receive `window/logMessage`.
    startup_warnings: Mutex<Vec<String>>,
    /// Bumped by each save or watched-file change; a refresh runs when it stops moving.
    refresh_epoch: Arc<AtomicU64>,
    /// The model `acdp/ask` and hover answer with: loaded on first use, kept.
    models: Arc<Mutex<ModelCache>>,
    hover_answers: HoverAnswers,
    training: Arc<TrainingRuns>,
    /// Code-action generations through an LLM endpoint, for their cancel buttons.
    generations: Arc<LlmGenerations>,
}

impl AcdpServer {
    fn new(client: Client, options: ServeOptions, shutdown: Arc<AtomicBool>) -> Self {
        AcdpServer {
            client,
            session: Arc::new(Mutex::new(Session::new(Vec::new(), Settings::default()))),
            options,
            shutdown,
            startup_warnings: Mutex::new(Vec::new()),
            refresh_epoch: Arc::new(AtomicU64::new(0)),
            models: Arc::new(Mutex::new(ModelCache::default())),
            hover_answers: Arc::new(Mutex::new(HashMap::new())),
            training: Arc::new(TrainingRuns::default()),
            generations: Arc::new(LlmGenerations::default()),
        }
    }

    /// `acdp/ask`: retrieval and the model run on a blocking thread; `$/cancelRequest` stops
    /// the wait (the answer being generated is finished and dropped).
    pub async fn ask(&self, params: AskParams) -> jsonrpc::Result<AskResult> {
        let question = params.question.trim().to_owned();
        if question.is_empty() {
            return Err(jsonrpc::Error::invalid_params(
                "acdp/ask needs a question: {\"question\": \"How is an order cancelled?\"}",
            ));
        }
        let (snapshots, source, repo_name) = {
            let session = lock(&self.session);
            (
                session.snapshots(),
                session.model_source(),
                ask::repo_name(&session),
            )
        };
        if snapshots.is_empty() {
            return Err(error_codes::error(
                error_codes::NOT_ANALYSED,
                "acdp/ask: the workspace is still being indexed and analysed; ask again when \
                 the indexing progress ends",
            ));
        }
        let models = self.models.clone();
        let job = tokio::task::spawn_blocking(move || {
            guard(ask::METHOD, || {
                let mut options = ask::ask_options();
                options.repo_name = repo_name;
                let retrieved = ask::retrieve(&snapshots, &question, options.top_k);
                let exists = |name: &str| ask::exists_in(&snapshots, name);
                let task = match params.task {
                    ask::AskTask::Question => Task::Question,
                    ask::AskTask::Design => Task::Design { exists: &exists },
                };
                let answer = ask::answer_with_model(
                    &models,
                    source.as_ref(),
                    task,
                    &question,
                    &retrieved.chunks,
                    &options,
                )
                .map_err(|err| error_codes::error(error_codes::MODEL_FAILED, err.to_string()))?;
                Ok((answer, retrieved))
            })
        });
        let (answer, retrieved) = job.await.map_err(|err| jsonrpc::Error {
            code: ErrorCode::InternalError,
            message: format!("acdp/ask stopped: {err}").into(),
            data: None,
        })??;
        log::write(
            "INFO",
            &format!(
                "acdp/ask: validated {}, {} citation(s)",
                answer.validated,
                answer.citations.len()
            ),
        );
        let session = lock(&self.session);
        Ok(ask::to_result(&session, answer, &retrieved))
    }

    /// `window/workDoneProgress/cancel`: stops the training run or the LLM generation that
    /// reports under the token.
    pub async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        if self.generations.cancel(&params.token) {
            self.log(
                MessageType::INFO,
                "acdp: LLM generation cancelled; replies so far stay cached".to_owned(),
            )
            .await;
        } else if self.training.cancel(&params.token) {
            self.log(
                MessageType::INFO,
                "acdp.train: cancel asked; stopping after the current step".to_owned(),
            )
            .await;
        }
    }

    /// The hover's model answer about the chunk under the cursor: from the cache, else
    /// generated on a blocking thread. A cancelled hover stops waiting; the answer still lands
    /// in the cache for the next hover.
    async fn hover_answer(&self, question: hover::HoverQuestion, source: ModelSource) -> String {
        let key = (
            question.key.0.clone(),
            question.key.1.clone(),
            source.clone(),
        );
        if let Some(section) = self
            .hover_answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return section.clone();
        }
        let (snapshots, repo_name) = {
            let session = lock(&self.session);
            (session.snapshots(), ask::repo_name(&session))
        };
        let models = self.models.clone();
        let answers = self.hover_answers.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut options = ask::hover_options();
            options.repo_name = repo_name;
            let query = format!("{} {}", question.chunk.symbol, question.question);
            let neighbours = ask::retrieve(&snapshots, &query, options.top_k);
            let chunks: Vec<_> = std::iter::once(question.chunk.clone())
                .chain(
                    neighbours
                        .chunks
                        .into_iter()
                        .filter(|c| c.chunk_id != question.chunk.chunk_id),
                )
                .take(options.top_k)
                .collect();
            let answered = guard("hover answer", || {
                ask::answer_with_model(
                    &models,
                    Some(&source),
                    Task::Question,
                    &question.question,
                    &chunks,
                    &options,
                )
                .map_err(|err| jsonrpc::Error::invalid_params(err.to_string()))
            });
            match answered {
                Ok(answer) => {
                    let section = hover::answer_section(&answer);
                    let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner());
                    if answers.len() >= MAX_HOVER_ANSWERS {
                        answers.clear();
                    }
                    answers.insert(key, section.clone());
                    section
                }
                Err(err) => format!("**Answer** (acdp model): {}", err.message),
            }
        });
        job.await
            .unwrap_or_else(|err| format!("**Answer** (acdp model): stopped: {err}"))
    }

    /// Forgets the loaded model and the hover answers (settings changed, adapter retrained).
    /// The model is dropped on a blocking thread: an answer in progress holds it.
    fn forget_model(models: &Arc<Mutex<ModelCache>>, answers: &HoverAnswers) {
        answers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let models = models.clone();
        tokio::task::spawn_blocking(move || {
            models.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
    }

    /// `acdp/samples`.
    pub async fn samples(&self, params: Option<SamplesParams>) -> jsonrpc::Result<Value> {
        let params = params.unwrap_or_default();
        let mut session = lock(&self.session);
        let problems = session.sync_samples();
        for problem in problems {
            log::write("WARN", &problem);
        }
        let found = guard(samples::METHOD, || samples::samples(&session, &params))?;
        to_json(&found)
    }

    /// Reindexes and reanalyses quietly once saves and file changes pause (never per
    /// keystroke: `didChange` does not call this).
    fn schedule_refresh(&self) {
        let epoch = self.refresh_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        let latest = self.refresh_epoch.clone();
        let client = self.client.clone();
        let session = self.session.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REFRESH_AFTER).await;
            if latest.load(Ordering::SeqCst) == epoch {
                refresh_in_background(client, session).await;
            }
        });
    }

    /// Publishes the stale-evidence diagnostics of the document at `uri`.
    async fn publish_stale_evidence(&self, uri: &Uri) {
        let params = {
            let mut session = lock(&self.session);
            for problem in session.sync_samples() {
                log::write("WARN", &problem);
            }
            let Some(key) = session.locate(uri) else {
                return;
            };
            guard("stale evidence", || Ok(stale_evidence(&session, &key)))
                .ok()
                .flatten()
        };
        if let Some(params) = params {
            self.client
                .publish_diagnostics(params.uri, params.diagnostics, params.version)
                .await;
        }
    }

    /// `acdp.generateQa` and `acdp.generateDesign`: generate for one chunk off the session
    /// lock, validate, append the kept samples to `.acdp/samples.jsonl`, tell the user.
    async fn generate_samples(
        &self,
        chunk_id: acdp_index::ChunkId,
        task: SampleTask,
    ) -> jsonrpc::Result<GenerateResult> {
        let language = lock(&self.session)
            .settings()
            .options
            .settings
            .sample_language;
        let (workspace, generation) = self.generate_for_chunk(chunk_id, &task, language).await?;
        let kept = generation.kept.len();
        let appended = {
            let mut session = lock(&self.session);
            match session.workspace_mut(workspace) {
                Some(workspace) => workspace.samples.append(generation.kept),
                None => Ok(Vec::new()),
            }
        };
        let added = appended.map_err(|err| {
            error_codes::error(error_codes::SAMPLES_NOT_WRITABLE, format!("acdp: {err}"))
        })?;
        let result = GenerateResult {
            unchanged: kept - added.len(),
            added,
            rejected: generation.rejected,
        };
        let message = if kept == 0 && result.rejected == 0 {
            sample_commands::nothing_generated(&task, &generation.symbol)
        } else {
            format!(
                "acdp: {} sample(s) added to .acdp/samples.jsonl for {} ({} already there, {} rejected by validation)",
                result.added.len(),
                generation.symbol,
                result.unchanged,
                result.rejected
            )
        };
        log::write("INFO", &message);
        self.client.show_message(MessageType::INFO, message).await;
        Ok(result)
    }

    /// `acdp.regenerateSample`: generates again from the sample's first evidence chunk, as
    /// the code action that made it did, and puts the new sample with the same id in place
    /// of the old one, not reviewed. The generator may no longer make it (the code changed so
    /// the question no longer applies): that is an error telling to reject it.
    async fn regenerate_sample(&self, sample_id: String) -> jsonrpc::Result<acdp_sample::Sample> {
        let method = review_commands::REGENERATE_SAMPLE;
        let (chunk_id, task, language) = {
            let mut session = lock(&self.session);
            for problem in session.sync_samples() {
                log::write("WARN", &problem);
            }
            let (_, sample) = guard(method, || {
                review_commands::find_sample(&session, &sample_id)
            })?;
            let task = match &sample.body {
                acdp_sample::SampleBody::Qa { .. } => SampleTask::Qa,
                acdp_sample::SampleBody::Design { requirement, .. } => SampleTask::Design {
                    requirement: requirement.clone(),
                },
            };
            let Some(evidence) = sample.evidence.first() else {
                return Err(jsonrpc::Error::invalid_params(format!(
                    "{sample_id} has no evidence to generate from"
                )));
            };
            (evidence.chunk_id.clone(), task, sample.language)
        };
        let (workspace, generation) = self
            .generate_for_chunk(chunk_id, &task, Some(language))
            .await?;
        let Some(fresh) = generation
            .kept
            .into_iter()
            .find(|s| s.sample_id == sample_id)
        else {
            return Err(jsonrpc::Error::invalid_params(format!(
                "the generator no longer makes {sample_id} from the code of {} as it is now; \
                 reject it to keep it out of the export",
                generation.symbol
            )));
        };
        let replaced = {
            let mut session = lock(&self.session);
            match session.workspace_mut(workspace) {
                Some(workspace) => workspace.samples.replace(fresh.clone()),
                None => Ok(()),
            }
        };
        replaced.map_err(|err| {
            error_codes::error(error_codes::SAMPLES_NOT_WRITABLE, format!("acdp: {err}"))
        })?;
        let message = format!("acdp: {sample_id} regenerated from {}", generation.symbol);
        log::write("INFO", &message);
        self.client.show_message(MessageType::INFO, message).await;
        Ok(fresh)
    }

    /// Generates and validates samples for one chunk, off the session lock, with the
    /// editor's LLM endpoint when one is set: the folder of the chunk and what was kept.
    async fn generate_for_chunk(
        &self,
        chunk_id: acdp_index::ChunkId,
        task: &SampleTask,
        language: Option<acdp_sample::SampleLanguage>,
    ) -> jsonrpc::Result<(usize, sample_commands::GeneratedSamples)> {
        let method = match task {
            SampleTask::Qa => execute_command::GENERATE_QA,
            SampleTask::Design { .. } => execute_command::GENERATE_DESIGN,
        };
        let mut state = self.read(method, |s| sample_commands::chunk_state(s, &chunk_id))?;
        if state.analysis_outdated {
            // Saved a moment ago, or changed on disk: analyse now rather than cite old code.
            refresh_in_background(self.client.clone(), self.session.clone()).await;
            state = self.read(method, |s| sample_commands::chunk_state(s, &chunk_id))?;
        }
        if state.analysis_outdated {
            return Err(jsonrpc::Error::invalid_params(format!(
                "{} has unsaved changes; save the file so the samples cite the code as it is",
                state.symbol
            )));
        }
        let snapshot = lock(&self.session)
            .snapshot(state.key.workspace)
            .cloned()
            .ok_or_else(sample_commands::not_analysed)?;
        let (endpoint, with_progress) = {
            let session = lock(&self.session);
            let settings = session.settings();
            (
                settings.options.settings.llm.clone(),
                settings.work_done_progress,
            )
        };
        let llm = sample_commands::llm_config(&snapshot.index.root, &endpoint)
            .transpose()
            .map_err(|err| jsonrpc::Error::invalid_params(format!("acdp: {err}")))?;
        let generation = if let Some(config) = llm {
            let request = LlmRequest {
                snapshot,
                chunk_id,
                task: task.clone(),
                language,
                config,
                with_progress,
            };
            llm_generation::generate(&self.client, &self.generations, request).await?
        } else {
            let task = task.clone();
            tokio::task::spawn_blocking(move || {
                guard(method, || {
                    sample_commands::generate_for_chunk(&snapshot, &chunk_id, &task, language)
                })
            })
            .await
            .map_err(|err| jsonrpc::Error {
                code: ErrorCode::InternalError,
                message: format!("{method} stopped: {err}").into(),
                data: None,
            })??
        };
        Ok((state.key.workspace, generation))
    }

    /// Checks an edit file (`.acdp/review/<sample_id>.json`) the editor opened or saved:
    /// publishes its problems as diagnostics, and tells the user when a save recorded the
    /// sample as edited. Any other document: nothing.
    async fn check_sample_edit(&self, uri: &Uri, text: Option<String>, save: bool) {
        let text = match text {
            Some(text) => text,
            None => match uri.to_file_path().map(|p| std::fs::read_to_string(&p)) {
                Some(Ok(text)) => text,
                _ => return,
            },
        };
        let checked = {
            let mut session = lock(&self.session);
            let _ = session.sync_samples();
            review_commands::check_edit_file(&mut session, uri, &text, save, review_commands::now())
        };
        match checked {
            None => {}
            Some(Ok(EditCheck {
                diagnostics,
                recorded,
            })) => {
                self.client
                    .publish_diagnostics(diagnostics.uri, diagnostics.diagnostics, None)
                    .await;
                if let Some(sample) = recorded {
                    let message = format!(
                        "acdp: {} saved as edited in .acdp/samples.jsonl",
                        sample.sample_id
                    );
                    log::write("INFO", &message);
                    self.client.show_message(MessageType::INFO, message).await;
                }
            }
            Some(Err(err)) => {
                self.log(MessageType::WARNING, err.message.to_string())
                    .await
            }
        }
    }

    /// `acdp/chunk`.
    pub async fn chunk(&self, params: ChunkParams) -> jsonrpc::Result<Option<ChunkInfo>> {
        self.settle(&params.uri).await;
        self.read(chunk::METHOD, |session| chunk::chunk(session, &params))
    }

    /// A message the transport guard could not read (see [`super::transport`]).
    pub async fn malformed_message(&self, params: Value) {
        let problem = params["problem"].as_str().unwrap_or("malformed message");
        self.log(
            MessageType::WARNING,
            format!("malformed message: {problem}"),
        )
        .await;
    }

    /// Settles the open document at `uri` before a request reads it, so answers always equal a
    /// cold parse of the editor's text; the chunk changes that brings are reported.
    async fn settle(&self, uri: &Uri) {
        let params = settle_document(&self.session, uri, None);
        if let Some(params) = params {
            self.client.send_notification::<ChunksChanged>(params).await;
        }
    }

    /// Runs a request's function on the session, turning a panic into an internal error.
    fn read<T>(
        &self,
        method: &str,
        f: impl FnOnce(&Session) -> jsonrpc::Result<T>,
    ) -> jsonrpc::Result<T> {
        let session = lock(&self.session);
        guard(method, || f(&session))
    }

    /// Runs a notification's function on the session, synchronously: callers invoke it before
    /// their first `.await`.
    fn mutate(&self, method: &str, f: impl FnOnce(&mut Session) -> Outcome) -> Outcome {
        let mut session = lock(&self.session);
        guard(method, || Ok(f(&mut session))).unwrap_or_default()
    }

    async fn report(&self, outcome: Outcome) {
        for (warning, message) in outcome.log {
            self.log(
                if warning {
                    MessageType::WARNING
                } else {
                    MessageType::INFO
                },
                message,
            )
            .await;
        }
        if let Some(params) = outcome.chunks_changed {
            let uri = params.uri.clone();
            self.client.send_notification::<ChunksChanged>(params).await;
            self.publish_stale_evidence(&uri).await;
        }
    }

    async fn log(&self, typ: MessageType, message: String) {
        let level = match typ {
            MessageType::ERROR => "ERROR",
            MessageType::WARNING => "WARN",
            _ => "INFO",
        };
        log::write(level, &message);
        self.client.log_message(typ, message).await;
    }

    fn register_file_watchers(&self) {
        let client = self.client.clone();
        tokio::spawn(async move {
            let watchers = ["**/*.java", "**/*.xml"]
                .into_iter()
                .map(|glob| FileSystemWatcher {
                    glob_pattern: GlobPattern::String(glob.to_owned()),
                    kind: None,
                })
                .collect();
            let options = DidChangeWatchedFilesRegistrationOptions { watchers };
            let registration = Registration {
                id: "acdp-watch-sources".to_owned(),
                method: "workspace/didChangeWatchedFiles".to_owned(),
                register_options: serde_json::to_value(options).ok(),
            };
            if let Err(err) = client.register_capability(vec![registration]).await {
                log::write("WARN", &format!("file watcher registration failed: {err}"));
            }
        });
    }
}

/// How long saves and watched-file changes must pause before the folders are reindexed and
/// analysed again.
const REFRESH_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// How long typing must pause before a document with syntax errors is parsed cold.
const SETTLE_AFTER: std::time::Duration = std::time::Duration::from_millis(300);

/// Settles the document at `uri` (if it is still at `version`, when given) and returns the
/// `acdp/chunksChanged` to send.
fn settle_document(
    session: &Mutex<Session>,
    uri: &Uri,
    version: Option<i32>,
) -> Option<notifications::ChunksChangedParams> {
    let mut session = lock(session);
    let key = session.locate(uri)?;
    let current = session.document_version(&key)?;
    if version.is_some_and(|v| v != current) {
        return None;
    }
    let delta = guard("settle", || Ok(session.settle_document(&key)))
        .ok()
        .flatten()?;
    (!delta.is_empty())
        .then(|| notifications::ChunksChangedParams::new(uri.clone(), current, delta))
}

/// Catches a panic in `f`, logs it and answers with an internal error naming the method.
fn guard<T>(method: &str, f: impl FnOnce() -> jsonrpc::Result<T>) -> jsonrpc::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = log::panic_message(payload.as_ref());
            let where_ =
                log::path().map_or_else(|| "stderr".to_owned(), |path| path.display().to_string());
            log::write("ERROR", &format!("{method} panicked: {message}"));
            Err(jsonrpc::Error {
                code: ErrorCode::InternalError,
                message: format!(
                    "acdp: internal error in {method}: {message} (details in {where_}; please report it)"
                )
                .into(),
                data: None,
            })
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> jsonrpc::Result<Value> {
    serde_json::to_value(value).map_err(|err| jsonrpc::Error {
        code: ErrorCode::InternalError,
        message: err.to_string().into(),
        data: None,
    })
}

fn workspace_roots(params: &InitializeParams) -> Vec<PathBuf> {
    if let Some(folders) = &params.workspace_folders
        && !folders.is_empty()
    {
        return folders
            .iter()
            .filter_map(|f| convert::folder_path(&f.uri))
            .collect();
    }
    #[allow(deprecated)]
    let root = params
        .root_uri
        .as_ref()
        .and_then(convert::folder_path)
        .or_else(|| params.root_path.as_ref().map(PathBuf::from));
    root.into_iter().collect()
}

impl LanguageServer for AcdpServer {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let mut warnings = Vec::new();
        let options = match params.initialization_options.clone() {
            None | Some(Value::Null) => InitializationOptions::default(),
            Some(value) => serde_json::from_value(value).unwrap_or_else(|err| {
                warnings.push(format!(
                    "initializationOptions ignored: {err} (expected {{\"modelDir\", \"adapter\", \"llm\": {{\"baseUrl\", \"model\", \"apiKeyEnv\"}}, \"sampleLanguage\": \"en\"|\"zh\", \"logFile\", \"enableDebugCommands\"}}; see docs/lsp.md)"
                ));
                InitializationOptions::default()
            }),
        };
        let roots = workspace_roots(&params);
        let log_file = self
            .options
            .log_file
            .clone()
            .or_else(|| options.log_file.clone())
            .or_else(|| roots.first().map(|root| root.join(".acdp").join("lsp.log")));
        if let Some(path) = &log_file
            && let Err(err) = log::open(path)
        {
            warnings.push(format!(
                "cannot write the log file {}: {err}; logging to stderr",
                path.display()
            ));
        }
        if roots.is_empty() {
            warnings
                .push("no workspace folder: acdp indexes nothing and ignores documents".to_owned());
        }
        log::write(
            "INFO",
            &format!("acdp {} starting on {roots:?}", env!("CARGO_PKG_VERSION")),
        );
        log::write(
            "INFO",
            &format!("settings: {}", options.settings.describe()),
        );
        let settings = Settings::new(options, &params.capabilities);
        *lock(&self.session) = Session::new(roots, settings);
        *self
            .startup_warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = warnings;

        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::new(ACDP_ACTION_KIND)]),
                        ..CodeActionOptions::default()
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: execute_command::COMMANDS
                        .iter()
                        .map(|c| (*c).to_owned())
                        .collect(),
                    ..ExecuteCommandOptions::default()
                }),
                experimental: Some(serde_json::json!({
                    "acdpChunk": true,
                    "acdpChunksChanged": true,
                    "acdpSamples": true
                })),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "acdp".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let warnings = std::mem::take(
            &mut *self
                .startup_warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for warning in warnings {
            self.log(MessageType::WARNING, warning).await;
        }
        if lock(&self.session).settings().watch_files_dynamically {
            self.register_file_watchers();
        }
        let client = self.client.clone();
        let session = self.session.clone();
        tokio::spawn(index_in_background(client, session, "acdp: indexing"));
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        self.shutdown.store(true, Ordering::SeqCst);
        log::write("INFO", "shutdown");
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let (uri, text) = (
            params.text_document.uri.clone(),
            params.text_document.text.clone(),
        );
        let outcome = self.mutate("textDocument/didOpen", |session| {
            notifications::did_open::did_open(session, params)
        });
        self.report(outcome).await;
        self.check_sample_edit(&uri, Some(text), false).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        let version = params.text_document.version;
        // No `.await` before this line: see the module doc.
        let outcome = self.mutate("textDocument/didChange", |session| {
            notifications::did_change::did_change(session, params)
        });
        let unsettled = {
            let session = lock(&self.session);
            session
                .locate(&uri)
                .is_some_and(|key| session.document_unsettled(&key))
        };
        if unsettled {
            let client = self.client.clone();
            let session = self.session.clone();
            tokio::spawn(async move {
                tokio::time::sleep(SETTLE_AFTER).await;
                if let Some(params) = settle_document(&session, &uri, Some(version)) {
                    client.send_notification::<ChunksChanged>(params).await;
                }
            });
        }
        self.report(outcome).await;
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let (uri, text) = (params.text_document.uri.clone(), params.text.clone());
        let outcome = self.mutate("textDocument/didSave", |session| {
            notifications::did_save::did_save(session, params)
        });
        self.schedule_refresh();
        self.report(outcome).await;
        self.check_sample_edit(&uri, text, true).await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let outcome = self.mutate("textDocument/didClose", |session| {
            notifications::did_close::did_close(session, params)
        });
        self.report(outcome).await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let outcome = self.mutate("workspace/didChangeWatchedFiles", |session| {
            notifications::did_change_watched_files::did_change_watched_files(session, params)
        });
        self.schedule_refresh();
        self.report(outcome).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let before = lock(&self.session).model_source();
        let outcome = self.mutate("workspace/didChangeConfiguration", |session| {
            notifications::did_change_configuration::did_change_configuration(session, params)
        });
        if lock(&self.session).model_source() != before {
            Self::forget_model(&self.models, &self.hover_answers);
        }
        self.report(outcome).await;
    }

    async fn hover(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        self.settle(&params.text_document_position_params.text_document.uri)
            .await;
        let (found, asked) = {
            let session = lock(&self.session);
            let found = guard("textDocument/hover", || hover::hover(&session, &params))?;
            // Without a model the hover is the index's and the analysis' facts, nothing more.
            let asked = match (&found, session.model_source()) {
                (Some(_), Some(source)) => {
                    hover::hover_question(&session, &params).map(|q| (q, source))
                }
                _ => None,
            };
            (found, asked)
        };
        let (Some(mut found), Some((question, source))) = (found.clone(), asked) else {
            return Ok(found);
        };
        let section = self.hover_answer(question, source).await;
        hover::add_section(&mut found, &section);
        Ok(Some(found))
    }

    async fn code_action(
        &self,
        params: CodeActionParams,
    ) -> jsonrpc::Result<Option<CodeActionResponse>> {
        self.settle(&params.text_document.uri).await;
        self.read("textDocument/codeAction", |session| {
            code_action::code_actions(session, &params)
        })
    }

    async fn execute_command(
        &self,
        params: ExecuteCommandParams,
    ) -> jsonrpc::Result<Option<LSPAny>> {
        let debug = lock(&self.session).settings().options.enable_debug_commands;
        let command = execute_command::parse_command(&params, debug)?;
        match command {
            AcdpCommand::Reindex => {
                let summary = index_in_background(
                    self.client.clone(),
                    self.session.clone(),
                    "acdp: reindexing",
                )
                .await;
                to_json(&summary).map(Some)
            }
            AcdpCommand::ShowChunk(target) => {
                if let execute_command::ShowChunkTarget::Position(at) = &target {
                    self.settle(&at.uri).await;
                }
                let chunk = self.read(execute_command::SHOW_CHUNK, |session| {
                    execute_command::show_chunk(session, &target)
                })?;
                to_json(&chunk).map(Some)
            }
            AcdpCommand::GenerateQa(arg) => {
                let result = self.generate_samples(arg.chunk_id, SampleTask::Qa).await?;
                to_json(&result).map(Some)
            }
            AcdpCommand::GenerateDesign(arg) => {
                let Some(requirement) = arg
                    .requirement
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                else {
                    return Err(jsonrpc::Error::invalid_params(
                        "acdp.generateDesign needs a requirement: the editor asks the user for one and passes {\"chunk_id\": …, \"requirement\": \"…\"}",
                    ));
                };
                let task = SampleTask::Design { requirement };
                let result = self.generate_samples(arg.chunk_id, task).await?;
                to_json(&result).map(Some)
            }
            AcdpCommand::ShowRules(arg) => {
                let rules = self.read(execute_command::SHOW_RULES, |session| {
                    sample_commands::show_rules(session, &arg.chunk_id)
                })?;
                to_json(&rules).map(Some)
            }
            AcdpCommand::Eval(arg) => {
                let result =
                    super::evaluation::run_eval(&self.client, &self.session, &self.models, arg)
                        .await?;
                to_json(&result).map(Some)
            }
            AcdpCommand::ExportDataset(arg) => {
                let summary =
                    super::export::export_dataset(&self.client, &self.session, arg).await?;
                to_json(&summary).map(Some)
            }
            AcdpCommand::Train(arg) => {
                let (models, answers) = (self.models.clone(), self.hover_answers.clone());
                let report = training::train(
                    &self.client,
                    &self.session,
                    &self.training,
                    arg,
                    move || Self::forget_model(&models, &answers),
                )
                .await?;
                let message = if report.cancelled {
                    format!(
                        "acdp: training cancelled after step {}; continue with {{\"resume\": true}}",
                        report.steps
                    )
                } else {
                    format!(
                        "acdp: trained {} steps; adapter in {} (set acdp.adapter to answer with it)",
                        report.steps,
                        report.adapter_dir.display()
                    )
                };
                self.client.show_message(MessageType::INFO, message).await;
                to_json(&report).map(Some)
            }
            AcdpCommand::ReviewSample(arg) => {
                let sample = {
                    let mut session = lock(&self.session);
                    for problem in session.sync_samples() {
                        log::write("WARN", &problem);
                    }
                    guard(review_commands::REVIEW_SAMPLE, || {
                        review_commands::review_sample(&mut session, &arg, review_commands::now())
                    })?
                };
                to_json(&sample).map(Some)
            }
            AcdpCommand::EditSample(arg) => {
                let file = {
                    let mut session = lock(&self.session);
                    let _ = session.sync_samples();
                    guard(review_commands::EDIT_SAMPLE, || {
                        review_commands::write_edit_file(&mut session, &arg.sample_id)
                    })?
                };
                to_json(&file).map(Some)
            }
            AcdpCommand::RegenerateSample(arg) => {
                let sample = self.regenerate_sample(arg.sample_id).await?;
                to_json(&sample).map(Some)
            }
            AcdpCommand::DebugPanic => self.read(execute_command::DEBUG_PANIC, |_| {
                panic!("acdp.debug.panic: a deliberate panic to test recovery")
            }),
            AcdpCommand::DebugSleep { ms } => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                Ok(None)
            }
        }
    }
}
