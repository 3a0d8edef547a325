//! Which facts cite each chunk: the query behind the editor's hover and code actions ("what
//! does the analysis say about the code under the cursor"). Built once per analysis; pure.

use std::collections::{HashMap, HashSet};

use acdp_index::Symbol;
use acdp_index::{Chunk, ChunkId};

use crate::{Analysis, Domain, Flow, Rule, Transition};

/// Positions of the facts that cite one chunk, in the analysis' (sorted) order.
#[derive(Default)]
struct ChunkFacts {
    rules: Vec<usize>,
    flows: Vec<usize>,
    /// (state machine, transition).
    transitions: Vec<(usize, usize)>,
}

/// What the analysis says about one chunk.
pub struct ChunkAnalysis<'a> {
    pub domain: Option<&'a Domain>,
    pub rules: Vec<&'a Rule>,
    pub flows: Vec<&'a Flow>,
    /// (entity, field, transition).
    pub transitions: Vec<(&'a str, &'a str, &'a Transition)>,
}

impl ChunkAnalysis<'_> {
    /// Whether any rule, flow or transition cites the chunk.
    pub fn has_facts(&self) -> bool {
        !(self.rules.is_empty() && self.flows.is_empty() && self.transitions.is_empty())
    }
}

/// The facts of an [`Analysis`] by the chunks they cite, and the domain of each class.
#[derive(Default)]
pub struct FactsByChunk {
    by_chunk: HashMap<ChunkId, ChunkFacts>,
    /// Qualified class name -> domain position.
    domain_of_class: HashMap<String, usize>,
}

impl FactsByChunk {
    pub fn new(analysis: &Analysis) -> FactsByChunk {
        let mut by_chunk: HashMap<ChunkId, ChunkFacts> = HashMap::new();
        for (i, rule) in analysis.rules.iter().enumerate() {
            for id in &rule.chunk_ids {
                by_chunk.entry(id.clone()).or_default().rules.push(i);
            }
        }
        for (i, flow) in analysis.flows.iter().enumerate() {
            let mut seen = HashSet::new();
            for id in flow.chunk_ids.iter().filter(|id| seen.insert(*id)) {
                by_chunk.entry(id.clone()).or_default().flows.push(i);
            }
        }
        for (m, machine) in analysis.states.iter().enumerate() {
            for (t, transition) in machine.transitions.iter().enumerate() {
                for id in &transition.chunk_ids {
                    by_chunk
                        .entry(id.clone())
                        .or_default()
                        .transitions
                        .push((m, t));
                }
            }
        }
        let domain_of_class = analysis
            .domains
            .domains
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.classes.iter().map(move |c| (c.clone(), i)))
            .collect();
        FactsByChunk {
            by_chunk,
            domain_of_class,
        }
    }

    /// The facts of `analysis` (the one this was built from) citing `chunk`, and its domain:
    /// the domain of its class (or the nearest
    /// enclosing name the domain map knows), else the domain of the first fact citing it.
    pub fn of<'a>(&self, analysis: &'a Analysis, chunk: &Chunk) -> ChunkAnalysis<'a> {
        let facts = self.by_chunk.get(&chunk.chunk_id);
        let rules: Vec<&Rule> = facts
            .into_iter()
            .flat_map(|f| f.rules.iter().map(|&i| &analysis.rules[i]))
            .collect();
        let flows: Vec<&Flow> = facts
            .into_iter()
            .flat_map(|f| f.flows.iter().map(|&i| &analysis.flows[i]))
            .collect();
        let transitions = facts
            .into_iter()
            .flat_map(|f| f.transitions.iter())
            .map(|&(m, t)| {
                let machine = &analysis.states[m];
                (
                    machine.entity.as_str(),
                    machine.field.as_str(),
                    &machine.transitions[t],
                )
            })
            .collect();
        let by_class = enclosing_names(&chunk.symbol)
            .find_map(|name| self.domain_of_class.get(name))
            .map(|&i| &analysis.domains.domains[i]);
        let by_fact = || {
            let name = rules
                .first()
                .map(|r| r.domain.as_str())
                .or_else(|| flows.first().map(|f| f.domain.as_str()))?;
            analysis.domains.domains.iter().find(|d| d.name == name)
        };
        let domain = by_class.or_else(by_fact);
        ChunkAnalysis {
            domain,
            rules,
            flows,
            transitions,
        }
    }
}

/// `a.b.C.m(X)` -> `a.b.C.m`, `a.b.C`, `a.b`, `a`: the names a symbol sits in, innermost first.
fn enclosing_names(symbol: &str) -> impl Iterator<Item = &str> {
    let base = Symbol::parse(symbol).head();
    let base = base.split('#').next().unwrap_or(base);
    std::iter::successors(Some(base), |s| s.rfind('.').map(|i| &s[..i]))
}

#[cfg(test)]
mod tests {
    use super::enclosing_names;

    #[test]
    fn enclosing_names_walk_out_from_a_method() {
        let names: Vec<&str> = enclosing_names("a.b.C.m(java.util.List)").collect();
        assert_eq!(names, ["a.b.C.m", "a.b.C", "a.b", "a"]);
    }
}
