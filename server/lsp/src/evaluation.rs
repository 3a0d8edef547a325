//! `acdp.eval`: `acdp eval` on the first analysed workspace folder, with `$/progress` per case.
//! Scores retrieval on a question file (by default the held-out `eval.jsonl` that
//! `acdp.exportDataset` writes) and, with `"withModel": true`, the configured model's answers.
//! The same library calls as the CLI ([`acdp_eval::evaluate`]) over the folder's retriever.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc;

use super::indexing::lock;
use super::log;
use super::progress;
use super::session::Session;
use acdp_eval::{ModelRun, Summary, evaluate, load_cases, report};
use acdp_model::answer::{AnswerOptions, answer_from_chunks};
use acdp_model::{ModelCache, default_device};

/// The optional argument of `acdp.eval`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EvalArgument {
    /// The question file; default `<first workspace folder>/.acdp/dataset/eval.jsonl`.
    /// Relative paths are taken from the first workspace folder.
    pub cases: Option<PathBuf>,
    /// Also answer each case with the configured model (slow: minutes per case on a CPU).
    pub with_model: bool,
}

/// The result of `acdp.eval`: the summary and the markdown report `acdp eval` prints.
#[derive(Clone, Debug, Serialize)]
pub struct EvalResult {
    pub cases: PathBuf,
    pub summary: Summary,
    pub markdown: String,
}

/// The evaluation could not run (no file, bad file, no analysed folder, model).
fn failed(message: String) -> jsonrpc::Error {
    crate::error_codes::error(
        crate::error_codes::JOB_FAILED,
        format!("acdp.eval: {message}"),
    )
}

pub async fn run_eval(
    client: &Client,
    session: &Arc<Mutex<Session>>,
    models: &Arc<Mutex<ModelCache>>,
    argument: EvalArgument,
) -> jsonrpc::Result<EvalResult> {
    static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
    let (root, snapshot, source, with_progress) = {
        let session = lock(session);
        let root = session.roots().next().map(PathBuf::from);
        let snapshot = session
            .snapshots()
            .into_iter()
            .find(|(folder, _)| *folder == 0)
            .map(|(_, s)| s);
        let source = session.model_source();
        (
            root,
            snapshot,
            source,
            session.settings().work_done_progress,
        )
    };
    let Some(root) = root else {
        return Err(failed("no workspace folder".to_owned()));
    };
    let Some(snapshot) = snapshot else {
        return Err(failed(
            "the workspace is still being indexed and analysed; run it again when the indexing progress ends".to_owned(),
        ));
    };
    let path = match argument.cases {
        Some(p) if p.is_absolute() => p,
        Some(p) => root.join(p),
        None => root.join(".acdp").join("dataset").join("eval.jsonl"),
    };
    let text = std::fs::read_to_string(&path).map_err(|err| {
        failed(format!(
            "cannot read {}: {err} (export the dataset first, or give {{\"cases\": \"file.jsonl\"}})",
            path.display()
        ))
    })?;
    let cases = load_cases(&path, &text, &snapshot.index).map_err(|err| failed(err.to_string()))?;
    if argument.with_model && source.is_none() {
        return Err(failed(
            "withModel needs a model: set modelDir (the acdp.modelDir setting)".to_owned(),
        ));
    }
    let progress = if with_progress {
        let n = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        match progress::create(client, format!("acdp/eval/{n}")).await {
            Some(token) => Some(
                client
                    .progress(token, "acdp: evaluating")
                    .with_percentage(0)
                    .with_message(format!("{} cases", cases.len()))
                    .begin()
                    .await,
            ),
            None => None,
        }
    } else {
        None
    };
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(usize, usize)>();
    let models = models.clone();
    let repo_name = acdp_dataset::repo_info(&root).name;
    let job = tokio::task::spawn_blocking(move || -> Result<acdp_eval::EvalReport, String> {
        let options = AnswerOptions {
            repo_name,
            ..AnswerOptions::default()
        };
        let mut on_case = |done: usize, total: usize| {
            let _ = sender.send((done, total));
        };
        let retriever = snapshot.retrieval();
        let mut runs = Vec::new();
        if let Some(source) = source.filter(|_| argument.with_model) {
            // The model cache is locked per answer, not for the whole run: questions and
            // hovers go on between cases.
            runs.push(ModelRun {
                label: "model".into(),
                answer: Box::new(move |task, prompt, chunks, options| {
                    let mut cache = models.lock().unwrap_or_else(|e| e.into_inner());
                    let model = cache.get(&source, &default_device())?;
                    answer_from_chunks(model, task, prompt, chunks, options)
                }),
            });
        }
        evaluate(&cases, retriever, &mut runs, &options, &mut on_case)
            .map_err(|err| err.to_string())
    });
    while let Some((done, total)) = receiver.recv().await {
        if let Some(progress) = &progress {
            let percent = (done * 100 / total.max(1)) as u32;
            progress
                .report_with_message(format!("{done}/{total} cases"), percent)
                .await;
        }
    }
    let result = job
        .await
        .map_err(|err| failed(format!("stopped: {err}")))?
        .map_err(failed);
    let end = match &result {
        Ok(r) => format!(
            "{} questions: hit@{} {:.2}, MRR {:.2}",
            r.summary.questions, r.summary.k, r.summary.hit_at_k, r.summary.mrr
        ),
        Err(err) => format!("failed: {}", err.message),
    };
    log::write("INFO", &format!("acdp.eval: {end}"));
    if let Some(progress) = progress {
        progress.finish_with_message(end).await;
    }
    let report = result?;
    Ok(EvalResult {
        cases: path,
        markdown: report::markdown(&report),
        summary: report.summary,
    })
}
