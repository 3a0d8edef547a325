//! `textDocument/didSave`: the document is settled (parsed cold if its last incremental parse
//! had errors) and its text becomes the workspace index's copy of the file.

use tower_lsp_server::ls_types::DidSaveTextDocumentParams;

use super::{ChunksChangedParams, Outcome};
use crate::session::Session;

pub fn did_save(session: &mut Session, params: DidSaveTextDocumentParams) -> Outcome {
    let uri = params.text_document.uri;
    let Some(key) = session.locate(&uri) else {
        return Outcome::default();
    };
    let settled = session.settle_document(&key);
    session.save_document(&key);
    let version = session.document_version(&key);
    Outcome {
        chunks_changed: settled
            .filter(|delta| !delta.is_empty())
            .zip(version)
            .map(|(delta, version)| ChunksChangedParams::new(uri, version, delta)),
        log: Vec::new(),
    }
}
