//! Collecting the evidence of one sample: chunk ids in, verbatim [`Evidence`] out, in the
//! order added (the first is the primary evidence), each chunk once.

use std::collections::{HashMap, HashSet};

use acdp_index::Symbol;
use acdp_index::{ChunkId, ChunkKind, WorkspaceIndex};
use acdp_sample::Evidence;

/// Chunk lookups the generators need besides ids: type headers by qualified name.
pub struct ChunkLookup<'a> {
    pub index: &'a WorkspaceIndex,
    headers: HashMap<&'a str, &'a ChunkId>,
    /// Simple type name -> header, for names that are unique in the repository.
    by_simple_name: HashMap<&'a str, Option<&'a ChunkId>>,
    /// Chunks of generated code: kept out of evidence unless asked for.
    generated: HashSet<&'a ChunkId>,
    pub include_generated: bool,
}

impl<'a> ChunkLookup<'a> {
    pub fn new(
        index: &'a WorkspaceIndex,
        generated: &'a HashSet<ChunkId>,
        include_generated: bool,
    ) -> Self {
        let headers: HashMap<&'a str, &'a ChunkId> = index
            .chunks()
            .filter(|(_, c)| c.kind == ChunkKind::TypeHeader)
            .map(|(_, c)| (c.symbol.as_str(), &c.chunk_id))
            .collect();
        let mut by_simple_name: HashMap<&'a str, Option<&'a ChunkId>> = HashMap::new();
        for (symbol, id) in &headers {
            by_simple_name
                .entry(simple_name(symbol))
                .and_modify(|slot| *slot = None)
                .or_insert(Some(*id));
        }
        ChunkLookup {
            index,
            headers,
            by_simple_name,
            generated: generated.iter().collect(),
            include_generated,
        }
    }

    /// The header chunk of a type by simple name, when only one type has that name.
    pub fn header_by_simple_name(&self, name: &str) -> Option<&'a ChunkId> {
        self.by_simple_name.get(name).copied().flatten()
    }

    /// The header chunk of a type, by qualified name.
    pub fn header(&self, type_symbol: &str) -> Option<&'a ChunkId> {
        self.headers.get(type_symbol).copied()
    }

    pub fn is_generated(&self, id: &ChunkId) -> bool {
        self.generated.contains(id)
    }
}

/// The evidence of one sample being built.
pub(crate) struct EvidenceSet<'l, 'a> {
    lookup: &'l ChunkLookup<'a>,
    items: Vec<Evidence>,
}

impl<'l, 'a> EvidenceSet<'l, 'a> {
    pub fn new(lookup: &'l ChunkLookup<'a>) -> Self {
        EvidenceSet {
            lookup,
            items: Vec::new(),
        }
    }

    /// Adds a chunk; returns its id when it is (now or already) part of the evidence, `None`
    /// when it is unknown or generated code that is not wanted.
    pub fn add(&mut self, id: &ChunkId) -> Option<ChunkId> {
        if self.items.iter().any(|e| &e.chunk_id == id) {
            return Some(id.clone());
        }
        if !self.lookup.include_generated && self.lookup.is_generated(id) {
            return None;
        }
        let (file, chunk) = self.lookup.index.chunk(id)?;
        self.items.push(Evidence::from_chunk(chunk, &file.text));
        Some(id.clone())
    }

    pub fn get(&self, id: &ChunkId) -> Option<&Evidence> {
        self.items.iter().find(|e| &e.chunk_id == id)
    }

    pub fn items(&self) -> &[Evidence] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn into_vec(self) -> Vec<Evidence> {
        self.items
    }
}

/// `pkg.Type` from a method symbol `pkg.Type.method(Args)`.
pub fn class_of(symbol: &str) -> Option<&str> {
    Symbol::parse(symbol).type_path
}

/// `Type.method` from `pkg.Type.method(Args)`: how people name a method in prose.
pub fn short_method(symbol: &str) -> String {
    Symbol::parse(symbol).short()
}

/// The simple name from a qualified one.
pub fn simple_name(symbol: &str) -> &str {
    Symbol::parse(symbol).member
}
