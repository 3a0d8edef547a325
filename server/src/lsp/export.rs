//! `acdp.exportDataset`: the steps of `acdp pipeline` (index, analyse, generate, validate +
//! dedup + split, write) for the first workspace folder, with a `$/progress` report per stage.
//! The same library calls as the CLI, with its defaults (seed 42, languages en and zh, dev and
//! test 10 % each); the files are written by [`crate::dataset::write_dataset`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc;

use super::indexing::lock;
use super::log;
use super::progress;
use super::requests::execute_command::ExportArgument;
use super::session::Session;
use crate::analysis::analyze;
use crate::config::ProjectConfig;
use crate::dataset::{DatasetOptions, build_dataset, repo_info, write_dataset};
use crate::generate::{OfflineOptions, generate_offline, generated_chunks};
use crate::index::{IndexOptions, index_workspace};

/// The result of `acdp.exportDataset`.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    pub out: PathBuf,
    /// Files written, `manifest.json` included.
    pub files: usize,
    pub samples: usize,
    pub rejected: usize,
    pub train: usize,
    pub dev: usize,
    pub test: usize,
}

fn failed(message: String) -> jsonrpc::Error {
    jsonrpc::Error {
        code: jsonrpc::ErrorCode::ServerError(-32003),
        message: format!("acdp.exportDataset: {message}").into(),
        data: None,
    }
}

/// Runs the export; progress is reported when the client supports it.
pub async fn export_dataset(
    client: &Client,
    session: &Arc<Mutex<Session>>,
    argument: ExportArgument,
) -> jsonrpc::Result<ExportSummary> {
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

    let result: Result<ExportSummary, String> = async {
        report("index".to_owned(), 0).await;
        let r = root.clone();
        let (config, index) = blocking(move || {
            let config = ProjectConfig::load(&r).map_err(|e| e.to_string())?;
            let options = IndexOptions {
                settings: config.index.clone(),
                use_cache: true,
            };
            let index = index_workspace(&r, &options).map_err(|e| e.to_string())?;
            Ok((config, index))
        })
        .await?;
        report(
            format!(
                "analyse ({} files, {} chunks)",
                index.stats.files, index.stats.chunks
            ),
            20,
        )
        .await;
        let index = Arc::new(index);
        let i = index.clone();
        let (samples, generated) = blocking(move || {
            let analysis = analyze(&i, &config.analysis);
            let generated = generated_chunks(&i);
            let options = OfflineOptions {
                include_generated: config.analysis.include_generated,
                ..OfflineOptions::default()
            };
            let repo = repo_info(&i.root);
            let samples = generate_offline(&i, &analysis, &generated, &options, &repo);
            Ok((samples, generated))
        })
        .await?;
        report(format!("dataset ({} candidate samples)", samples.len()), 60).await;
        let i = index.clone();
        let dataset = blocking(move || {
            Ok(build_dataset(
                samples,
                &i,
                &generated,
                &DatasetOptions::default(),
            ))
        })
        .await?;
        let s = &dataset.stats;
        if s.split.leaked_groups != 0 {
            return Err(format!(
                "split leak check failed: {} groups on two sides",
                s.split.leaked_groups
            ));
        }
        let split = |name: &str| s.by_split.get(name).copied().unwrap_or(0);
        let mut summary = ExportSummary {
            out: out.clone(),
            files: 0,
            samples: s.samples,
            rejected: s.validation.rejected,
            train: split("train"),
            dev: split("dev"),
            test: split("test"),
        };
        report(format!("export ({} samples)", summary.samples), 80).await;
        let (o, r) = (out.clone(), root.canonicalize().unwrap_or(root.clone()));
        let files =
            blocking(move || write_dataset(&o, &r, &dataset).map_err(|e| e.to_string())).await?;
        summary.files = files;
        Ok(summary)
    }
    .await;

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

/// Runs one stage on a blocking thread.
async fn blocking<T: Send + 'static>(
    stage: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(stage)
        .await
        .map_err(|err| format!("stopped: {err}"))
        .and_then(|result| result)
}
