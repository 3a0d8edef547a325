//! The analysis a workspace folder answers from: the index of its files as last indexed (saved
//! text, not unsaved edits), the [`Analysis`] of that index, and which facts cite each chunk.
//!
//! Computed off the session lock by [`AnalysisJob::run`] after indexing, after saves and
//! watched-file changes (debounced, see `server.rs`) and after `acdp.reindex`; never on
//! keystrokes. Hover, code actions, the sample commands and `acdp/ask` (its BM25 retrieval)
//! read it; it does no I/O.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use acdp_analysis::{Analysis, AnalysisSettings, Domain, Flow, Rule, Transition, analyze};
use acdp_generate::generated_chunks;
use acdp_index::{Chunk, ChunkId, WorkspaceIndex};
use acdp_retrieval::{RetrievalMode, Retriever};

/// Analyse one folder's index; run [`AnalysisJob::run`] on a blocking thread.
pub struct AnalysisJob {
    pub workspace: usize,
    /// The index generation the job analyses; an older result never replaces a newer one.
    pub generation: u64,
    pub index: Arc<WorkspaceIndex>,
    pub settings: AnalysisSettings,
}

impl AnalysisJob {
    pub fn run(self) -> (usize, AnalysisSnapshot) {
        let workspace = self.workspace;
        (workspace, AnalysisSnapshot::new(self))
    }
}

/// Positions of the facts that cite one chunk, in the analysis' (sorted) order.
#[derive(Default)]
struct ChunkFacts {
    rules: Vec<usize>,
    flows: Vec<usize>,
    /// (state machine, transition).
    transitions: Vec<(usize, usize)>,
}

pub struct AnalysisSnapshot {
    pub generation: u64,
    pub index: Arc<WorkspaceIndex>,
    pub analysis: Analysis,
    /// Chunks of generated code (kept out of evidence, as in `acdp pipeline`).
    pub generated: HashSet<ChunkId>,
    pub settings: AnalysisSettings,
    by_chunk: HashMap<ChunkId, ChunkFacts>,
    /// Qualified class name -> domain position.
    domain_of_class: HashMap<String, usize>,
    /// Retrieval over the index's chunks and the analysis for `acdp/ask` and hover answers,
    /// built on first use.
    retrieval: OnceLock<Retriever>,
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

impl AnalysisSnapshot {
    fn new(job: AnalysisJob) -> AnalysisSnapshot {
        let analysis = analyze(&job.index, &job.settings);
        let generated = generated_chunks(&job.index);
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
        AnalysisSnapshot {
            generation: job.generation,
            index: job.index,
            analysis,
            generated,
            settings: job.settings,
            by_chunk,
            domain_of_class,
            retrieval: OnceLock::new(),
        }
    }

    /// Retrieval over the analysed index's chunks and facts (built on first use: call it off
    /// the session lock, it reads every chunk).
    pub fn retrieval(&self) -> &Retriever {
        self.retrieval.get_or_init(|| {
            Retriever::build(&self.index, Some(&self.analysis), RetrievalMode::Analysis)
        })
    }

    /// The facts citing `chunk`, and its domain: the domain of its class (or the nearest
    /// enclosing name the domain map knows), else the domain of the first fact citing it.
    pub fn chunk_analysis(&self, chunk: &Chunk) -> ChunkAnalysis<'_> {
        let facts = self.by_chunk.get(&chunk.chunk_id);
        let rules: Vec<&Rule> = facts
            .into_iter()
            .flat_map(|f| f.rules.iter().map(|&i| &self.analysis.rules[i]))
            .collect();
        let flows: Vec<&Flow> = facts
            .into_iter()
            .flat_map(|f| f.flows.iter().map(|&i| &self.analysis.flows[i]))
            .collect();
        let transitions = facts
            .into_iter()
            .flat_map(|f| f.transitions.iter())
            .map(|&(m, t)| {
                let machine = &self.analysis.states[m];
                (
                    machine.entity.as_str(),
                    machine.field.as_str(),
                    &machine.transitions[t],
                )
            })
            .collect();
        let by_class = enclosing_names(&chunk.symbol)
            .find_map(|name| self.domain_of_class.get(name))
            .map(|&i| &self.analysis.domains.domains[i]);
        let by_fact = || {
            let name = rules
                .first()
                .map(|r| r.domain.as_str())
                .or_else(|| flows.first().map(|f| f.domain.as_str()))?;
            self.analysis
                .domains
                .domains
                .iter()
                .find(|d| d.name == name)
        };
        let domain = by_class.or_else(by_fact);
        ChunkAnalysis {
            domain,
            rules,
            flows,
            transitions,
        }
    }

    /// The chunk with this id in the analysed index.
    pub fn chunk(&self, id: &ChunkId) -> Option<&Chunk> {
        self.index.chunk(id).map(|(_, chunk)| chunk)
    }
}

/// `a.b.C.m(X)` -> `a.b.C.m`, `a.b.C`, `a.b`, `a`: the names a symbol sits in, innermost first.
fn enclosing_names(symbol: &str) -> impl Iterator<Item = &str> {
    let base = symbol.split('(').next().unwrap_or(symbol);
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
