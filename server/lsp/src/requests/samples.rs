//! `acdp/samples`: the samples in the workspace folders' `.acdp/samples.jsonl`, filtered,
//! each with its review state and whether its evidence is stale (what the review views list).

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;

use crate::session::Session;
use acdp_index::ChunkId;
use acdp_sample::{ReviewVerdict, Sample, SampleLanguage, Task};

pub const METHOD: &str = "acdp/samples";

/// Params of `acdp/samples`; every filter field is optional and they combine with "and".
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplesParams {
    pub filter: SampleFilter,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SampleFilter {
    /// Samples citing this chunk in their evidence.
    pub chunk_id: Option<ChunkId>,
    /// Samples citing this symbol, or a member of it (`pkg.Type` matches its methods).
    pub symbol: Option<String>,
    pub task: Option<Task>,
    pub language: Option<SampleLanguage>,
    /// `pending` (not reviewed), `accepted`, `edited` or `rejected`.
    pub review: Option<ReviewState>,
    /// Only samples whose evidence changed since (`true`) or did not (`false`).
    pub stale: Option<bool>,
}

/// A sample's place in the review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Pending,
    Accepted,
    Edited,
    Rejected,
}

impl ReviewState {
    fn of(sample: &Sample) -> ReviewState {
        match sample.review.as_ref().map(|r| r.verdict) {
            None => ReviewState::Pending,
            Some(ReviewVerdict::Accepted) => ReviewState::Accepted,
            Some(ReviewVerdict::Edited) => ReviewState::Edited,
            Some(ReviewVerdict::Rejected) => ReviewState::Rejected,
        }
    }
}

/// One sample as `acdp/samples` lists it: the sample's own fields, and the chunks of its
/// evidence whose code changed since it was made.
#[derive(Clone, Debug, Serialize)]
pub struct ListedSample {
    #[serde(flatten)]
    pub sample: Sample,
    pub stale: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_chunks: Vec<ChunkId>,
}

impl SampleFilter {
    pub fn admits(&self, sample: &Sample) -> bool {
        let chunk = self
            .chunk_id
            .as_ref()
            .is_none_or(|id| sample.evidence.iter().any(|e| &e.chunk_id == id));
        let symbol = self.symbol.as_deref().is_none_or(|symbol| {
            sample.evidence.iter().any(|e| {
                e.symbol == symbol
                    || e.symbol
                        .strip_prefix(symbol)
                        .is_some_and(|rest| rest.starts_with(['.', '(']))
            })
        });
        let task = self.task.is_none_or(|t| sample.body.task() == t);
        let language = self.language.is_none_or(|l| sample.language == l);
        let review = self.review.is_none_or(|r| ReviewState::of(sample) == r);
        chunk && symbol && task && language && review
    }
}

/// The samples that pass the filter, folder by folder, in file order. Call
/// [`Session::sync_samples`] first to see the files' current contents.
pub fn samples(session: &Session, params: &SamplesParams) -> jsonrpc::Result<Vec<ListedSample>> {
    Ok((0..session.workspace_count())
        .filter_map(|i| session.workspace(i))
        .flat_map(|w| w.samples.samples.iter())
        .filter(|s| params.filter.admits(s))
        .map(|sample| {
            let stale_chunks = stale_chunks(session, sample);
            ListedSample {
                sample: sample.clone(),
                stale: !stale_chunks.is_empty(),
                stale_chunks,
            }
        })
        .filter(|listed| params.filter.stale.is_none_or(|s| listed.stale == s))
        .collect())
}

/// The evidence of `sample` whose code is not what the editor (open documents) or the disk
/// (indexed files) holds now; the same rule as the stale-evidence diagnostics.
fn stale_chunks(session: &Session, sample: &Sample) -> Vec<ChunkId> {
    sample
        .evidence
        .iter()
        .filter(|evidence| {
            session
                .find_chunk(&evidence.chunk_id)
                .is_none_or(|(_, view, chunk)| !evidence.is_current(chunk, view.text()))
        })
        .map(|evidence| evidence.chunk_id.clone())
        .collect()
}
