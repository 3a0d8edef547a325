//! `acdp/samples`: the samples in the workspace folders' `.acdp/samples.jsonl`, filtered.

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;

use crate::session::Session;
use acdp_index::ChunkId;
use acdp_sample::{Sample, SampleLanguage, Task};

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
        chunk && symbol && task && language
    }
}

/// The samples that pass the filter, folder by folder, in file order. Call
/// [`Session::sync_samples`] first to see the files' current contents.
pub fn samples(session: &Session, params: &SamplesParams) -> jsonrpc::Result<Vec<Sample>> {
    Ok((0..session.workspace_count())
        .filter_map(|i| session.workspace(i))
        .flat_map(|w| w.samples.samples.iter())
        .filter(|s| params.filter.admits(s))
        .cloned()
        .collect())
}
