//! Retrieval: the chunks that answer a question, for `acdp ask`, `acdp/ask`, hover answers
//! and `acdp eval`.
//!
//! A chunk's score joins five signals (docs/retrieval.md gives the weights and figures):
//!
//! - [`bm25`] over the chunk's code, symbol, path and doc comment, with [`terms`] (identifiers
//!   split, stop words and Java keywords dropped, English stems);
//! - the same over the chunk's own name and its type's;
//! - BM25 over the analysis' facts ([`facts`]): flows, rules and state machines point at the
//!   chunks they were read from, so "how is stock reserved" finds the method a rule says
//!   reserves it;
//! - a [`prior`] that demotes generated code, accessors and bodiless declarations, unless the
//!   question names the chunk;
//! - identifiers the question names exactly (`lock_stock`, `orderSn`, `/order/pay`).
//!
//! Then the call graph (read off the flows) lifts the callees of the best chunks: a service
//! method comes with the mapper statement that does its write. [`names`] keeps what a design
//! may say exists. Pure: no I/O, deterministic (ties broken by chunk id).

pub mod bm25;
pub mod facts;
pub mod names;
pub mod prior;
pub mod terms;

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use acdp_analysis::Analysis;
use acdp_index::{ChunkKind, WorkspaceIndex, symbol_member, symbol_owner};
use bm25::Bm25;
use prior::{FilePrior, Prior};
pub use terms::{search_terms, split_identifier};

/// A chunk handed to the model, with the text it was given.
#[derive(Clone, Debug, Serialize)]
pub struct RetrievedChunk {
    pub chunk_id: String,
    pub path: String,
    pub symbol: String,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f64,
    #[serde(skip)]
    pub text: String,
}

/// Which signals a [`Retriever`] uses. [`RetrievalMode::Text`] is plain BM25 over the raw
/// identifiers of chunk text (no stems, no stop words, no priors), exactly what `acdp ask` did
/// before the analysis was used: kept so `acdp eval --text-only` shows on any repository what
/// the other signals are worth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetrievalMode {
    #[default]
    Analysis,
    Text,
}

/// How much a match in the chunk's own name adds to a match in its text.
const NAME_WEIGHT: f64 = 0.5;
/// A fact's share of a chunk's score, relative to the chunk's own text match.
const FACT_WEIGHT: f64 = 0.6;
/// Added for a chunk whose own name (member, mapper statement id, type of a type header) or
/// flow entry URL is an identifier of the question; its prior's demotion is lifted too.
const NAMED_BONUS: f64 = 1.0;
/// Added, times the chunk's prior, for a chunk whose code holds an identifier of the question
/// or whose type the question names.
const MENTION_BONUS: f64 = 0.3;
/// A callee of a top chunk scores at least this share of its caller's score...
const CALLEE_SHARE: f64 = 0.5;
/// ...times this when it shares no word with the question.
const UNRELATED_CALLEE: f64 = 0.4;
/// How many of the best chunks pass score on to their callees.
const TOP_CALLERS: usize = 10;
/// Terms sharing a prefix this long or longer with a question term match at a discount.
const PREFIX_MIN: usize = 4;
const PREFIX_WEIGHT: f64 = 0.5;
/// ...and differing by at most this many letters (`order` does not reach `orderitemlist`).
const PREFIX_SLACK: usize = 3;

struct ChunkDocument {
    chunk: RetrievedChunk,
    prior: Prior,
    /// Member name (`lockStock`), mapper statement id or simple type name.
    name: String,
    /// Simple name of the type the chunk belongs to.
    type_name: String,
}

/// Ranks an index's chunks for questions (see the module docs).
pub struct Retriever {
    mode: RetrievalMode,
    docs: Vec<ChunkDocument>,
    text: Bm25,
    /// BM25 over each chunk's own name and its type's: a question's words in a method's name
    /// say more than the same words somewhere in its body.
    name_bm25: Bm25,
    facts: Bm25,
    /// For each fact document, the chunk positions it points at with their share.
    fact_chunks: Vec<Vec<(usize, f64)>>,
    callees: Vec<Vec<usize>>,
    /// The URL paths of the flows each chunk is the entry of.
    entry_paths: Vec<Vec<String>>,
    /// The tables the analysis read from the SQL (see [`Retriever::knows`]).
    tables: HashSet<String>,
}

impl Retriever {
    /// Builds the retriever over `index`; `analysis` adds the fact documents and call edges
    /// (without it, only the text, priors and exact names rank).
    pub fn build(
        index: &WorkspaceIndex,
        analysis: Option<&Analysis>,
        mode: RetrievalMode,
    ) -> Retriever {
        let mut docs = Vec::new();
        let mut text_terms = Vec::new();
        for file in &index.files {
            let file_prior = FilePrior::of(file);
            for chunk in &file.chunks {
                let text = chunk.text(&file.text);
                let name = symbol_member(&chunk.symbol).to_string();
                let type_name = match chunk.kind {
                    ChunkKind::TypeHeader => name.clone(),
                    _ => symbol_owner(&chunk.symbol).to_string(),
                };
                text_terms.push(match mode {
                    RetrievalMode::Analysis => terms::document_terms(&format!(
                        "{} {} {} {}",
                        chunk.path,
                        chunk.symbol,
                        chunk.doc.as_deref().unwrap_or_default(),
                        text
                    )),
                    RetrievalMode::Text => {
                        search_terms(&format!("{} {} {}", chunk.path, chunk.symbol, text))
                    }
                });
                docs.push(ChunkDocument {
                    prior: match mode {
                        RetrievalMode::Analysis => file_prior.chunk(chunk, text),
                        RetrievalMode::Text => Prior::Plain,
                    },
                    chunk: RetrievedChunk {
                        chunk_id: chunk.chunk_id.as_str().to_string(),
                        path: chunk.path.clone(),
                        symbol: chunk.symbol.clone(),
                        start_line: chunk.start_line,
                        end_line: chunk.end_line,
                        score: 0.0,
                        text: text.to_string(),
                    },
                    name,
                    type_name,
                });
            }
        }
        let text = Bm25::new(text_terms);
        let name_bm25 = Bm25::new(
            docs.iter()
                .map(|d| terms::document_terms(&format!("{} {}", d.name, d.type_name))),
        );
        let position: HashMap<&str, usize> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.chunk.chunk_id.as_str(), i))
            .collect();
        let (fact_docs, edges) = match (mode, analysis) {
            (RetrievalMode::Analysis, Some(analysis)) => {
                (facts::documents(analysis), facts::call_edges(analysis))
            }
            _ => (Vec::new(), HashMap::new()),
        };
        let facts = Bm25::new(fact_docs.iter().map(|f| terms::document_terms(&f.text)));
        let fact_chunks: Vec<Vec<(usize, f64)>> = fact_docs
            .iter()
            .map(|f| {
                f.chunks
                    .iter()
                    .filter_map(|(id, share)| Some((*position.get(id.as_str())?, *share)))
                    .collect()
            })
            .collect();
        let mut callees = vec![Vec::new(); docs.len()];
        for (caller, targets) in &edges {
            if let Some(&c) = position.get(caller.as_str()) {
                callees[c] = targets
                    .iter()
                    .filter_map(|t| position.get(t.as_str()).copied())
                    .filter(|&t| t != c)
                    .collect();
            }
        }
        let mut entry_paths = vec![Vec::new(); docs.len()];
        for flow in analysis.map(|a| a.flows.as_slice()).unwrap_or_default() {
            let entry = flow
                .entry
                .chunk_id
                .as_ref()
                .and_then(|id| position.get(id.as_str()));
            if let (Some(&chunk), Some(path)) = (entry, &flow.entry.path) {
                entry_paths[chunk].push(path.clone());
            }
        }
        Retriever {
            name_bm25,
            entry_paths,
            tables: analysis.map(names::tables).unwrap_or_default(),
            mode,
            docs,
            text,
            facts,
            fact_chunks,
            callees,
        }
    }

    /// Whether the repository has a component called `name`: a chunk that goes by it
    /// ([`names::chunk_goes_by`]) or a table the analysis read from the SQL.
    pub fn knows(&self, name: &str) -> bool {
        let name = name.trim().trim_end_matches("()");
        !name.is_empty()
            && (self.tables.contains(name)
                || self.docs.iter().any(|d| {
                    names::chunk_goes_by(
                        &d.chunk.symbol,
                        &d.chunk.path,
                        d.name == d.type_name,
                        name,
                    )
                }))
    }

    /// The `k` best chunks for `question`, best first; ties broken by chunk id.
    pub fn search(&self, question: &str, k: usize) -> Vec<RetrievedChunk> {
        self.rank(question)
            .into_iter()
            .take(k)
            .map(|(score, i)| RetrievedChunk {
                score,
                ..self.docs[i].chunk.clone()
            })
            .collect()
    }

    /// Every chunk with a positive score, best first: (score, position).
    fn rank(&self, question: &str) -> Vec<(f64, usize)> {
        let query = self.query(question);
        let text = match self.mode {
            RetrievalMode::Text => self.text.scores(&query),
            RetrievalMode::Analysis => {
                let body = covered(self.text.scores(&query), self.text.ceiling(&query));
                let names = covered(
                    self.name_bm25.scores(&query),
                    self.name_bm25.ceiling(&query),
                );
                body.iter()
                    .zip(&names)
                    .map(|(b, n)| b + NAME_WEIGHT * n)
                    .collect()
            }
        };
        let mut scores: Vec<f64> = text.clone();
        if self.mode == RetrievalMode::Analysis {
            let facts = covered(self.facts.scores(&query), self.facts.ceiling(&query));
            let mut matched: Vec<Vec<f64>> = vec![Vec::new(); self.docs.len()];
            for (fact, score) in facts.iter().enumerate() {
                if *score <= 0.0 {
                    continue;
                }
                for &(chunk, share) in &self.fact_chunks[fact] {
                    matched[chunk].push(score * share);
                }
            }
            let from_facts: Vec<f64> = matched.into_iter().map(diminishing_sum).collect();
            let exact = terms::exact_identifiers(question);
            for (i, doc) in self.docs.iter().enumerate() {
                let named = exact
                    .iter()
                    .any(|id| *id == doc.name || self.entry_paths[i].contains(id));
                let in_named_type = exact.contains(&doc.type_name);
                let mentioned = exact.iter().any(|id| doc.chunk.text.contains(id.as_str()));
                let prior = if named { 1.0 } else { doc.prior.weight() };
                let mut score = prior * (text[i] + FACT_WEIGHT * from_facts[i]);
                if named {
                    score += NAMED_BONUS;
                } else if in_named_type || mentioned {
                    score += MENTION_BONUS * prior;
                }
                scores[i] = score;
            }
            self.lift_callees(&mut scores, &query);
        }
        let mut ranked: Vec<(f64, usize)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .map(|(i, s)| (s, i))
            .collect();
        ranked.sort_by(|a, b| {
            b.0.total_cmp(&a.0).then_with(|| {
                self.docs[a.1]
                    .chunk
                    .chunk_id
                    .cmp(&self.docs[b.1].chunk.chunk_id)
            })
        });
        ranked
    }

    /// One hop along the call graph from the best chunks: a callee scores at least a share of
    /// its caller's score (less when it shares no word with the question), so a flow's service
    /// and mapper steps come with its entry point.
    fn lift_callees(&self, scores: &mut [f64], query: &[Vec<(String, f64)>]) {
        let before = scores.to_vec();
        let mut order: Vec<usize> = (0..before.len()).filter(|&i| before[i] > 0.0).collect();
        order.sort_by(|&a, &b| before[b].total_cmp(&before[a]).then(a.cmp(&b)));
        for &caller in order.iter().take(TOP_CALLERS) {
            for &callee in &self.callees[caller] {
                let related = query
                    .iter()
                    .flatten()
                    .any(|(t, _)| self.text.contains(callee, t));
                let share = if related {
                    CALLEE_SHARE
                } else {
                    CALLEE_SHARE * UNRELATED_CALLEE
                };
                let lifted = before[caller] * share * self.docs[callee].prior.weight();
                scores[callee] = scores[callee].max(lifted);
            }
        }
    }

    /// The question's terms, each in a group with the index's terms that extend it or that it
    /// extends by a few letters (`calc` and `calcul`), at [`PREFIX_WEIGHT`].
    fn query(&self, question: &str) -> Vec<Vec<(String, f64)>> {
        if self.mode == RetrievalMode::Text {
            let mut plain = search_terms(question);
            plain.sort();
            plain.dedup();
            return plain.into_iter().map(|t| vec![(t, 1.0)]).collect();
        }
        let asked = terms::query_terms(question);
        let mut groups: Vec<Vec<(String, f64)>> =
            asked.iter().map(|t| vec![(t.clone(), 1.0)]).collect();
        for term in self.text.vocabulary() {
            if term.len() < PREFIX_MIN || asked.contains(term) {
                continue;
            }
            for (group, q) in groups.iter_mut().zip(&asked) {
                let (short, long) = if q.len() <= term.len() {
                    (q.as_str(), term.as_str())
                } else {
                    (term.as_str(), q.as_str())
                };
                if short.len() >= PREFIX_MIN
                    && long.starts_with(short)
                    && long.len() - short.len() <= PREFIX_SLACK
                {
                    group.push((term.clone(), PREFIX_WEIGHT));
                }
            }
        }
        for group in &mut groups {
            group[1..].sort_by(|a, b| a.0.cmp(&b.0));
        }
        groups
    }
}

/// A chunk's matching facts add up, each further one counting half the one before: a method
/// with four rules about coupons is more about coupons than one with one rule, but not four
/// times.
fn diminishing_sum(mut scores: Vec<f64>) -> f64 {
    scores.sort_by(|a, b| b.total_cmp(a));
    scores
        .iter()
        .enumerate()
        .map(|(i, s)| s / f64::powi(2.0, i as i32))
        .sum()
}

/// Scores divided by the most a document could score ([`Bm25::ceiling`]).
fn covered(scores: Vec<f64>, ceiling: f64) -> Vec<f64> {
    if ceiling <= 0.0 {
        return scores;
    }
    scores.into_iter().map(|s| s / ceiling).collect()
}
