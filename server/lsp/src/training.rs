//! `acdp.train`: LoRA training on the workspace dataset (`.acdp/dataset`, as
//! `acdp.exportDataset` writes it) with the configured base model, in the background, with a
//! `$/progress` report per optimizer step. The same library call as `acdp train`
//! ([`acdp_model::train::train_on_dataset`]) on a blocking thread.
//!
//! Cancelling: `window/workDoneProgress/cancel` on the run's token sets a flag the step
//! callback reads, so training stops after the current step and checkpoints it
//! (`checkpoint-NNNNNN/`, which `"resume": true` continues from). `$/cancelRequest` only stops
//! the wait for the result; the run, and its progress bar, go on to the end. One run at a time.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{NumberOrString, ProgressToken};

use super::indexing::lock;
use super::log;
use super::progress;
use super::session::Session;
use acdp_model::train::{DatasetTraining, StepLog, TrainOptions, TrainReport, train_on_dataset};
use acdp_model::{LoraConfig, default_device};

/// The optional argument of `acdp.train`: `acdp train`'s options, with its defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct TrainArgument {
    /// Dataset directory; default `<first folder>/.acdp/dataset`; relative to the folder.
    pub data: Option<PathBuf>,
    /// Output directory; default `<first folder>/.acdp/adapter`; relative to the folder.
    pub out: Option<PathBuf>,
    pub epochs: Option<usize>,
    pub accum: Option<usize>,
    pub max_len: Option<usize>,
    pub lr: Option<f64>,
    pub rank: Option<usize>,
    pub alpha: Option<f64>,
    pub warmup: Option<usize>,
    pub checkpoint_every: Option<usize>,
    pub seed: Option<u64>,
    /// Continue from the latest checkpoint in `out`.
    pub resume: bool,
}

impl TrainArgument {
    fn options(&self) -> TrainOptions {
        let defaults = TrainOptions::default();
        let lora = LoraConfig {
            rank: self.rank.unwrap_or(defaults.lora.rank),
            alpha: self.alpha.unwrap_or(defaults.lora.alpha),
            ..defaults.lora.clone()
        };
        TrainOptions {
            lora,
            epochs: self.epochs.unwrap_or(defaults.epochs),
            accumulation: self.accum.unwrap_or(defaults.accumulation),
            max_len: self.max_len.unwrap_or(defaults.max_len),
            learning_rate: self.lr.unwrap_or(defaults.learning_rate),
            warmup_steps: self.warmup.unwrap_or(defaults.warmup_steps),
            checkpoint_every: self.checkpoint_every.unwrap_or(defaults.checkpoint_every),
            seed: self.seed.unwrap_or(defaults.seed),
            ..defaults
        }
    }
}

/// Runs in progress, by progress token: the flag that asks the run to stop.
#[derive(Default)]
pub struct TrainingRuns {
    running: Mutex<Option<(Option<String>, Arc<AtomicBool>)>>,
}

impl TrainingRuns {
    /// `window/workDoneProgress/cancel`: asks the run with this token to stop after its current
    /// step. Returns whether a run had that token.
    pub fn cancel(&self, token: &ProgressToken) -> bool {
        let token = token_text(token);
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.as_ref() {
            Some((Some(t), stop)) if *t == token => {
                stop.store(true, Ordering::SeqCst);
                true
            }
            _ => false,
        }
    }

    fn start(&self, token: Option<String>) -> Option<Arc<AtomicBool>> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        *running = Some((token, stop.clone()));
        Some(stop)
    }

    fn finish(&self) {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn token_text(token: &ProgressToken) -> String {
    match token {
        NumberOrString::String(s) => s.clone(),
        NumberOrString::Number(n) => n.to_string(),
    }
}

use crate::error_codes::{JOB_FAILED, NO_MODEL, error};

fn within(root: &Path, path: Option<PathBuf>, default: &str) -> PathBuf {
    match path {
        Some(p) if p.is_absolute() => p,
        Some(p) => root.join(p),
        None => root.join(".acdp").join(default),
    }
}

/// Trains in a task of its own and waits for it: the report, or an error. `on_done` runs when
/// a run ends (not when it is cancelled): the server drops answers of the old adapter.
pub async fn train(
    client: &Client,
    session: &Arc<Mutex<Session>>,
    runs: &Arc<TrainingRuns>,
    argument: TrainArgument,
    on_done: impl FnOnce() + Send + 'static,
) -> jsonrpc::Result<TrainReport> {
    static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
    let (root, source, with_progress) = {
        let session = lock(session);
        let root = session.roots().next().map(PathBuf::from);
        (
            root,
            session.model_source(),
            session.settings().work_done_progress,
        )
    };
    let Some(root) = root else {
        return Err(error(
            JOB_FAILED,
            "acdp.train: no workspace folder to train on".to_owned(),
        ));
    };
    let Some(source) = source else {
        return Err(error(
            NO_MODEL,
            "acdp.train: no base model configured: set modelDir (the acdp.modelDir setting) to a \
             Hugging Face Qwen2.5 directory or a .gguf file"
                .to_owned(),
        ));
    };
    let run = DatasetTraining {
        model: source.model,
        data: within(&root, argument.data.clone(), "dataset"),
        out: within(&root, argument.out.clone(), "adapter"),
        options: argument.options(),
        resume: argument.resume,
    };
    let token =
        with_progress.then(|| format!("acdp/train/{}", NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)));
    let Some(stop) = runs.start(token.clone()) else {
        return Err(error(
            JOB_FAILED,
            "acdp.train: a training run is going already; cancel it from its progress report or \
             wait for it to end"
                .to_owned(),
        ));
    };
    let client = client.clone();
    let runs = runs.clone();
    let task = tokio::spawn(async move {
        let result = run_with_progress(&client, token, run, stop).await;
        runs.finish();
        if matches!(&result, Ok(report) if !report.cancelled) {
            on_done();
        }
        result
    });
    task.await
        .map_err(|err| error(JOB_FAILED, format!("acdp.train stopped: {err}")))?
}

async fn run_with_progress(
    client: &Client,
    token: Option<String>,
    run: DatasetTraining,
    stop: Arc<AtomicBool>,
) -> jsonrpc::Result<TrainReport> {
    let title = format!("{} -> {}", run.data.display(), run.out.display());
    let accepted = match token {
        Some(name) => progress::create(client, name).await,
        None => None,
    };
    let progress = match accepted {
        Some(token) => Some(
            client
                .progress(token, "acdp: training")
                .with_percentage(0)
                .with_message(title.clone())
                .with_cancel_button()
                .begin()
                .await,
        ),
        None => None,
    };
    log::write("INFO", &format!("acdp.train: {title}"));
    let (steps_tx, mut steps_rx) = tokio::sync::mpsc::unbounded_channel::<StepLog>();
    let flag = stop.clone();
    let work = tokio::task::spawn_blocking(move || {
        let mut loaded = |counts: &acdp_model::train::DatasetCounts| {
            log::write(
                "INFO",
                &format!(
                    "acdp.train: {} samples ({} truncated, {} skipped), {} dev samples",
                    counts.samples, counts.truncated, counts.skipped, counts.dev_samples
                ),
            );
        };
        let mut on_step = |step: &StepLog| {
            let _ = steps_tx.send(step.clone());
            if flag.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train_on_dataset(&run, &default_device(), &mut loaded, &mut on_step)
        }))
        .map_err(|payload| format!("panicked: {}", log::panic_message(payload.as_ref())))
        .and_then(|result| result.map_err(|err| err.to_string()))
    });
    while let Some(step) = steps_rx.recv().await {
        if let Some(progress) = &progress {
            let percent = (step.step * 100 / step.total_steps.max(1)).min(100) as u32;
            progress
                .report_with_message(
                    format!(
                        "step {}/{}, loss {:.4}",
                        step.step, step.total_steps, step.loss
                    ),
                    percent,
                    None,
                )
                .await;
        }
    }
    let result = work
        .await
        .map_err(|err| format!("stopped: {err}"))
        .and_then(|r| r);
    let end = match &result {
        Ok(report) if report.cancelled => format!(
            "cancelled after step {}; checkpoint in {}",
            report.steps,
            report
                .adapter_dir
                .join(format!("checkpoint-{:06}", report.steps))
                .display()
        ),
        Ok(report) => format!(
            "{} steps, loss {} -> {}; adapter in {}",
            report.steps,
            fmt_loss(report.first_loss),
            fmt_loss(report.last_loss),
            report.adapter_dir.display()
        ),
        Err(err) => format!("failed: {err}"),
    };
    log::write("INFO", &format!("acdp.train: {end}"));
    if let Some(progress) = progress {
        progress.finish_with_message(end).await;
    }
    result.map_err(|err| error(JOB_FAILED, format!("acdp.train: {err}")))
}

fn fmt_loss(loss: Option<f64>) -> String {
    loss.map_or_else(|| "-".to_owned(), |l| format!("{l:.4}"))
}
