//! Strict grounded answering: retrieve chunks with BM25, give them to the model with their
//! chunk_ids, require citations, check the answer, retry once, else "not enough evidence".
//!
//! The model's answer is never rewritten to pass the check. [`check_answer`] takes only the
//! answer text and the retrieved chunks, so the dataset validator can share or replace it.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::chat::Message;
use super::{GenerationOptions, LoadedModel, Result};
use crate::index::WorkspaceIndex;

/// What the user gets when the model's answers fail the check twice.
pub const NOT_ENOUGH_EVIDENCE: &str = "not enough evidence";

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

/// Lowercased search terms of `text`: every identifier, and its camelCase / snake_case parts.
pub fn search_terms(text: &str) -> Vec<String> {
    static WORD: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+").expect("valid regex"));
    let mut terms = Vec::new();
    for word in WORD.find_iter(text) {
        let word = word.as_str();
        let lower = word.to_lowercase();
        let parts = split_identifier(word);
        if parts.len() > 1 || parts.first().is_some_and(|p| *p != lower) {
            terms.extend(parts);
        }
        if lower.len() > 1 {
            terms.push(lower);
        }
    }
    terms
}

/// `getOrderId` -> get, order, id; `MAX_RETRY_COUNT` -> max, retry, count; `HTTPServer` ->
/// http, server.
pub fn split_identifier(word: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for piece in word.split('_').filter(|p| !p.is_empty()) {
        let chars: Vec<char> = piece.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let boundary = i > 0
                && c.is_uppercase()
                && (chars[i - 1].is_lowercase()
                    || chars[i - 1].is_ascii_digit()
                    || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
            if boundary && !current.is_empty() {
                parts.push(current.to_lowercase());
                current.clear();
            }
            current.push(c);
        }
        if !current.is_empty() {
            parts.push(current.to_lowercase());
        }
    }
    parts.retain(|p| p.len() > 1);
    parts
}

/// Okapi BM25 over chunk text, symbol and path.
pub struct Bm25Index {
    docs: Vec<RetrievedChunk>,
    term_freqs: Vec<HashMap<String, u32>>,
    lengths: Vec<f64>,
    doc_freq: HashMap<String, u32>,
    avg_len: f64,
}

impl Bm25Index {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;

    pub fn build(index: &WorkspaceIndex) -> Bm25Index {
        let docs: Vec<RetrievedChunk> = index
            .chunks()
            .map(|(file, chunk)| RetrievedChunk {
                chunk_id: chunk.chunk_id.as_str().to_string(),
                path: chunk.path.clone(),
                symbol: chunk.symbol.clone(),
                start_line: chunk.start_line,
                end_line: chunk.end_line,
                score: 0.0,
                text: chunk.text(&file.text).to_string(),
            })
            .collect();
        Bm25Index::from_chunks(docs)
    }

    pub fn from_chunks(docs: Vec<RetrievedChunk>) -> Bm25Index {
        let mut term_freqs = Vec::with_capacity(docs.len());
        let mut lengths = Vec::with_capacity(docs.len());
        let mut doc_freq: HashMap<String, u32> = HashMap::new();
        for doc in &docs {
            let mut tf: HashMap<String, u32> = HashMap::new();
            let terms = search_terms(&format!("{} {} {}", doc.path, doc.symbol, doc.text));
            lengths.push(terms.len() as f64);
            for term in terms {
                *tf.entry(term).or_default() += 1;
            }
            for term in tf.keys() {
                *doc_freq.entry(term.clone()).or_default() += 1;
            }
            term_freqs.push(tf);
        }
        let avg_len = if lengths.is_empty() {
            1.0
        } else {
            lengths.iter().sum::<f64>() / lengths.len() as f64
        };
        Bm25Index {
            docs,
            term_freqs,
            lengths,
            doc_freq,
            avg_len: avg_len.max(1.0),
        }
    }

    /// The `k` best chunks for `query`, best first; ties broken by chunk_id.
    pub fn search(&self, query: &str, k: usize) -> Vec<RetrievedChunk> {
        let mut terms = search_terms(query);
        terms.sort();
        terms.dedup();
        let n = self.docs.len() as f64;
        let mut scored: Vec<(f64, usize)> = Vec::new();
        for (i, tf) in self.term_freqs.iter().enumerate() {
            let mut score = 0.0;
            for term in &terms {
                let Some(&f) = tf.get(term) else { continue };
                let df = self.doc_freq.get(term).copied().unwrap_or(0) as f64;
                let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                let f = f as f64;
                let norm = Self::K1 * (1.0 - Self::B + Self::B * self.lengths[i] / self.avg_len);
                score += idf * f * (Self::K1 + 1.0) / (f + norm);
            }
            if score > 0.0 {
                scored.push((score, i));
            }
        }
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| self.docs[a.1].chunk_id.cmp(&self.docs[b.1].chunk_id))
        });
        scored
            .into_iter()
            .take(k)
            .map(|(score, i)| RetrievedChunk {
                score,
                ..self.docs[i].clone()
            })
            .collect()
    }
}

/// The verdict of [`check_answer`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct AnswerCheck {
    pub valid: bool,
    /// Cited chunk ids in order of first citation.
    pub cited: Vec<String>,
    /// Why the answer failed, one line per problem.
    pub problems: Vec<String>,
}

/// Chunk ids cited as `[c0123456789ab]` (several may share brackets: `[c..., c...]`).
pub fn citations(answer: &str) -> Vec<String> {
    static BRACKET: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\[([^\]]*)\]").expect("valid regex"));
    static ID: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\bc[0-9a-f]{12}\b").expect("valid regex"));
    let mut ids: Vec<String> = Vec::new();
    for bracket in BRACKET.captures_iter(answer) {
        for id in ID.find_iter(&bracket[1]) {
            if !ids.iter().any(|i| i == id.as_str()) {
                ids.push(id.as_str().to_string());
            }
        }
    }
    ids
}

/// Checks an answer against the chunks it was given: at least one citation, every cited id
/// was retrieved, and every identifier in backticks occurs in the text of a cited chunk.
pub fn check_answer(answer: &str, retrieved: &[RetrievedChunk]) -> AnswerCheck {
    static CODE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"`([^`\n]+)`").expect("valid regex"));
    static IDENT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("valid regex"));
    let cited = citations(answer);
    let mut problems = Vec::new();
    if cited.is_empty() {
        problems.push("no citation: cite chunks as [chunk_id]".to_string());
    }
    let by_id: HashMap<&str, &RetrievedChunk> =
        retrieved.iter().map(|c| (c.chunk_id.as_str(), c)).collect();
    let mut evidence = String::new();
    for id in &cited {
        match by_id.get(id.as_str()) {
            Some(chunk) => {
                evidence.push_str(&chunk.text);
                evidence.push('\n');
                evidence.push_str(&chunk.symbol);
                evidence.push('\n');
            }
            None => problems.push(format!(
                "cites {id}, which was not among the retrieved chunks"
            )),
        }
    }
    let evidence_words: HashSet<&str> = IDENT.find_iter(&evidence).map(|m| m.as_str()).collect();
    let mut missing: Vec<String> = Vec::new();
    for code in CODE.captures_iter(answer) {
        for ident in IDENT.find_iter(&code[1]) {
            let ident = ident.as_str();
            if !evidence_words.contains(ident) && !missing.iter().any(|m| m == ident) {
                missing.push(ident.to_string());
            }
        }
    }
    if !cited.is_empty() {
        for ident in missing {
            problems.push(format!("`{ident}` does not occur in the cited chunks"));
        }
    }
    AnswerCheck {
        valid: problems.is_empty(),
        cited,
        problems,
    }
}

const SYSTEM_PROMPT: &str = "You answer questions about a Java repository using only the code \
chunks given to you. Each chunk starts with its id in brackets. Cite every chunk you rely on by \
writing its id in square brackets, for example [c0123456789ab]. Put code identifiers in \
backticks and use only identifiers that appear in the cited chunks. If the chunks do not answer \
the question, say so.";

/// The conversation given to the model: the rules, then the chunks with their ids, then the
/// question.
pub fn grounded_messages(
    question: &str,
    chunks: &[RetrievedChunk],
    max_chunk_chars: usize,
) -> Vec<Message> {
    let mut context = String::new();
    for chunk in chunks {
        let mut text = chunk.text.as_str();
        if text.len() > max_chunk_chars {
            let mut end = max_chunk_chars;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
        }
        context.push_str(&format!(
            "[{}] {}:{}-{} {}\n```java\n{}\n```\n\n",
            chunk.chunk_id, chunk.path, chunk.start_line, chunk.end_line, chunk.symbol, text
        ));
    }
    vec![
        Message::new("system", SYSTEM_PROMPT),
        Message::new(
            "user",
            format!("Code chunks:\n\n{context}Question: {question}"),
        ),
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct Citation {
    pub chunk_id: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AnswerStats {
    pub prompt_tokens: usize,
    pub prompt_tokens_per_s: f64,
    pub generated_tokens: usize,
    pub generated_tokens_per_s: f64,
}

/// The result of [`answer_question`], in the shape `acdp ask --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct GroundedAnswer {
    pub answer: String,
    pub citations: Vec<Citation>,
    pub retrieved: Vec<String>,
    pub validated: bool,
    pub stats: AnswerStats,
    /// Why the attempts failed the check (empty when validated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct AnswerOptions {
    pub top_k: usize,
    pub max_chunk_chars: usize,
    pub generation: GenerationOptions,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            top_k: 6,
            max_chunk_chars: 2000,
            generation: GenerationOptions::default(),
        }
    }
}

/// Retrieves, asks, checks; retries once (with a different seed); otherwise answers
/// [`NOT_ENOUGH_EVIDENCE`] and cites the retrieved chunks.
pub fn answer_question(
    model: &mut LoadedModel,
    retrieval: &Bm25Index,
    question: &str,
    options: &AnswerOptions,
) -> Result<GroundedAnswer> {
    let retrieved = retrieval.search(question, options.top_k);
    answer_from_chunks(model, question, retrieved, options)
}

/// [`answer_question`] over chunks retrieved by the caller (the language server puts the
/// hovered chunk first): asks, checks against `retrieved`, retries once, else
/// [`NOT_ENOUGH_EVIDENCE`] citing `retrieved`. `acdp ask` and `acdp/ask` both end here.
pub fn answer_from_chunks(
    model: &mut LoadedModel,
    question: &str,
    retrieved: Vec<RetrievedChunk>,
    options: &AnswerOptions,
) -> Result<GroundedAnswer> {
    let mut stats = AnswerStats::default();
    let mut problems = Vec::new();
    if !retrieved.is_empty() {
        let messages = grounded_messages(question, &retrieved, options.max_chunk_chars);
        for attempt in 0..2u64 {
            let mut generation = options.generation.clone();
            generation.seed = generation.seed.wrapping_add(attempt);
            if attempt == 1 && generation.temperature <= 0.0 {
                // A greedy retry would repeat itself; sample the second attempt instead.
                generation.temperature = 0.7;
                generation.top_p = Some(0.9);
            }
            let output = model.chat(&messages, &generation)?;
            stats = AnswerStats {
                prompt_tokens: output.prompt_tokens,
                prompt_tokens_per_s: output.prompt_tokens_per_s,
                generated_tokens: output.generated_tokens,
                generated_tokens_per_s: output.generated_tokens_per_s,
            };
            let check = check_answer(&output.text, &retrieved);
            if check.valid {
                let citations = check
                    .cited
                    .iter()
                    .filter_map(|id| retrieved.iter().find(|c| &c.chunk_id == id))
                    .map(Citation::of)
                    .collect();
                return Ok(GroundedAnswer {
                    answer: output.text,
                    citations,
                    retrieved: retrieved.iter().map(|c| c.chunk_id.clone()).collect(),
                    validated: true,
                    stats,
                    problems: Vec::new(),
                });
            }
            problems.extend(
                check
                    .problems
                    .into_iter()
                    .map(|p| format!("attempt {}: {p}", attempt + 1)),
            );
        }
    } else {
        problems.push("no chunk matches the question".to_string());
    }
    let mut answer = GroundedAnswer::unanswered(NOT_ENOUGH_EVIDENCE, &retrieved, problems);
    answer.stats = stats;
    Ok(answer)
}

impl Citation {
    pub fn of(chunk: &RetrievedChunk) -> Citation {
        Citation {
            chunk_id: chunk.chunk_id.clone(),
            path: chunk.path.clone(),
            start_line: chunk.start_line,
            end_line: chunk.end_line,
        }
    }
}

impl GroundedAnswer {
    /// An answer that is not validated: `answer` says why, the retrieved chunks are cited so
    /// the user can read the evidence themselves.
    pub fn unanswered(
        answer: &str,
        retrieved: &[RetrievedChunk],
        problems: Vec<String>,
    ) -> GroundedAnswer {
        GroundedAnswer {
            answer: answer.to_string(),
            citations: retrieved.iter().map(Citation::of).collect(),
            retrieved: retrieved.iter().map(|c| c.chunk_id.clone()).collect(),
            validated: false,
            stats: AnswerStats::default(),
            problems,
        }
    }
}
