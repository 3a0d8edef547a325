//! The generate stage: analysis facts in, candidate samples out.
//!
//! Generators first decide *what* to ask and *which code* answers it (a [`SampleRequest`]:
//! question or requirement, evidence chunks, source facts), then write the answer or design and
//! its reasoning trace. The offline generator writes them from the analysis itself; the LLM
//! generator sends the same requests to an OpenAI-compatible endpoint. Either way every
//! candidate goes through `dataset::validate` before it is kept. Depends on `index`,
//! `analysis` and the sample schema in `dataset::sample`.

use crate::dataset::sample::{
    Evidence, GeneratorInfo, RepoInfo, SCHEMA_VERSION, Sample, SampleBody, SampleLanguage,
    SampleSource, Task, TraceStep, sample_id,
};

/// What to ask and which code answers it; the answer is written by a generator.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRequest {
    pub task: Task,
    pub language: SampleLanguage,
    pub domain: String,
    /// The question (qa) or the requirement (design).
    pub prompt: String,
    /// The code that answers it, most relevant first (the first is the primary evidence).
    pub evidence: Vec<Evidence>,
    pub source: SampleSource,
}

impl SampleRequest {
    /// Builds the sample from a written body and trace.
    pub fn into_sample(
        self,
        body: SampleBody,
        trace: Vec<TraceStep>,
        generator: GeneratorInfo,
        repo: &RepoInfo,
    ) -> Sample {
        let ids: Vec<_> = self.evidence.iter().map(|e| e.chunk_id.clone()).collect();
        Sample {
            schema_version: SCHEMA_VERSION,
            sample_id: sample_id(self.task, self.language, &self.prompt, &ids),
            language: self.language,
            domain: self.domain,
            body,
            evidence: self.evidence,
            trace,
            generator,
            repo: repo.clone(),
            source: self.source,
        }
    }
}
