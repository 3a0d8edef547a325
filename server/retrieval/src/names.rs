//! The names a repository's components go by, for checking a proposed design: a component it
//! says it *changes* must be one of them, one it *adds* must not. Read off the chunks on demand
//! (designs are checked rarely; a set of every name would double the retriever's strings on
//! a large repository) and off the analysis' tables.

use std::collections::HashSet;

use acdp_analysis::Analysis;
use acdp_index::{symbol_head, symbol_member, symbol_owner};

/// Whether the chunk at `path` with `symbol` goes by `name`: its qualified or simple type name,
/// `Type.member`, its member or mapper statement id, its file path, file name or file stem.
/// `is_type` for a type header (whose owner is an enclosing type, not itself).
pub fn chunk_goes_by(symbol: &str, path: &str, is_type: bool, name: &str) -> bool {
    let head = symbol_head(symbol);
    let member = symbol_member(symbol);
    if name == head || name == member {
        return true;
    }
    if !is_type {
        let owner = symbol_owner(symbol);
        if name == owner
            || head
                .rsplit_once('.')
                .is_some_and(|(qualified, _)| qualified == name)
            || name.split_once('.') == Some((owner, member))
        {
            return true;
        }
    }
    let file = path.rsplit('/').next().unwrap_or_default();
    name == path || name == file || file.split('.').next() == Some(name)
}

/// The tables the analysis read from the repository's SQL.
pub fn tables(analysis: &Analysis) -> HashSet<String> {
    analysis
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
        .chain(analysis.states.iter().filter_map(|s| s.table.as_ref()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_chunk_goes_by_its_type_member_and_file_names() {
        let (symbol, path) = (
            "com.acme.order.OrderService.cancel(Long)",
            "src/com/acme/order/OrderService.java",
        );
        for name in [
            "com.acme.order.OrderService.cancel",
            "cancel",
            "OrderService",
            "OrderService.cancel",
            "com.acme.order.OrderService",
            "OrderService.java",
            path,
        ] {
            assert!(chunk_goes_by(symbol, path, false, name), "{name}");
        }
        assert!(!chunk_goes_by(symbol, path, false, "RefundService"));
        assert!(!chunk_goes_by(symbol, path, false, "Other.cancel"));
        // A type header's owner is its package or enclosing type, not a name it goes by.
        assert!(!chunk_goes_by(
            "com.acme.order.OrderService",
            path,
            true,
            "order"
        ));
    }
}
