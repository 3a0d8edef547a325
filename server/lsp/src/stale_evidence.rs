//! Stale evidence: samples in `.acdp/samples.jsonl` that cite code whose content changed.
//!
//! After a document's chunks change (`acdp/chunksChanged`) the server publishes, for that
//! document, one Information diagnostic (source `acdp`) per cited chunk whose current
//! code is not what the samples quote ([`acdp_sample::Evidence::is_current`]): on the chunk's range, or on the
//! evidence's old lines when the chunk is gone. Undoing the edit clears it. See docs/lsp.md.

use std::collections::BTreeMap;

use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticSeverity, NumberOrString, Position, PublishDiagnosticsParams, Range,
};

use super::convert::line_length_utf16;
use super::session::{FileKey, Session};
use acdp_index::ChunkId;

pub const SOURCE: &str = "acdp";
pub const CODE: &str = "stale-evidence";

/// The stale-evidence diagnostics of one file (possibly none, which clears earlier ones).
/// `None` when the file is unknown. Call [`Session::sync_samples`] first.
pub fn stale_evidence(session: &Session, key: &FileKey) -> Option<PublishDiagnosticsParams> {
    let uri = session.uri_of(key)?;
    let view = session.file(key)?;
    let workspace = session.workspace(key.workspace)?;
    // Chunk id -> (samples citing it, the evidence as cited first).
    let mut stale: BTreeMap<&ChunkId, (usize, &acdp_sample::Evidence)> = BTreeMap::new();
    for sample in &workspace.samples.samples {
        for evidence in sample.evidence.iter().filter(|e| e.path == key.path) {
            let current = view
                .chunks()
                .iter()
                .find(|c| c.chunk_id == evidence.chunk_id);
            if current.is_some_and(|c| evidence.is_current(c, view.text())) {
                continue;
            }
            stale
                .entry(&evidence.chunk_id)
                .and_modify(|(n, _)| *n += 1)
                .or_insert((1, evidence));
        }
    }
    let lines = view.text().lines().count().max(1) as u32;
    let diagnostics = stale
        .into_iter()
        .map(|(id, (count, evidence))| {
            let samples = if count == 1 {
                "sample cites"
            } else {
                "samples cite"
            };
            let current = view.chunks().iter().find(|c| &c.chunk_id == id);
            let (range, message) = match current.and_then(|c| view.range_of(c)) {
                Some(range) => (
                    super::convert::range_to_lsp(range),
                    format!("{count} {samples} this chunk; its content changed (stale evidence)"),
                ),
                None => {
                    let start = evidence.start_line.saturating_sub(1).min(lines - 1);
                    let end = evidence.end_line.saturating_sub(1).clamp(start, lines - 1);
                    (
                        Range::new(
                            Position::new(start, 0),
                            Position::new(end, line_length_utf16(view.text(), end)),
                        ),
                        format!(
                            "{count} {samples} {}, which is no longer here (stale evidence)",
                            evidence.symbol
                        ),
                    )
                }
            };
            Diagnostic {
                range,
                severity: Some(DiagnosticSeverity::INFORMATION),
                code: Some(NumberOrString::String(CODE.to_owned())),
                source: Some(SOURCE.to_owned()),
                message,
                data: Some(serde_json::json!({ "chunk_id": id, "samples": count })),
                ..Diagnostic::default()
            }
        })
        .collect();
    Some(PublishDiagnosticsParams {
        uri,
        diagnostics,
        version: view.version(),
    })
}
