//! The index: files in, chunks with stable ids out.
//!
//! Two entry points share one chunker per language:
//! - [`index_workspace`] walks a repository (honouring `.gitignore`), reads and parses files in
//!   parallel and reuses the stored state under `.acdp/` for files whose hash did not change;
//! - [`DocumentStore`] follows an editor: LSP edits are applied to a syntax tree that is
//!   reparsed incrementally, and each change reports which chunks were added, removed or
//!   changed.
//!
//! This module does no analysis; it only knows files, syntax and chunks.

mod cache;
mod chunk;
mod document;
mod indexed_file;
pub mod java;
pub mod mapper_xml;
mod positions;
mod source;
mod walk;
mod workspace;

pub use chunk::{
    CHUNK_ID_PATTERN, Chunk, ChunkId, ChunkKind, ContentHash, Symbol, innermost_chunk_at,
    symbol_head, symbol_member, symbol_owner,
};
pub use document::{ChunkDelta, Document, DocumentError, DocumentStore, TextChange};
pub use indexed_file::IndexedFile;
pub use positions::{Position, Range, TextPositions};
pub use source::{Language, SkipReason, language_of_text};
pub use walk::{FileAdmission, WalkOptions};
pub use workspace::{
    IndexError, IndexOptions, IndexStats, SkippedFile, WorkspaceIndex, index_file_at,
    index_workspace, index_workspace_with_trees,
};

use serde::{Deserialize, Serialize};

/// A problem in a file that did not stop it from being indexed, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntaxWarning {
    pub path: String,
    /// 1-based.
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for SyntaxWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

/// Chunks a file's text by language. `parser` is only used for Java.
pub fn chunk_source(
    parser: &mut tree_sitter::Parser,
    language: Language,
    path: &str,
    text: &str,
) -> (Vec<Chunk>, Vec<SyntaxWarning>) {
    match language {
        Language::Java => {
            let tree = java::parse(parser, text, None);
            java::chunk_java(path, text, &tree)
        }
        Language::MapperXml => mapper_xml::chunk_mapper_xml(path, text),
    }
}
