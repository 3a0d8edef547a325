//! `acdp.exportDataset`: [`acdp_pipeline::run`] (the same run as `acdp pipeline`, with its
//! defaults: seed 42, languages en and zh, offline, dev and test 10 % each) for the first
//! workspace folder, on a blocking thread, with a `$/progress` report per stage.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc;

use super::indexing::lock;
use super::log;
use super::progress;
use super::requests::execute_command::ExportArgument;
use super::session::Session;
use acdp_config::ProjectConfig;
use acdp_model::token_limit::TokenLimit;
use acdp_pipeline::{Observer, PipelineOptions, RunSummary, Stage};
use acdp_sample::validate::TokenCounter;

fn failed(message: String) -> jsonrpc::Error {
    super::error_codes::error(
        super::error_codes::EXPORT_FAILED,
        format!("acdp.exportDataset: {message}"),
    )
}

/// Runs the export; progress is reported when the client supports it.
pub async fn export_dataset(
    client: &Client,
    session: &Arc<Mutex<Session>>,
    argument: ExportArgument,
) -> jsonrpc::Result<RunSummary> {
    static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
    let (root, with_progress) = {
        let session = lock(session);
        let root = session.roots().next().map(PathBuf::from);
        (root, session.settings().work_done_progress)
    };
    let Some(root) = root else {
        return Err(failed("no workspace folder to export".to_owned()));
    };
    let out = match argument.out {
        Some(out) if out.is_absolute() => out,
        Some(out) => root.join(out),
        None => root.join(".acdp").join("dataset"),
    };
    let accepted = if with_progress {
        let n = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        progress::create(client, format!("acdp/export/{n}")).await
    } else {
        None
    };
    let progress = match accepted {
        Some(token) => Some(
            client
                .progress(token, "acdp: exporting the dataset")
                .with_percentage(0)
                .with_message(format!("{} -> {}", root.display(), out.display()))
                .begin()
                .await,
        ),
        None => None,
    };
    let report = async |message: String, percent: u32| {
        log::write("INFO", &format!("acdp.exportDataset: {message}"));
        if let Some(progress) = &progress {
            progress.report_with_message(message, percent).await;
        }
    };

    // The run reports from its blocking thread; this task forwards to the client in order.
    // When the request is cancelled ($/cancelRequest drops this future), the guard tells the
    // run, which stops before its next stage and so never writes over `out` afterwards.
    let (events, mut received) = mpsc::unbounded_channel::<(String, u32)>();
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancelled.clone());
    let run_root = root.clone();
    let run_out = out.clone();
    let run = tokio::task::spawn_blocking(move || {
        let config = ProjectConfig::load(&run_root).map_err(|e| e.to_string())?;
        // `[dataset]`'s tokenizer and limit, as `acdp pipeline` applies them.
        let limit = TokenLimit::resolve(None, None, &config.dataset, &run_root)
            .map_err(|e| e.to_string())?;
        let counter = limit.as_ref().map(|l| (l.counter(), l.max_tokens));
        let mut options = PipelineOptions::new(run_root, run_out, config);
        options.dataset.validation.max_tokens = counter
            .as_ref()
            .map(|(count, max)| (count as TokenCounter, *max));
        let observer = Forward { events, cancelled };
        acdp_pipeline::run(&options, &observer).map_err(|e| e.to_string())
    });
    while let Some((message, percent)) = received.recv().await {
        report(message, percent).await;
    }
    let result = match run.await {
        Ok(result) => result,
        Err(err) => Err(format!("stopped: {err}")),
    };

    let end = match &result {
        Ok(s) => format!(
            "{} samples (train {} / dev {} / test {}) in {}",
            s.samples,
            s.train,
            s.dev,
            s.test,
            s.out.display()
        ),
        Err(err) => format!("failed: {err}"),
    };
    log::write("INFO", &format!("acdp.exportDataset: {end}"));
    if let Some(progress) = progress {
        progress.finish_with_message(end).await;
    }
    result.map_err(failed)
}

/// Sends each stage's start and result to the progress report; a closed channel (the
/// request's task is gone) drops them.
struct Forward {
    events: mpsc::UnboundedSender<(String, u32)>,
    cancelled: Arc<AtomicBool>,
}

impl Observer for Forward {
    fn started(&self, stage: Stage) {
        let _ = self.events.send((stage.name().to_owned(), stage.percent()));
    }

    fn finished(&self, stage: Stage, summary: &str) {
        let _ = self
            .events
            .send((format!("{}: {summary}", stage.name()), stage.percent()));
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn warning(&self, message: &str) {
        log::write("WARN", &format!("acdp.exportDataset: {message}"));
    }
}

/// Sets the flag when dropped: the export request's future is gone (cancelled, or finished).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
