//! `acdp/ask` {question, task?} -> {answer, citations[{chunk_id, uri, range}], validated}: the
//! grounded answer (or, with `"task": "design"`, the design) of `acdp ask`, from the same
//! library calls ([`acdp_model::answer::answer_from_chunks`] over chunks ranked by
//! [`acdp_retrieval::Retriever`], checked by [`acdp_model::answer_check`]), with citations
//! as editor locations.
//!
//! Three plain steps the server schedules: [`retrieve`] (off the session lock: the first call
//! builds the folder's retriever), [`answer_with_model`] (blocking: loads the model once into
//! the shared [`ModelCache`], generates), [`to_result`] (under the session lock: chunk ids to
//! URIs and ranges in the editor's current text). Without a model the answer says so and cites
//! the chunks that match the question best, unvalidated.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{self, Uri};

use crate::convert;
use crate::session::Session;
use crate::snapshot::AnalysisSnapshot;
use acdp_index::ChunkId;
use acdp_model::answer::{
    AnswerOptions, AnswerStats, Citation, GroundedAnswer, RetrievedChunk, Task, answer_from_chunks,
};
use acdp_model::{GenerationOptions, ModelCache, ModelSource, default_device};

pub const METHOD: &str = "acdp/ask";

/// What the answer says when no model is configured.
pub const NO_MODEL: &str = "no model configured: set modelDir (the acdp.modelDir setting) to a \
Qwen2.5 directory or .gguf file; the chunks that match the question best are cited below";

/// Params of `acdp/ask`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AskParams {
    /// The question, or the requirement when `task` is `design`.
    pub question: String,
    #[serde(default)]
    pub task: AskTask,
}

/// What `acdp/ask` is asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AskTask {
    /// An answer citing chunks.
    #[default]
    Question,
    /// A design for a requirement, in the dataset's design shape, checked against the index.
    Design,
}

/// A cited chunk where the editor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskCitation {
    pub chunk_id: String,
    pub uri: Uri,
    pub range: ls_types::Range,
}

/// The result of `acdp/ask`: `acdp ask --json` with citations as locations.
#[derive(Clone, Debug, Serialize)]
pub struct AskResult {
    pub answer: String,
    pub citations: Vec<AskCitation>,
    pub validated: bool,
    /// The chunk ids given to the model, best first.
    pub retrieved: Vec<String>,
    /// Why the answer is not validated (empty when it is).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Token counts and speeds; absent without a model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<AnswerStats>,
}

/// Retrieved chunks and the workspace folder each came from.
#[derive(Clone, Debug, Default)]
pub struct Retrieved {
    pub chunks: Vec<RetrievedChunk>,
    pub folders: Vec<usize>,
}

/// Options of `acdp/ask`: `acdp ask`'s defaults (top 6 chunks, greedy, 512 tokens).
pub fn ask_options() -> AnswerOptions {
    AnswerOptions::default()
}

/// The repository's name as the training data's system prompt gives it: the first workspace
/// folder's, named as `acdp pipeline` names a repository ([`acdp_dataset::repo_info`]).
pub fn repo_name(session: &Session) -> String {
    session.roots().next().map_or_else(
        || AnswerOptions::default().repo_name,
        |root| acdp_dataset::repo_info(root).name,
    )
}

/// Options of the hover answer: fewer chunks and a short answer.
pub fn hover_options() -> AnswerOptions {
    AnswerOptions {
        top_k: 4,
        generation: GenerationOptions {
            max_tokens: 160,
            ..GenerationOptions::default()
        },
        ..AnswerOptions::default()
    }
}

/// The best `k` chunks for `query` over every analysed folder (ranked per folder, merged by
/// score, ties by chunk id). Blocking on first use of a folder's snapshot.
pub fn retrieve(snapshots: &[(usize, Arc<AnalysisSnapshot>)], query: &str, k: usize) -> Retrieved {
    let mut hits: Vec<(usize, RetrievedChunk)> = snapshots
        .iter()
        .flat_map(|(folder, snapshot)| {
            snapshot
                .retrieval()
                .search(query, k)
                .into_iter()
                .map(move |chunk| (*folder, chunk))
        })
        .collect();
    hits.sort_by(|a, b| {
        b.1.score
            .total_cmp(&a.1.score)
            .then_with(|| a.1.chunk_id.cmp(&b.1.chunk_id))
    });
    hits.truncate(k);
    let (folders, chunks) = hits.into_iter().unzip();
    Retrieved { chunks, folders }
}

/// Why the model gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("acdp: cannot load the model {}: {message}; check the modelDir and adapter settings", .model.model.display())]
    Load { model: ModelSource, message: String },
    #[error("acdp: the model failed while answering: {0}")]
    Generate(String),
}

/// Whether any analysed folder has a component called `name` (what a design's changed
/// components are checked against).
pub fn exists_in(snapshots: &[(usize, Arc<AnalysisSnapshot>)], name: &str) -> bool {
    snapshots
        .iter()
        .any(|(_, snapshot)| snapshot.retrieval().knows(name))
}

/// Answers `question` (or designs for it, per `task`) from `retrieved` with the model of
/// `source`, loading it into `cache` the first time (blocking: run it on a blocking thread).
/// `None`: [`NO_MODEL`], citing the retrieved chunks.
pub fn answer_with_model(
    cache: &Mutex<ModelCache>,
    source: Option<&ModelSource>,
    task: Task<'_>,
    question: &str,
    retrieved: &[RetrievedChunk],
    options: &AnswerOptions,
) -> Result<GroundedAnswer, AskError> {
    let Some(source) = source else {
        return Ok(GroundedAnswer::unanswered(
            NO_MODEL,
            retrieved,
            vec!["no model configured".to_owned()],
        ));
    };
    // A panic while answering cannot leave the cache half-written: `get` replaces the model
    // whole, and each generation clears the KV cache first.
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let model = cache
        .get(source, &default_device())
        .map_err(|err| AskError::Load {
            model: source.clone(),
            message: err.to_string(),
        })?;
    answer_from_chunks(model, task, question, retrieved.to_vec(), options)
        .map_err(|err| AskError::Generate(err.to_string()))
}

/// The answer as `acdp/ask` returns it: each citation at the chunk's range in the editor's
/// text (open documents) or on disk; a chunk edited away since keeps its indexed lines.
pub fn to_result(session: &Session, answer: GroundedAnswer, retrieved: &Retrieved) -> AskResult {
    let citations = answer
        .citations
        .iter()
        .filter_map(|c| locate_citation(session, c, retrieved))
        .collect();
    AskResult {
        answer: answer.answer,
        citations,
        validated: answer.validated,
        retrieved: answer.retrieved,
        problems: answer.problems,
        stats: (answer.stats.prompt_tokens > 0).then_some(answer.stats),
    }
}

fn locate_citation(
    session: &Session,
    citation: &Citation,
    retrieved: &Retrieved,
) -> Option<AskCitation> {
    let id = ChunkId::from_string(citation.chunk_id.clone());
    if let Some(info) = super::chunk::chunk_by_id(session, &id) {
        return Some(AskCitation {
            chunk_id: citation.chunk_id.clone(),
            uri: info.uri,
            range: info.range,
        });
    }
    let folder = retrieved
        .chunks
        .iter()
        .position(|c| c.chunk_id == citation.chunk_id)
        .and_then(|i| retrieved.folders.get(i))?;
    let root: &Path = session.roots().nth(*folder)?;
    let line = |l: u32| ls_types::Position::new(l.saturating_sub(1), 0);
    Some(AskCitation {
        chunk_id: citation.chunk_id.clone(),
        uri: convert::file_uri(root, &citation.path)?,
        range: ls_types::Range::new(line(citation.start_line), line(citation.end_line + 1)),
    })
}
