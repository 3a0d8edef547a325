//! `textDocument/didChange` (incremental sync): the edits go to the document store at once,
//! in the order received; a version that is not newer than the current one is refused.

use tower_lsp_server::ls_types::DidChangeTextDocumentParams;

use super::{ChunksChangedParams, Outcome};
use crate::convert;
use crate::session::Session;

pub fn did_change(session: &mut Session, params: DidChangeTextDocumentParams) -> Outcome {
    let document = params.text_document;
    let Some(key) = session.locate(&document.uri) else {
        return Outcome::default();
    };
    let changes: Vec<_> = params
        .content_changes
        .into_iter()
        .map(convert::change_from_lsp)
        .collect();
    match session.change_document(&key, document.version, &changes) {
        Ok(delta) if delta.is_empty() => Outcome::default(),
        Ok(delta) => Outcome {
            chunks_changed: Some(ChunksChangedParams::new(
                document.uri,
                document.version,
                delta,
            )),
            log: Vec::new(),
        },
        Err(err) => Outcome::warn(format!("didChange: {err}")),
    }
}
