//! The unit of evidence: a [`Chunk`] of source text with a stable [`ChunkId`].
//!
//! A chunk id is derived from what the code *is* (path, kind, qualified symbol), never from where
//! it sits or what it contains, so datasets that cite chunks survive edits elsewhere in the file
//! and edits inside the chunk. What the code *says* is captured by [`ContentHash`], which tells
//! when cited evidence went stale.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a chunk covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkKind {
    /// A type declaration: annotations, modifiers, signature and the fields before its first
    /// method, constructor, initializer or nested type.
    TypeHeader,
    /// A method, including its annotations; abstract methods too.
    Method,
    /// A constructor, including its annotations.
    Constructor,
    /// A MyBatis mapper element (`select`, `insert`, `update`, `delete`, `sql`, `resultMap`),
    /// whose symbol is `namespace.id`.
    MapperStatement,
}

impl ChunkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::TypeHeader => "type_header",
            ChunkKind::Method => "method",
            ChunkKind::Constructor => "constructor",
            ChunkKind::MapperStatement => "mapper_statement",
        }
    }
}

impl fmt::Display for ChunkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A short stable identifier: `c` followed by 12 hex digits of
/// `blake3("acdp-chunk-v1\0" path "\0" kind "\0" symbol)`.
///
/// 48 bits keep ids short enough to cite in a prompt; a collision needs ~16 million chunks in one
/// repository before it becomes likely.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChunkId(String);

impl ChunkId {
    /// Computes the id of the chunk with this repository-relative `path` (with `/` separators),
    /// `kind` and qualified `symbol`.
    pub fn compute(path: &str, kind: ChunkKind, symbol: &str) -> ChunkId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"acdp-chunk-v1\0");
        hasher.update(path.as_bytes());
        hasher.update(b"\0");
        hasher.update(kind.as_str().as_bytes());
        hasher.update(b"\0");
        hasher.update(symbol.as_bytes());
        let hex = hasher.finalize().to_hex();
        ChunkId(format!("c{}", &hex[..12]))
    }

    /// Wraps an id read from a dataset or a request; see [`ChunkId::is_well_formed`].
    pub fn from_string(id: String) -> ChunkId {
        ChunkId(id)
    }

    /// Whether the id has the shape of ids this crate computes.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == 13
            && self.0.starts_with('c')
            && self.0[1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `b3:` followed by 16 hex digits of the blake3 hash of a chunk's text, with `\r\n` read as
/// `\n` so that a Windows checkout (`core.autocrlf`) does not mark every chunk stale.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    pub fn of(text: &str) -> ContentHash {
        let mut hasher = blake3::Hasher::new();
        let mut rest = text.as_bytes();
        while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
            hasher.update(&rest[..pos]);
            rest = &rest[pos + 1..];
        }
        hasher.update(rest);
        let hex = hasher.finalize().to_hex();
        ContentHash(format!("b3:{}", &hex[..16]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One chunk of a source file. The text itself lives in the file it was cut from
/// (`&file.text[chunk.start_byte..chunk.end_byte]`), so the index holds each file once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub chunk_id: ChunkId,
    pub kind: ChunkKind,
    /// Repository-relative path with `/` separators.
    pub path: String,
    /// Qualified symbol: `pkg.Outer.Inner` for types, `pkg.Type.name(ParamType,...)` for methods
    /// and constructors, `namespace.id` for mapper statements. A symbol that occurs twice in one
    /// file (only possible in broken code) gets `#2`, `#3` ... in order of appearance.
    pub symbol: String,
    /// The chunk of the enclosing type, for members and nested types.
    pub parent: Option<ChunkId>,
    /// 1-based, inclusive.
    pub start_line: u32,
    /// 1-based, inclusive.
    pub end_line: u32,
    pub start_byte: usize,
    pub end_byte: usize,
    pub content_hash: ContentHash,
    /// The comment right above the declaration (Javadoc, `//` lines or `<!-- -->`), markers
    /// stripped.
    pub doc: Option<String>,
}

/// A chunk symbol taken apart once, so that no caller splits on `(` or `.` itself:
/// `pkg.Outer.Type.name(A,B)` is the member `name`, with parameters `A,B`, of the type
/// `pkg.Outer.Type`; a type's own symbol `pkg.Outer.Type` is the member `Type` of `pkg.Outer`
/// with no parameters; a mapper statement `namespace.id` is the member `id` of `namespace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    /// What the member belongs to: `pkg.Outer.Type`; `None` for a bare name.
    pub type_path: Option<&'a str>,
    /// `name`.
    pub member: &'a str,
    /// The parameter types between the parentheses, `A,B` (empty for none); `None` for
    /// types, fields and mapper statements.
    pub params: Option<&'a str>,
    text: &'a str,
    head_len: usize,
}

impl<'a> Symbol<'a> {
    pub fn parse(text: &'a str) -> Symbol<'a> {
        let head_len = text.find('(').unwrap_or(text.len());
        let head = &text[..head_len];
        let params = (head_len < text.len()).then(|| {
            let close = text
                .rfind(')')
                .filter(|&c| c > head_len)
                .unwrap_or(text.len());
            &text[head_len + 1..close]
        });
        let (type_path, member) = match head.rsplit_once('.') {
            Some((type_path, member)) => (Some(type_path), member),
            None => (None, head),
        };
        Symbol {
            type_path,
            member,
            params,
            text,
            head_len,
        }
    }

    /// The symbol without its parameter list: `pkg.Type.name`.
    pub fn head(&self) -> &'a str {
        &self.text[..self.head_len]
    }

    /// The member with its parameter list: `name(A,B)`.
    pub fn signature(&self) -> &'a str {
        match self.type_path {
            Some(type_path) => &self.text[type_path.len() + 1..],
            None => self.text,
        }
    }

    /// The simple name of the owner: `Type` of `pkg.Type.name(A)`, `Outer` of `pkg.Outer.Type`;
    /// empty for a bare name.
    pub fn owner(&self) -> &'a str {
        self.type_path
            .map_or("", |path| path.rsplit('.').next().unwrap_or(path))
    }

    /// `Type.name`, as people name a member in prose; the member alone for a bare name.
    pub fn short(&self) -> String {
        match self.type_path {
            Some(_) => format!("{}.{}", self.owner(), self.member),
            None => self.member.to_owned(),
        }
    }

    /// `Type.name` for a method or constructor, `Type` for a type, field or statement: short
    /// enough for a menu or a diagram label.
    pub fn label(&self) -> String {
        match self.params {
            Some(_) => self.short(),
            None => self.member.to_owned(),
        }
    }
}

/// A chunk symbol without its parameter list: `pkg.Type.name(A,B)` -> `pkg.Type.name`.
pub fn symbol_head(symbol: &str) -> &str {
    Symbol::parse(symbol).head()
}

/// The member a chunk symbol names: `pkg.Type.name(A,B)` -> `name`, `namespace.id` -> `id`,
/// `pkg.Type` -> `Type`.
pub fn symbol_member(symbol: &str) -> &str {
    Symbol::parse(symbol).member
}

/// The simple name of the type a member symbol belongs to: `pkg.Type.name(A)` -> `Type`
/// (for a type's own symbol, its enclosing type or package segment).
pub fn symbol_owner(symbol: &str) -> &str {
    Symbol::parse(symbol).owner()
}

/// A chunk id as a regular expression (no anchors): `c` and 12 hex digits.
pub const CHUNK_ID_PATTERN: &str = "c[0-9a-f]{12}";

impl Chunk {
    /// The chunk's text, cut from the text of the file it was indexed from.
    pub fn text<'a>(&self, file_text: &'a str) -> &'a str {
        &file_text[self.start_byte..self.end_byte]
    }
}

/// Builds chunks for one file and keeps symbols unique within it.
pub(crate) struct ChunkSink<'a> {
    path: &'a str,
    text: &'a str,
    chunks: Vec<Chunk>,
    seen: std::collections::HashMap<(ChunkKind, String), u32>,
}

/// A chunk before its id and hash are computed.
pub(crate) struct ChunkDraft {
    pub kind: ChunkKind,
    pub symbol: String,
    pub parent: Option<ChunkId>,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: usize,
    pub end_byte: usize,
    pub doc: Option<String>,
}

impl<'a> ChunkSink<'a> {
    pub(crate) fn new(path: &'a str, text: &'a str) -> Self {
        ChunkSink {
            path,
            text,
            chunks: Vec::new(),
            seen: Default::default(),
        }
    }

    /// Adds a chunk and returns its id.
    pub(crate) fn push(&mut self, draft: ChunkDraft) -> ChunkId {
        let count = self
            .seen
            .entry((draft.kind, draft.symbol.clone()))
            .or_insert(0);
        *count += 1;
        let symbol = if *count == 1 {
            draft.symbol
        } else {
            format!("{}#{}", draft.symbol, count)
        };
        let chunk_id = ChunkId::compute(self.path, draft.kind, &symbol);
        let content_hash = ContentHash::of(&self.text[draft.start_byte..draft.end_byte]);
        self.chunks.push(Chunk {
            chunk_id: chunk_id.clone(),
            kind: draft.kind,
            path: self.path.to_owned(),
            symbol,
            parent: draft.parent,
            start_line: draft.start_line,
            end_line: draft.end_line,
            start_byte: draft.start_byte,
            end_byte: draft.end_byte,
            content_hash,
            doc: draft.doc,
        });
        chunk_id
    }

    pub(crate) fn finish(self) -> Vec<Chunk> {
        self.chunks
    }
}

/// The innermost of `chunks` that contains byte `offset` (a method rather than its class).
pub fn innermost_chunk_at(chunks: &[Chunk], offset: usize) -> Option<&Chunk> {
    chunks
        .iter()
        .filter(|c| c.start_byte <= offset && offset <= c.end_byte)
        .min_by_key(|c| c.end_byte - c.start_byte)
}

#[cfg(test)]
mod tests {
    #[test]
    fn symbols_come_apart_into_type_member_and_parameters() {
        let method = Symbol::parse("com.acme.Order.cancel(java.lang.Long,String)");
        assert_eq!(method.type_path, Some("com.acme.Order"));
        assert_eq!(method.member, "cancel");
        assert_eq!(method.params, Some("java.lang.Long,String"));
        assert_eq!(method.head(), "com.acme.Order.cancel");
        assert_eq!(method.signature(), "cancel(java.lang.Long,String)");
        assert_eq!(method.owner(), "Order");
        assert_eq!(method.short(), "Order.cancel");
        assert_eq!(method.label(), "Order.cancel");
        let no_args = Symbol::parse("a.B.run()");
        assert_eq!(no_args.params, Some(""));
        let repeated = Symbol::parse("a.B.run(int)#2");
        assert_eq!(repeated.params, Some("int"));
        assert_eq!(repeated.head(), "a.B.run");
        let class = Symbol::parse("com.acme.Order");
        assert_eq!(class.type_path, Some("com.acme"));
        assert_eq!(class.member, "Order");
        assert_eq!(class.params, None);
        assert_eq!(class.label(), "Order");
        assert_eq!(class.short(), "acme.Order");
        let bare = Symbol::parse("main");
        assert_eq!(bare.type_path, None);
        assert_eq!(bare.owner(), "");
        assert_eq!(bare.short(), "main");
        assert_eq!(bare.signature(), "main");
    }

    use super::*;

    #[test]
    fn id_depends_on_path_kind_and_symbol_only() {
        let a = ChunkId::compute("src/A.java", ChunkKind::Method, "p.A.f(int)");
        assert_eq!(
            a,
            ChunkId::compute("src/A.java", ChunkKind::Method, "p.A.f(int)")
        );
        assert!(a.is_well_formed(), "{a}");
        assert_ne!(
            a,
            ChunkId::compute("src/B.java", ChunkKind::Method, "p.A.f(int)")
        );
        assert_ne!(
            a,
            ChunkId::compute("src/A.java", ChunkKind::Constructor, "p.A.f(int)")
        );
        assert_ne!(
            a,
            ChunkId::compute("src/A.java", ChunkKind::Method, "p.A.f(long)")
        );
    }

    #[test]
    fn id_is_pinned_across_versions() {
        // Datasets written by earlier builds cite these ids: the derivation must never change.
        let expected = {
            let hex = blake3::hash(b"acdp-chunk-v1\0src/A.java\0method\0p.A.f(int)").to_hex();
            format!("c{}", &hex[..12])
        };
        assert_eq!(
            ChunkId::compute("src/A.java", ChunkKind::Method, "p.A.f(int)").as_str(),
            expected
        );
    }

    #[test]
    fn content_hash_ignores_crlf_but_not_content() {
        assert_eq!(ContentHash::of("a\r\nb\r\n"), ContentHash::of("a\nb\n"));
        assert_ne!(ContentHash::of("a\nb\n"), ContentHash::of("a\nc\n"));
        assert_ne!(ContentHash::of("a\rb"), ContentHash::of("ab"));
    }
}
