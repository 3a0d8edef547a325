//! `textDocument/didClose`: the document leaves the store and the file is read from disk again.

use tower_lsp_server::ls_types::DidCloseTextDocumentParams;

use super::Outcome;
use crate::session::Session;

pub fn did_close(session: &mut Session, params: DidCloseTextDocumentParams) -> Outcome {
    if let Some(key) = session.locate(&params.text_document.uri) {
        session.close_document(&key);
    }
    Outcome::default()
}
