//! Documents open in an editor: LSP edits in, chunk changes out.
//!
//! Every edit enters through [`DocumentStore::apply_changes`], synchronously and in the order
//! received, so the language server can call it before its first `.await` and no later edit can
//! overtake an earlier one. Java documents keep their syntax tree: each edit is applied to the
//! text and to the tree (`Tree::edit`), and the tree is reparsed incrementally, which costs
//! about a millisecond on a 2,000-line file where a full parse costs several.

use std::collections::{HashMap, HashSet};

use line_index::{LineIndex, TextSize};
use serde::{Deserialize, Serialize};
use tree_sitter::{InputEdit, Parser, Point, Tree};

use super::chunk::{Chunk, ChunkId, innermost_chunk_at};
use super::positions::{Position, Range, offset_of, position_of};
use super::source::Language;
use super::{SyntaxWarning, java, mapper_xml};

/// One `TextDocumentContentChangeEvent`: a range and its new text, or the whole new text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextChange {
    pub range: Option<Range>,
    pub text: String,
}

/// What a change did to a document's chunks, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChunkDelta {
    pub added: Vec<ChunkId>,
    pub removed: Vec<ChunkId>,
    /// Chunks whose text changed (new content hash): evidence citing them is stale.
    pub changed: Vec<ChunkId>,
    /// Chunks whose text is the same but whose lines moved.
    pub moved: Vec<ChunkId>,
}

impl ChunkDelta {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.moved.is_empty()
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("{path} is not open: send didOpen before didChange")]
    NotOpen { path: String },
    #[error("{path}: version {got} is not newer than {current}; the edit was ignored")]
    StaleVersion {
        path: String,
        current: i32,
        got: i32,
    },
    #[error("{path}: position {line}:{character} is outside the document")]
    BadPosition {
        path: String,
        line: u32,
        character: u32,
    },
}

/// One open document.
pub struct Document {
    pub language: Language,
    pub version: i32,
    pub text: String,
    pub chunks: Vec<Chunk>,
    pub warnings: Vec<SyntaxWarning>,
    line_index: LineIndex,
    tree: Option<Tree>,
    /// The last parse was incremental and found syntax errors: see [`DocumentStore::settle`].
    unsettled: bool,
}

impl Document {
    /// Converts an LSP position to a byte offset in the current text.
    pub fn offset(&self, position: Position) -> Option<usize> {
        offset_of(&self.line_index, &self.text, position)
    }

    /// Converts a byte offset to an LSP position.
    pub fn position(&self, offset: usize) -> Option<Position> {
        position_of(&self.line_index, offset)
    }

    /// The innermost chunk that contains `offset`.
    pub fn chunk_at(&self, offset: usize) -> Option<&Chunk> {
        innermost_chunk_at(&self.chunks, offset)
    }
}

/// Open documents keyed by repository-relative path, with one Java parser for all of them.
pub struct DocumentStore {
    parser: Parser,
    documents: HashMap<String, Document>,
}

impl Default for DocumentStore {
    fn default() -> Self {
        DocumentStore {
            parser: java::new_parser(),
            documents: HashMap::new(),
        }
    }
}

impl DocumentStore {
    pub fn get(&self, path: &str) -> Option<&Document> {
        self.documents.get(path)
    }

    /// Opens (or replaces) a document; every chunk it has counts as added.
    pub fn open(
        &mut self,
        path: &str,
        language: Language,
        version: i32,
        text: String,
    ) -> ChunkDelta {
        let old = self
            .documents
            .remove(path)
            .map(|d| d.chunks)
            .unwrap_or_default();
        let mut document = Document {
            language,
            version,
            line_index: LineIndex::new(&text),
            text,
            chunks: Vec::new(),
            warnings: Vec::new(),
            tree: None,
            unsettled: false,
        };
        self.rechunk(path, &mut document);
        let delta = diff_chunks(&old, &document.chunks);
        self.documents.insert(path.to_owned(), document);
        delta
    }

    pub fn close(&mut self, path: &str) -> Option<Document> {
        self.documents.remove(path)
    }

    /// Applies the changes of one `didChange`, in order, then reparses once.
    ///
    /// A version that is not newer than the current one is rejected and nothing changes. A
    /// change with a bad position is rejected; the changes before it in the same call stay
    /// applied, as the editor has them too, and the document is reparsed.
    pub fn apply_changes(
        &mut self,
        path: &str,
        version: i32,
        changes: &[TextChange],
    ) -> Result<ChunkDelta, DocumentError> {
        let mut document = self
            .documents
            .remove(path)
            .ok_or_else(|| DocumentError::NotOpen {
                path: path.to_owned(),
            })?;
        if version <= document.version {
            let current = document.version;
            self.documents.insert(path.to_owned(), document);
            return Err(DocumentError::StaleVersion {
                path: path.to_owned(),
                current,
                got: version,
            });
        }
        document.version = version;
        let old_chunks = std::mem::take(&mut document.chunks);
        let mut result = Ok(());
        for change in changes {
            if let Err(err) = apply_change(path, &mut document, change) {
                result = Err(err);
                break;
            }
        }
        self.rechunk(path, &mut document);
        let delta = diff_chunks(&old_chunks, &document.chunks);
        self.documents.insert(path.to_owned(), document);
        result.map(|()| delta)
    }

    /// Brings a document whose last incremental parse had syntax errors to exactly the chunks
    /// of a cold parse, and returns what that changed (None when nothing was pending).
    ///
    /// Error recovery that starts from an old tree can settle on a different tree than a cold
    /// parse of the same text. Parsing a broken file cold costs several times an incremental
    /// update, so it is not done on every keystroke; the language server calls this when typing
    /// pauses and on save.
    pub fn settle(&mut self, path: &str) -> Option<ChunkDelta> {
        let mut document = self.documents.remove(path)?;
        let delta = document.unsettled.then(|| {
            document.tree = None;
            let old_chunks = std::mem::take(&mut document.chunks);
            self.rechunk(path, &mut document);
            diff_chunks(&old_chunks, &document.chunks)
        });
        self.documents.insert(path.to_owned(), document);
        delta
    }

    /// Whether a document's chunks may still differ from a cold parse (see [`Self::settle`]).
    pub fn is_unsettled(&self, path: &str) -> bool {
        self.documents.get(path).is_some_and(|d| d.unsettled)
    }

    fn rechunk(&mut self, path: &str, document: &mut Document) {
        let (chunks, warnings) = match document.language {
            Language::Java => {
                let incremental = document.tree.is_some();
                let tree = java::parse(&mut self.parser, &document.text, document.tree.as_ref());
                document.unsettled = incremental && tree.root_node().has_error();
                let out = java::chunk_java(path, &document.text, &tree);
                document.tree = Some(tree);
                out
            }
            Language::MapperXml => mapper_xml::chunk_mapper_xml(path, &document.text),
        };
        document.chunks = chunks;
        document.warnings = warnings;
    }
}

fn apply_change(
    path: &str,
    document: &mut Document,
    change: &TextChange,
) -> Result<(), DocumentError> {
    let Some(range) = change.range else {
        document.text.clone_from(&change.text);
        document.line_index = LineIndex::new(&document.text);
        document.tree = None;
        return Ok(());
    };
    let bad = |p: Position| DocumentError::BadPosition {
        path: path.to_owned(),
        line: p.line,
        character: p.character,
    };
    let start = document
        .offset(range.start)
        .ok_or_else(|| bad(range.start))?;
    let end = document.offset(range.end).ok_or_else(|| bad(range.end))?;
    let (start, end) = if start <= end {
        (start, end)
    } else {
        (end, start)
    };
    let start_position = point_at(&document.line_index, start);
    let old_end_position = point_at(&document.line_index, end);
    document.text.replace_range(start..end, &change.text);
    document.line_index = LineIndex::new(&document.text);
    if let Some(tree) = &mut document.tree {
        tree.edit(&InputEdit {
            start_byte: start,
            old_end_byte: end,
            new_end_byte: start + change.text.len(),
            start_position,
            old_end_position,
            new_end_position: point_after(start_position, &change.text),
        });
    }
    Ok(())
}

/// Tree-sitter point (row, byte column) of a byte offset.
fn point_at(line_index: &LineIndex, offset: usize) -> Point {
    let line_col = line_index.line_col(TextSize::new(offset as u32));
    Point {
        row: line_col.line as usize,
        column: line_col.col as usize,
    }
}

fn point_after(start: Point, inserted: &str) -> Point {
    match inserted.rfind('\n') {
        Some(last) => Point {
            row: start.row + inserted.matches('\n').count(),
            column: inserted.len() - last - 1,
        },
        None => Point {
            row: start.row,
            column: start.column + inserted.len(),
        },
    }
}

fn diff_chunks(old: &[Chunk], new: &[Chunk]) -> ChunkDelta {
    let old_by_id: HashMap<&ChunkId, &Chunk> = old.iter().map(|c| (&c.chunk_id, c)).collect();
    let new_ids: HashSet<&ChunkId> = new.iter().map(|c| &c.chunk_id).collect();
    let mut delta = ChunkDelta::default();
    for chunk in new {
        match old_by_id.get(&chunk.chunk_id) {
            None => delta.added.push(chunk.chunk_id.clone()),
            Some(old) if old.content_hash != chunk.content_hash => {
                delta.changed.push(chunk.chunk_id.clone())
            }
            Some(old) if old.start_line != chunk.start_line || old.end_line != chunk.end_line => {
                delta.moved.push(chunk.chunk_id.clone())
            }
            Some(_) => {}
        }
    }
    delta.removed = old
        .iter()
        .filter(|c| !new_ids.contains(&c.chunk_id))
        .map(|c| c.chunk_id.clone())
        .collect();
    delta
}
