//! The analysis a workspace folder answers from: the index of its files as last indexed (saved
//! text, not unsaved edits), the [`Analysis`] of that index, and which facts cite each chunk.
//!
//! Computed off the session lock by [`AnalysisJob::run`] after indexing, after saves and
//! watched-file changes (debounced, see `server.rs`) and after `acdp.reindex`; never on
//! keystrokes. Hover, code actions, the sample commands and `acdp/ask` (its BM25 retrieval)
//! read it; it does no I/O.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use acdp_analysis::{Analysis, AnalysisSettings, ChunkAnalysis, FactsByChunk, analyze};
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

pub struct AnalysisSnapshot {
    pub generation: u64,
    pub index: Arc<WorkspaceIndex>,
    pub analysis: Analysis,
    /// Chunks of generated code (kept out of evidence, as in `acdp pipeline`).
    pub generated: HashSet<ChunkId>,
    pub settings: AnalysisSettings,
    facts: FactsByChunk,
    /// Retrieval over the index's chunks and the analysis for `acdp/ask` and hover answers,
    /// built on first use.
    retrieval: OnceLock<Retriever>,
}

impl AnalysisSnapshot {
    fn new(job: AnalysisJob) -> AnalysisSnapshot {
        let analysis = analyze(&job.index, &job.settings);
        let generated = generated_chunks(&job.index);
        let facts = FactsByChunk::new(&analysis);
        AnalysisSnapshot {
            generation: job.generation,
            index: job.index,
            analysis,
            generated,
            settings: job.settings,
            facts,
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

    /// The facts citing `chunk`, and its domain ([`FactsByChunk::of`]).
    pub fn chunk_analysis(&self, chunk: &Chunk) -> ChunkAnalysis<'_> {
        self.facts.of(&self.analysis, chunk)
    }

    /// The chunk with this id in the analysed index.
    pub fn chunk(&self, id: &ChunkId) -> Option<&Chunk> {
        self.index.chunk(id).map(|(_, chunk)| chunk)
    }
}
