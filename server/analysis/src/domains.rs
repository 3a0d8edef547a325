//! Business domains, the second pass: which classes, entry points, tables and rules belong
//! together, summarised after flows and rules are read. The first pass, the domain of each
//! type, is [`super::domain_assignment`].

use std::collections::BTreeMap;

use serde::Serialize;

use super::domain_assignment::DomainAssignment;
use super::flows::Flow;
use super::rules::Rule;
use super::symbols::Symbols;
use acdp_index::ChunkId;

#[derive(Clone, Debug, Serialize)]
pub struct Domain {
    pub name: String,
    /// Where the domain came from: `config`, `package`, `class_prefix` or `shared`.
    pub source: String,
    pub classes: Vec<String>,
    /// Symbols of the flow entry points (endpoints, jobs, listeners) in the domain.
    pub entry_points: Vec<String>,
    pub tables: Vec<String>,
    pub rules: usize,
    /// Type-header chunks of the domain's classes.
    pub chunk_ids: Vec<ChunkId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DomainMap {
    pub domains: Vec<Domain>,
}

/// The output map: domains with their classes, entry points, tables and rule counts.
pub fn summarise(
    assignment: DomainAssignment,
    symbols: &Symbols<'_>,
    flows: &[Flow],
    rules: &[Rule],
) -> DomainMap {
    let mut by_name: BTreeMap<String, Domain> = BTreeMap::new();
    let entry = |name: &str, by_name: &mut BTreeMap<String, Domain>| {
        by_name.entry(name.to_owned()).or_insert_with(|| Domain {
            name: name.to_owned(),
            source: String::new(),
            classes: Vec::new(),
            entry_points: Vec::new(),
            tables: Vec::new(),
            rules: 0,
            chunk_ids: Vec::new(),
        });
    };
    for (t, name) in assignment.of_type.iter().enumerate() {
        if symbols.types[t].generated {
            continue;
        }
        entry(name, &mut by_name);
        let d = by_name.get_mut(name).expect("inserted above");
        if d.source.is_empty() {
            d.source = assignment.source[t].to_owned();
        }
        d.classes.push(symbols.type_facts(t).symbol.clone());
        if let Some(c) = &symbols.types[t].chunk_id {
            d.chunk_ids.push(c.clone());
        }
    }
    for st in &symbols.statements {
        let name = symbols
            .type_by_fqn(&st.namespace)
            .map(|t| assignment.of_type[t].clone())
            .unwrap_or_else(|| assignment.fallback.clone());
        entry(&name, &mut by_name);
        let d = by_name.get_mut(&name).expect("inserted above");
        for table in &st.summary.tables {
            if !d.tables.contains(table) {
                d.tables.push(table.clone());
            }
        }
    }
    for flow in flows {
        entry(&flow.domain, &mut by_name);
        let d = by_name.get_mut(&flow.domain).expect("inserted above");
        d.entry_points.push(flow.entry.symbol.clone());
    }
    for rule in rules {
        entry(&rule.domain, &mut by_name);
        by_name.get_mut(&rule.domain).expect("inserted above").rules += 1;
    }
    let mut domains: Vec<Domain> = by_name.into_values().collect();
    for d in &mut domains {
        d.classes.sort();
        d.tables.sort();
        d.entry_points.sort();
        d.chunk_ids.sort();
    }
    DomainMap { domains }
}
