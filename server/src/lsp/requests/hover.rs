//! `textDocument/hover`: what the index knows about the code under the cursor (chunk id,
//! kind, symbol, lines, content hash), as markdown.
//!
//! Analysis facts (domain, rules, flows) are not here yet: they plug in through
//! [`analysis_sections`].

use std::fmt::Write;

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use crate::index::Chunk;
use crate::lsp::convert;
use crate::lsp::session::{FileView, Session};

pub fn hover(session: &Session, params: &HoverParams) -> jsonrpc::Result<Option<Hover>> {
    let at = &params.text_document_position_params;
    let Some(key) = session.locate(&at.text_document.uri) else {
        return Ok(None);
    };
    let Some(view) = session.file(&key) else {
        return Ok(None);
    };
    let Some(chunk) = view.chunk_at(convert::position_from_lsp(at.position)) else {
        return Ok(None);
    };
    Ok(Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: hover_markdown(session, view, chunk),
        }),
        range: view.range_of(chunk).map(convert::range_to_lsp),
    }))
}

/// The hover text of a chunk: the index's facts, then the sections of [`analysis_sections`].
pub fn hover_markdown(session: &Session, view: FileView<'_>, chunk: &Chunk) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "**{}** `{}`\n", chunk.kind, chunk.symbol);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| chunk_id | `{}` |", chunk.chunk_id);
    let _ = writeln!(out, "| kind | `{}` |", chunk.kind);
    let _ = writeln!(out, "| lines | {}-{} |", chunk.start_line, chunk.end_line);
    let _ = writeln!(out, "| content_hash | `{}` |", chunk.content_hash);
    if let Some(doc) = chunk.doc.as_deref().and_then(|d| d.lines().next()) {
        let _ = writeln!(out, "\n{doc}");
    }
    for section in analysis_sections(session, view, chunk) {
        let _ = write!(out, "\n---\n\n{section}\n");
    }
    out
}

/// Seam for the analysis stage: extra markdown sections (domain, business rules, flows the
/// chunk takes part in) for a chunk's hover. Returns nothing until analysis lands; each
/// section is a complete markdown block, shown after a rule in order.
pub fn analysis_sections(_session: &Session, _view: FileView<'_>, _chunk: &Chunk) -> Vec<String> {
    Vec::new()
}
