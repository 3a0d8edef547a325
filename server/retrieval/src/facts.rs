//! The analysis as search documents: each flow, rule and state machine is a short text (its
//! entry URL, step names, statement, condition, state names) that points at the chunks it was
//! read from. A question that says what the code *does* ("how is stock reserved") finds the
//! rule or flow that says it, and through it the methods, even when their code uses other
//! words. The flows also give the call edges the retriever expands along.

use std::collections::HashMap;

use acdp_analysis::{Analysis, Flow};
use acdp_index::ChunkId;
pub use acdp_index::symbol_member as member;

/// One fact: its words, and the chunks it points at with how much of its match each inherits
/// (the method holding a rule gets all of it, the steps of a flow part).
pub struct FactDocument {
    pub text: String,
    pub chunks: Vec<(ChunkId, f64)>,
}

/// How much of a fact's match its own chunk and the chunks it merely mentions inherit.
const OWN: f64 = 1.0;
const MENTIONED: f64 = 0.5;

/// The fact documents of `analysis`, in a fixed order (flows, rules, state machines).
pub fn documents(analysis: &Analysis) -> Vec<FactDocument> {
    let mut docs = Vec::new();
    docs.extend(analysis.flows.iter().map(flow_document));
    for rule in &analysis.rules {
        let mut text = format!(
            "{} {} {} {}",
            rule.kind.as_str().replace('_', " "),
            member(&rule.symbol),
            rule.statement,
            rule.condition
        );
        for extra in [&rule.message, &rule.comment, &rule.consequence, &rule.field]
            .into_iter()
            .flatten()
        {
            text.push(' ');
            text.push_str(extra);
        }
        for term in &rule.terms {
            text.push(' ');
            text.push_str(term);
        }
        docs.push(FactDocument {
            text,
            chunks: weighted(&rule.chunk_ids, OWN, MENTIONED),
        });
    }
    for machine in &analysis.states {
        let mut text = format!("{} {} status state", machine.entity, machine.field);
        for value in &machine.values {
            for word in [&value.name, &value.meaning].into_iter().flatten() {
                text.push(' ');
                text.push_str(word);
            }
        }
        let mut chunks = weighted(&machine.chunk_ids, OWN, OWN);
        for transition in &machine.transitions {
            text.push(' ');
            text.push_str(member(&transition.method));
            for id in &transition.chunk_ids {
                if !chunks.iter().any(|(c, _)| c == id) {
                    chunks.push((id.clone(), MENTIONED));
                }
            }
        }
        docs.push(FactDocument { text, chunks });
    }
    docs
}

fn flow_document(flow: &Flow) -> FactDocument {
    let entry = &flow.entry;
    let mut text = format!(
        "{} {} {} {}",
        entry.verb.as_deref().unwrap_or(""),
        entry.path.as_deref().unwrap_or(""),
        member(&entry.symbol),
        flow.domain
    );
    for timing in [&entry.timing, &entry.destination].into_iter().flatten() {
        text.push(' ');
        text.push_str(timing);
    }
    let mut chunks: Vec<(ChunkId, f64)> =
        entry.chunk_id.iter().map(|id| (id.clone(), OWN)).collect();
    for step in &flow.steps {
        text.push(' ');
        text.push_str(member(&step.symbol));
        if let Some(table) = &step.table {
            text.push(' ');
            text.push_str(table);
        }
        if let Some(id) = &step.chunk_id
            && step.depth == 1
            && !chunks.iter().any(|(c, _)| c == id)
        {
            chunks.push((id.clone(), MENTIONED));
        }
    }
    FactDocument { text, chunks }
}

fn weighted(ids: &[ChunkId], first: f64, rest: f64) -> Vec<(ChunkId, f64)> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), if i == 0 { first } else { rest }))
        .collect()
}

/// Call edges between chunks, read off the flows: each step's chunk is a callee of the chunk
/// of the method that calls it (`called_from`). Sorted and deduplicated.
pub fn call_edges(analysis: &Analysis) -> HashMap<ChunkId, Vec<ChunkId>> {
    let mut edges: HashMap<ChunkId, Vec<ChunkId>> = HashMap::new();
    for flow in &analysis.flows {
        let mut chunk_of: HashMap<&str, &ChunkId> = HashMap::new();
        if let Some(id) = &flow.entry.chunk_id {
            chunk_of.insert(&flow.entry.symbol, id);
        }
        for step in &flow.steps {
            if let Some(id) = &step.chunk_id {
                chunk_of.entry(&step.symbol).or_insert(id);
            }
        }
        for step in &flow.steps {
            if let (Some(callee), Some(caller)) =
                (&step.chunk_id, chunk_of.get(step.called_from.as_str()))
            {
                edges
                    .entry((*caller).clone())
                    .or_default()
                    .push(callee.clone());
            }
        }
    }
    for callees in edges.values_mut() {
        callees.sort();
        callees.dedup();
    }
    edges
}
