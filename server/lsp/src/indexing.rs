//! Indexing and analysing the workspace folders in the background, with `$/progress` reports:
//! at startup (after `initialized`) and for `acdp.reindex`; quietly (no progress) after saves
//! and watched-file changes ([`refresh_in_background`]). Requests keep being answered meanwhile
//! from what the session already has; the new index replaces a folder's old one when it is
//! ready, and its analysis follows.
//!
//! Scheduling only: the work is [`crate::session::IndexJob::run`] and
//! [`crate::snapshot::AnalysisJob::run`] on blocking threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tower_lsp_server::Client;
use tower_lsp_server::ls_types::MessageType;

use super::log;
use super::progress;
use super::session::{IndexSummary, Session};

/// Locks the session. A handler that panicked while holding the lock cannot have left a
/// half-applied edit behind in a way later calls trip over (the store re-inserts documents
/// before returning), so a poisoned lock is taken over rather than propagated.
pub fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Indexes every workspace folder, reporting progress when the client supports it. Runs in a
/// task of its own, so cancelling the request that started it does not leave the client's
/// progress bar open; the caller may stop waiting for it.
pub async fn index_in_background(
    client: Client,
    session: Arc<Mutex<Session>>,
    title: &'static str,
) -> IndexSummary {
    let task = tokio::spawn(async move { index_folders(&client, &session, Some(title)).await });
    match task.await {
        Ok(summary) => summary,
        Err(err) => IndexSummary {
            errors: vec![format!("indexing stopped: {err}")],
            ..IndexSummary::default()
        },
    }
}

/// Indexes and analyses every folder again without progress reports (after saves and
/// watched-file changes; the caller debounces).
pub async fn refresh_in_background(client: Client, session: Arc<Mutex<Session>>) -> IndexSummary {
    let task = tokio::spawn(async move { index_folders(&client, &session, None).await });
    task.await.unwrap_or_else(|err| IndexSummary {
        errors: vec![format!("indexing stopped: {err}")],
        ..IndexSummary::default()
    })
}

/// Serialises runs: two overlapping runs would each analyse and install the same folders.
static RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `title`: report `$/progress` under that title (when the client supports it); `None` runs
/// quietly.
async fn index_folders(
    client: &Client,
    session: &Mutex<Session>,
    title: Option<&str>,
) -> IndexSummary {
    let _run = RUN.lock().await;
    static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
    let (jobs, with_progress) = {
        let mut session = lock(session);
        (
            session.start_indexing(),
            session.settings().work_done_progress,
        )
    };
    let progress = match title.filter(|_| with_progress) {
        Some(title) => match progress::create(
            client,
            format!("acdp/index/{}", NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)),
        )
        .await
        {
            Some(token) => Some(
                client
                    .progress(token, title)
                    .with_percentage(0)
                    .with_message(format!("{} folder(s)", jobs.len()))
                    .begin()
                    .await,
            ),
            None => None,
        },
        None => None,
    };

    let folders = jobs.len();
    let mut summary = IndexSummary {
        folders,
        ..IndexSummary::default()
    };
    for (i, job) in jobs.into_iter().enumerate() {
        let root = job.root.display().to_string();
        if let Some(progress) = &progress {
            let percent = (i * 100 / folders) as u32;
            progress
                .report_with_message(format!("indexing {root}"), percent)
                .await;
        }
        let result = match tokio::task::spawn_blocking(move || job.run()).await {
            Ok(outcome) => lock(session)
                .install_index(outcome)
                .map_err(|err| format!("{root}: {err}")),
            Err(err) => Err(format!("{root}: indexing failed: {err}")),
        };
        let message = match result {
            Ok(stats) => {
                summary.files += stats.files;
                summary.chunks += stats.chunks;
                summary.skipped += stats.skipped;
                format!("{root}: {} files, {} chunks", stats.files, stats.chunks)
            }
            Err(err) => {
                summary.errors.push(err.clone());
                err
            }
        };
        log::write("INFO", &message);
        if let Some(progress) = &progress {
            let percent = ((i + 1) * 100 / folders) as u32;
            progress.report_with_message(message, percent).await;
        }
    }
    let jobs = lock(session).take_analysis_jobs();
    let (mut rules, mut flows) = (0, 0);
    for job in jobs {
        let root = job.index.root.display().to_string();
        if let Some(progress) = &progress {
            progress
                .report_with_message(format!("analysing {root}"), 100)
                .await;
        }
        match tokio::task::spawn_blocking(move || job.run()).await {
            Ok((workspace, snapshot)) => {
                let analysis = &snapshot.analysis;
                rules += analysis.rules.len();
                flows += analysis.flows.len();
                let message = format!(
                    "{root}: {} rules, {} flows, {} state machines, {} domains",
                    analysis.rules.len(),
                    analysis.flows.len(),
                    analysis.states.len(),
                    analysis.domains.domains.len()
                );
                for warning in &analysis.warnings {
                    log::write("WARN", &format!("{root}: {warning}"));
                }
                lock(session).install_analysis(workspace, snapshot);
                log::write("INFO", &message);
            }
            Err(err) => {
                let err = format!("{root}: analysis failed: {err}");
                log::write("ERROR", &err);
                summary.errors.push(err);
            }
        }
    }
    let done = format!(
        "indexed {} files, {} chunks in {} folder(s); {rules} rules, {flows} flows",
        summary.files, summary.chunks, summary.folders
    );
    if let Some(progress) = progress {
        progress.finish_with_message(done.clone()).await;
    }
    if title.is_some() {
        client.log_message(MessageType::INFO, &done).await;
    } else {
        log::write("INFO", &done);
    }
    for error in &summary.errors {
        client
            .show_message(MessageType::ERROR, format!("acdp: {error}"))
            .await;
    }
    summary
}
