//! One file as the index holds it: text, hash, chunks, warnings and (for a moment) its syntax
//! tree. Made by a walk ([`crate::index_workspace`]) or one at a time
//! ([`crate::index_file_at`]), stored and reloaded by the index's state.

use std::sync::Arc;

use super::SyntaxWarning;
use super::chunk::Chunk;
use super::source::Language;

/// A file that was indexed, with its text (chunks point into it).
#[derive(Clone, Debug)]
pub struct IndexedFile {
    pub path: String,
    pub language: Language,
    /// blake3 of the file's bytes: the stored state is reused while it matches.
    pub file_hash: [u8; 32],
    pub text: Arc<str>,
    pub chunks: Vec<Chunk>,
    pub warnings: Vec<SyntaxWarning>,
    /// The syntax tree of a Java file parsed by [`crate::index_workspace_with_trees`], so that the
    /// analysis does not parse it a second time (about half of its time on real repositories).
    /// `None` for files taken from the stored state, for mapper XML, and after
    /// [`crate::WorkspaceIndex::drop_trees`].
    pub tree: Option<tree_sitter::Tree>,
}
