//! `textDocument/codeAction`: actions on the chunk under the cursor. For now "Show chunk for
//! <symbol>" (command `acdp.showChunk`); the sample-generating actions (QA, design, rules)
//! join here when the dataset generator lands.

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, Command,
};

use super::execute_command::SHOW_CHUNK;
use crate::lsp::convert;
use crate::lsp::session::Session;

/// The kind of acdp's actions: a `source` action, so clients list it in their source-action
/// menu and `only: ["source"]` selects it.
pub const ACDP_ACTION_KIND: &str = "source.acdp";

pub fn code_actions(
    session: &Session,
    params: &CodeActionParams,
) -> jsonrpc::Result<Option<Vec<CodeActionOrCommand>>> {
    let kind = CodeActionKind::new(ACDP_ACTION_KIND);
    if let Some(only) = &params.context.only {
        let wanted = only.iter().any(|k| {
            let k = k.as_str();
            ACDP_ACTION_KIND == k || ACDP_ACTION_KIND.starts_with(&format!("{k}."))
        });
        if !wanted {
            return Ok(None);
        }
    }
    let Some(key) = session.locate(&params.text_document.uri) else {
        return Ok(None);
    };
    let Some(view) = session.file(&key) else {
        return Ok(None);
    };
    let Some(chunk) = view.chunk_at(convert::position_from_lsp(params.range.start)) else {
        return Ok(None);
    };
    let argument = serde_json::json!({ "chunk_id": chunk.chunk_id });
    let title = format!("Show chunk for {}", chunk.symbol);
    Ok(Some(vec![CodeActionOrCommand::CodeAction(CodeAction {
        title: title.clone(),
        kind: Some(kind),
        command: Some(Command {
            title,
            command: SHOW_CHUNK.to_owned(),
            arguments: Some(vec![argument]),
        }),
        ..CodeAction::default()
    })]))
}
