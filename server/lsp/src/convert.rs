//! Conversions between protocol types and the index's: file URIs to repository-relative paths
//! and back, LSP positions and ranges (UTF-16) to byte offsets in a text and back.
//!
//! Open documents convert through [`acdp_index::Document`], which keeps its line index; the
//! functions here serve files the editor has not opened (the workspace index).

use std::path::{Component, Path, PathBuf};

use tower_lsp_server::ls_types;
use tower_lsp_server::ls_types::Uri;

use acdp_index::{Position, Range, TextChange};

/// The workspace folder that holds `uri` (the deepest one when folders nest) and the file's
/// path relative to it, `/`-separated. `None` for non-`file` URIs and files outside every
/// folder.
pub fn workspace_path(roots: &[PathBuf], uri: &Uri) -> Option<(usize, String)> {
    if !uri.scheme().as_str().eq_ignore_ascii_case("file") {
        return None;
    }
    let path = uri.to_file_path()?;
    roots
        .iter()
        .enumerate()
        .filter_map(|(i, root)| {
            let rel = path.strip_prefix(root).ok()?;
            Some((i, root.components().count(), relative_path(rel)?))
        })
        .max_by_key(|&(_, depth, _)| depth)
        .map(|(i, _, rel)| (i, rel))
}

/// `/`-joined normal components; `None` for an empty path or one with `..`.
fn relative_path(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The `file://` URI of a repository-relative path.
pub fn file_uri(root: &Path, rel_path: &str) -> Option<Uri> {
    Uri::from_file_path(root.join(rel_path))
}

/// The workspace folder a URI names (`workspaceFolders[].uri`, `rootUri`).
pub fn folder_path(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|path| path.into_owned())
}

pub fn position_from_lsp(position: ls_types::Position) -> Position {
    Position {
        line: position.line,
        character: position.character,
    }
}

pub fn position_to_lsp(position: Position) -> ls_types::Position {
    ls_types::Position {
        line: position.line,
        character: position.character,
    }
}

pub fn range_from_lsp(range: ls_types::Range) -> Range {
    Range {
        start: position_from_lsp(range.start),
        end: position_from_lsp(range.end),
    }
}

pub fn range_to_lsp(range: Range) -> ls_types::Range {
    ls_types::Range {
        start: position_to_lsp(range.start),
        end: position_to_lsp(range.end),
    }
}

pub fn change_from_lsp(change: ls_types::TextDocumentContentChangeEvent) -> TextChange {
    TextChange {
        range: change.range.map(range_from_lsp),
        text: change.text,
    }
}

/// The length of line `line` (0-based) of `text` in UTF-16 code units, LSP's default
/// position encoding (0 past the end).
pub fn line_length_utf16(text: &str, line: u32) -> u32 {
    text.lines()
        .nth(line as usize)
        .map_or(0, |l| l.encode_utf16().count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_maps_to_the_deepest_workspace_folder() {
        let roots = vec![PathBuf::from("/repo"), PathBuf::from("/repo/sub")];
        let uri: Uri = "file:///repo/sub/src/A%20B.java".parse().unwrap();
        assert_eq!(
            workspace_path(&roots, &uri),
            Some((1, "src/A B.java".to_owned()))
        );
        let outside: Uri = "file:///elsewhere/A.java".parse().unwrap();
        assert_eq!(workspace_path(&roots, &outside), None);
        let untitled: Uri = "untitled:Untitled-1".parse().unwrap();
        assert_eq!(workspace_path(&roots, &untitled), None);
    }
}
