//! `textDocument/codeAction`: actions on the chunk under the cursor. "Show chunk for
//! <symbol>" (`acdp.showChunk`) on every chunk; in Java code also "Generate QA samples for
//! <symbol>" (`acdp.generateQa`), "Generate design sample from this code"
//! (`acdp.generateDesign`, the editor adds the requirement) and "Show rules in <symbol>"
//! (`acdp.showRules`), each offered when the folder's analysis has facts for it (or is not
//! ready yet).

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, Command,
};

use super::execute_command::{GENERATE_DESIGN, GENERATE_QA, SHOW_CHUNK, SHOW_RULES};
use crate::convert;
use crate::session::Session;
use acdp_index::ChunkKind;
use acdp_index::Symbol;

/// The kind of acdp's actions: a kind of its own, neither `quickfix` nor `refactor` (they do
/// not change code) nor `source` (VS Code leaves source actions out of Ctrl+. and the light
/// bulb, where a user looks for "Generate QA samples"). `only: ["acdp"]` selects them; a
/// client asking only for other kinds (organize imports on save) gets none.
pub const ACDP_ACTION_KIND: &str = "acdp";

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
    let action = |title: String, command: &str| {
        CodeActionOrCommand::CodeAction(CodeAction {
            title: title.clone(),
            kind: Some(kind.clone()),
            command: Some(Command {
                title,
                command: command.to_owned(),
                arguments: Some(vec![argument.clone()]),
            }),
            ..CodeAction::default()
        })
    };
    let mut actions = vec![action(
        format!("Show chunk for {}", chunk.symbol),
        SHOW_CHUNK,
    )];
    let java = chunk.kind != ChunkKind::MapperStatement && key.path.ends_with(".java");
    if java {
        let facts = session
            .snapshot(key.workspace)
            .map(|s| s.chunk_analysis(chunk));
        let (qa, design, rules) = match &facts {
            Some(f) => (f.has_facts(), !f.flows.is_empty(), !f.rules.is_empty()),
            None => (true, true, true),
        };
        let name = short_symbol(&chunk.symbol);
        if qa {
            actions.push(action(
                format!("Generate QA samples for {name}"),
                GENERATE_QA,
            ));
        }
        if design {
            actions.push(action(
                "Generate design sample from this code".to_owned(),
                GENERATE_DESIGN,
            ));
        }
        if rules {
            actions.push(action(format!("Show rules in {name}"), SHOW_RULES));
        }
    }
    Ok(Some(actions))
}

/// `Type.method` for methods, `Type` for types: short enough for a menu.
fn short_symbol(symbol: &str) -> String {
    let symbol = Symbol::parse(symbol);
    match (symbol.params, symbol.type_path) {
        (Some(_), Some(_)) => format!("{}.{}", symbol.owner(), symbol.signature()),
        _ => symbol.signature().to_owned(),
    }
}
