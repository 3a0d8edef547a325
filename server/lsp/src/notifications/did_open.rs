//! `textDocument/didOpen`: the document enters the store; every chunk is reported as added.

use tower_lsp_server::ls_types::DidOpenTextDocumentParams;

use super::{ChunksChangedParams, Outcome};
use crate::session::Session;

pub fn did_open(session: &mut Session, params: DidOpenTextDocumentParams) -> Outcome {
    let document = params.text_document;
    let Some(key) = session.locate(&document.uri) else {
        return Outcome::warn(format!(
            "{} is outside the workspace folders; acdp ignores it",
            document.uri.as_str()
        ));
    };
    let version = document.version;
    match session.open_document(&key, document.uri.clone(), version, document.text) {
        Some(delta) => Outcome {
            chunks_changed: Some(ChunksChangedParams::new(document.uri, version, delta)),
            log: Vec::new(),
        },
        None => Outcome::default(),
    }
}
