//! `workspace/didChangeWatchedFiles`: Java and XML files changed on disk (a checkout, a build,
//! another editor). Files that are not open are read again or dropped; open ones keep the
//! editor's text.

use tower_lsp_server::ls_types::{DidChangeWatchedFilesParams, FileChangeType};

use super::Outcome;
use crate::session::{FileUpdate, Session};

pub fn did_change_watched_files(
    session: &mut Session,
    params: DidChangeWatchedFilesParams,
) -> Outcome {
    let mut outcome = Outcome::default();
    let changes: Vec<_> = params
        .changes
        .into_iter()
        .filter_map(|change| Some((session.locate(&change.uri)?, change.typ)))
        .collect();
    // Created, changed and deleted all come down to "look at the disk again".
    let keys: Vec<_> = changes.iter().map(|(key, _)| key.clone()).collect();
    let updates = session.refresh_files(&keys);
    for ((key, typ), update) in changes.into_iter().zip(updates) {
        if typ == FileChangeType::DELETED && update == FileUpdate::SkippedOpen {
            outcome.log.push((
                true,
                format!(
                    "{} was deleted on disk but is open; keeping the editor's text",
                    key.path
                ),
            ));
        }
        if let FileUpdate::Updated { chunks } = update {
            outcome
                .log
                .push((false, format!("reindexed {} ({chunks} chunks)", key.path)));
        }
    }
    outcome
}
