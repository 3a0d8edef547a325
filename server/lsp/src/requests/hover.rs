//! `textDocument/hover`: what the index knows about the code under the cursor (chunk id,
//! kind, symbol, lines, content hash), as markdown.
//!
//! Then the analysis' facts about the chunk ([`analysis_sections`]): domain, rules, flows and
//! state transitions. With a model configured, the server adds a short grounded answer about
//! the chunk ([`hover_question`], [`answer_section`]: the model runs off the message loop, see
//! `acdp/ask`); without one the hover is only what the index and the analysis know.

use std::fmt::Write;

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use crate::convert;
use crate::session::{FileKey, Session};
use acdp_index::Chunk;
use acdp_index::Symbol;
use acdp_model::answer::{GroundedAnswer, RetrievedChunk};

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
            value: hover_markdown(session, &key, chunk),
        }),
        range: view.range_of(chunk).map(convert::range_to_lsp),
    }))
}

/// The hover text of a chunk: the index's facts, then the sections of [`analysis_sections`].
pub fn hover_markdown(session: &Session, key: &FileKey, chunk: &Chunk) -> String {
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
    for section in analysis_sections(session, key, chunk) {
        let _ = write!(out, "\n---\n\n{section}\n");
    }
    out
}

/// The analysis' sections of a chunk's hover: its domain, the rules it holds (kind and
/// statement), the flows it takes part in (entry verb and path) and the state transitions it
/// performs. Empty until the folder's analysis is ready; facts come from the last analysed
/// (saved) text, matched by chunk id.
pub fn analysis_sections(session: &Session, key: &FileKey, chunk: &Chunk) -> Vec<String> {
    let Some(snapshot) = session.snapshot(key.workspace) else {
        return Vec::new();
    };
    let facts = snapshot.chunk_analysis(chunk);
    let mut sections = Vec::new();
    if let Some(domain) = facts.domain {
        sections.push(format!("**Domain** `{}`", domain.name));
    }
    if !facts.rules.is_empty() {
        let mut out = format!("**Rules** ({})\n", facts.rules.len());
        for rule in facts.rules.iter().take(MAX_ITEMS) {
            let _ = write!(
                out,
                "\n- `{}` {}",
                rule.kind.as_str(),
                one_line(&rule.statement)
            );
        }
        more(&mut out, facts.rules.len());
        sections.push(out);
    }
    if !facts.flows.is_empty() {
        let mut out = format!("**Flows** ({})\n", facts.flows.len());
        for flow in facts.flows.iter().take(MAX_ITEMS) {
            let entry = &flow.entry;
            let what = match (&entry.verb, &entry.path) {
                (Some(verb), Some(path)) => format!("`{verb} {path}`"),
                (None, Some(path)) => format!("`{path}`"),
                _ => format!("{} `{}`", entry.kind, short(&entry.symbol)),
            };
            let _ = write!(out, "\n- {what} ({})", flow.domain);
        }
        more(&mut out, facts.flows.len());
        sections.push(out);
    }
    if !facts.transitions.is_empty() {
        let mut out = format!("**State transitions** ({})\n", facts.transitions.len());
        for (entity, field, t) in facts.transitions.iter().take(MAX_ITEMS) {
            let from = if t.from.is_empty() {
                "created".to_owned()
            } else {
                t.from
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join("|")
            };
            let _ = write!(out, "\n- `{}.{field}`: {from} → {}", short(entity), t.to);
            if let Some(guard) = &t.guard {
                let _ = write!(out, " when `{}`", one_line(guard));
            }
        }
        more(&mut out, facts.transitions.len());
        sections.push(out);
    }
    sections
}

/// Items shown per section; the rest are counted (`acdp.showRules` lists every rule).
const MAX_ITEMS: usize = 8;

fn more(out: &mut String, total: usize) {
    if total > MAX_ITEMS {
        let _ = write!(out, "\n- … and {} more", total - MAX_ITEMS);
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The simple name of a qualified symbol.
fn short(symbol: &str) -> &str {
    Symbol::parse(symbol).member
}

/// What the hover asks the model about the chunk under the cursor.
#[derive(Clone, Debug)]
pub struct HoverQuestion {
    pub question: String,
    /// The hovered chunk, given to the model first.
    pub chunk: RetrievedChunk,
    pub folder: usize,
    /// (chunk_id, content_hash): the same text gets the same answer from the same model.
    pub key: (String, String),
}

/// The question about the chunk at the hover position, or `None` where [`hover`] shows
/// nothing.
pub fn hover_question(session: &Session, params: &HoverParams) -> Option<HoverQuestion> {
    let at = &params.text_document_position_params;
    let key = session.locate(&at.text_document.uri)?;
    let view = session.file(&key)?;
    let chunk = view.chunk_at(convert::position_from_lsp(at.position))?;
    Some(HoverQuestion {
        question: format!("What does `{}` do?", short(&chunk.symbol)),
        chunk: RetrievedChunk {
            chunk_id: chunk.chunk_id.as_str().to_owned(),
            path: chunk.path.clone(),
            symbol: chunk.symbol.clone(),
            start_line: chunk.start_line,
            end_line: chunk.end_line,
            score: 0.0,
            text: chunk.text(view.text()).to_owned(),
        },
        folder: key.workspace,
        key: (
            chunk.chunk_id.as_str().to_owned(),
            chunk.content_hash.to_string(),
        ),
    })
}

/// The hover's answer section: the answer and its checked citations, or why there is none.
pub fn answer_section(answer: &GroundedAnswer) -> String {
    if !answer.validated {
        return format!(
            "**Answer** (acdp model): {}; the model's answers failed the citation check",
            answer.answer
        );
    }
    let mut out = format!(
        "**Answer** (acdp model, citations checked)\n\n{}\n",
        answer.answer.trim()
    );
    for c in &answer.citations {
        let _ = write!(
            out,
            "\n- `{}` {}:{}-{}",
            c.chunk_id, c.path, c.start_line, c.end_line
        );
    }
    out
}

/// Appends a section to a hover's markdown, after `---` like the analysis' sections.
pub fn add_section(hover: &mut Hover, section: &str) {
    if let HoverContents::Markup(markup) = &mut hover.contents {
        let _ = write!(markup.value, "\n---\n\n{section}\n");
    }
}
