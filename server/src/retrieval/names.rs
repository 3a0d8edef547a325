//! The names a repository's components go by, for checking a proposed design: a component it
//! says it *changes* must be one of them, one it *adds* must not.

use std::collections::HashSet;

use crate::analysis::Analysis;
use crate::index::{ChunkKind, WorkspaceIndex, symbol_head, symbol_member, symbol_owner};

/// Every name of the index's chunks and the analysis' tables (see [`ComponentNames::knows`]).
#[derive(Default)]
pub struct ComponentNames(HashSet<String>);

impl ComponentNames {
    pub fn build(index: &WorkspaceIndex, analysis: Option<&Analysis>) -> ComponentNames {
        let mut names = HashSet::new();
        for (_, chunk) in index.chunks() {
            let head = symbol_head(&chunk.symbol);
            let member = symbol_member(&chunk.symbol);
            names.insert(head.to_string());
            names.insert(member.to_string());
            if chunk.kind != ChunkKind::TypeHeader {
                let owner = symbol_owner(&chunk.symbol);
                names.insert(owner.to_string());
                names.insert(format!("{owner}.{member}"));
                if let Some((qualified_type, _)) = head.rsplit_once('.') {
                    names.insert(qualified_type.to_string());
                }
            }
            let file = chunk.path.rsplit('/').next().unwrap_or_default();
            names.insert(chunk.path.clone());
            names.insert(file.to_string());
            names.insert(file.split('.').next().unwrap_or_default().to_string());
        }
        if let Some(analysis) = analysis {
            let tables = analysis
                .domains
                .domains
                .iter()
                .flat_map(|d| d.tables.iter())
                .chain(
                    analysis
                        .flows
                        .iter()
                        .flat_map(|f| f.steps.iter().filter_map(|s| s.table.as_ref())),
                )
                .chain(analysis.states.iter().filter_map(|s| s.table.as_ref()));
            names.extend(tables.cloned());
        }
        names.remove("");
        ComponentNames(names)
    }

    /// Whether the repository has a component called `name`: a qualified or simple type name,
    /// `Type.member`, a member or mapper statement id, a file path or file name, or a table the
    /// analysis read from its SQL.
    pub fn knows(&self, name: &str) -> bool {
        self.0.contains(name.trim().trim_end_matches("()"))
    }
}
