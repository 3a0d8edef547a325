//! The generate stage: analysis facts in, candidate samples out.
//!
//! Generators first decide *what* to ask and *which code* answers it (a [`SampleRequest`]:
//! question or requirement, evidence chunks, source facts), then write the answer or design and
//! its reasoning trace. The offline generator writes them from the analysis itself; the LLM
//! generator sends the same requests to an OpenAI-compatible endpoint. Either way every
//! candidate goes through `dataset::validate` before it is kept. Depends on `index`,
//! `analysis` and the sample schema in `dataset::sample`.

use acdp_sample::{
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
            judgement: None,
            review: None,
        }
    }
}

mod access;
mod balance;
pub mod claims;
mod composed;
mod composed_parts;
mod design;
mod design_anchor_text;
mod design_compensation;
mod design_field;
mod design_parts;
mod design_state;
mod design_table;
mod design_timeout;
mod design_validation;
mod evidence;
pub mod llm;
mod qa;
mod request_validation;
mod text;
mod topics;
mod transaction;

use std::collections::HashSet;

use acdp_analysis::Analysis;
use acdp_analysis::generated::has_generated_marker;
use acdp_index::{ChunkId, WorkspaceIndex};

pub use evidence::ChunkLookup;
pub use topics::{LLM_QUESTION_KIND, TopicRequest};

/// A request with the answer (or design) and trace a generator wrote for it.
#[derive(Clone, Debug)]
pub struct Written {
    pub request: SampleRequest,
    pub body: SampleBody,
    pub trace: Vec<TraceStep>,
}

impl Written {
    pub fn into_sample(self, generator: GeneratorInfo, repo: &RepoInfo) -> Sample {
        self.request
            .into_sample(self.body, self.trace, generator, repo)
    }
}

/// Settings of the offline generator.
#[derive(Clone, Debug)]
pub struct OfflineOptions {
    /// Seeds the choice of phrasings.
    pub seed: u64,
    pub languages: Vec<SampleLanguage>,
    /// Cite generated code (MyBatis Generator models, `*Example` classes) as evidence.
    pub include_generated: bool,
    /// Requirements written by the user, one design sample each (where a flow matches).
    pub requirements: Vec<String>,
}

impl Default for OfflineOptions {
    fn default() -> Self {
        OfflineOptions {
            seed: 42,
            languages: vec![SampleLanguage::En, SampleLanguage::Zh],
            include_generated: false,
            requirements: Vec::new(),
        }
    }
}

/// Name and version of the offline generator, as recorded in samples.
pub fn offline_generator() -> GeneratorInfo {
    GeneratorInfo {
        name: "acdp-static".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model: None,
    }
}

/// Chunks of generated code: files with generator markers (`@mbg.generated`, `@Generated`).
pub fn generated_chunks(index: &WorkspaceIndex) -> HashSet<ChunkId> {
    index
        .files
        .iter()
        .filter(|f| has_generated_marker(&f.text))
        .flat_map(|f| f.chunks.iter().map(|c| c.chunk_id.clone()))
        .collect()
}

/// A derived design family: designs (every language or none) for what the analysis holds.
type DesignFamily = fn(&Analysis, &ChunkLookup<'_>, &[SampleLanguage]) -> Vec<Written>;

/// The derived design families, in the order their samples are written.
const DERIVED_DESIGN_FAMILIES: &[DesignFamily] = &[
    design::derived_designs,
    design_timeout::derived_timeout_designs,
    design_state::derived_new_state_designs,
    design_field::derived_field_designs,
    design_validation::derived_validation_designs,
    design_compensation::derived_compensation_designs,
];

/// Every request with the offline generator's answer: QA from rules, flows and states, designs
/// for derived and user requirements. Deterministic for a given seed.
pub fn write_offline(
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    options: &OfflineOptions,
) -> Vec<Written> {
    let lookup = ChunkLookup::new(index, generated, options.include_generated);
    let mut written = qa_all(analysis, &lookup, options);
    for family in DERIVED_DESIGN_FAMILIES {
        written.extend(family(analysis, &lookup, &options.languages));
    }
    for requirement in &options.requirements {
        // A requirement is answered in the language it is written in.
        let language = requirement_language(requirement);
        written.extend(design::user_design(
            analysis,
            &lookup,
            requirement,
            language,
        ));
    }
    written
}

/// The offline QA samples whose evidence cites `chunk`: what the editor's "Generate QA
/// samples for <symbol>" action makes. The same requests and phrasings as [`write_offline`]
/// (so the same sample ids), keeping those that cite the chunk.
pub fn qa_citing_chunk(
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    options: &OfflineOptions,
    chunk: &ChunkId,
) -> Vec<Written> {
    let lookup = ChunkLookup::new(index, generated, options.include_generated);
    qa_candidates(analysis, &lookup, options)
        .into_iter()
        .filter(|w| w.request.evidence.iter().any(|e| &e.chunk_id == chunk))
        .collect()
}

/// Single-fact and composed QA samples, the family mix balanced (no family over its share of
/// the QA samples, see [`balance`]).
fn qa_all(analysis: &Analysis, lookup: &ChunkLookup<'_>, options: &OfflineOptions) -> Vec<Written> {
    balance::cap_families(qa_candidates(analysis, lookup, options), options.seed)
}

/// Every QA sample the analysis supports, before the mix is balanced: what the editor offers
/// for selected code, where the user asked about that code and no mix is at stake.
fn qa_candidates(
    analysis: &Analysis,
    lookup: &ChunkLookup<'_>,
    options: &OfflineOptions,
) -> Vec<Written> {
    let mut written = qa::qa_samples(analysis, lookup, options.seed, &options.languages);
    written.extend(composed::composed_samples(
        analysis,
        lookup,
        &options.languages,
    ));
    written
}

/// Topics for the LLM to write `questions` questions each about: one per composed QA sample
/// (a method's checks, an entry point's failures and writes, a status lifecycle ...), with
/// its code and facts.
pub fn topic_requests(
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    options: &OfflineOptions,
    questions: usize,
) -> Vec<TopicRequest> {
    let lookup = ChunkLookup::new(index, generated, options.include_generated);
    let composed = composed::composed_samples(analysis, &lookup, &options.languages);
    topics::topics_from_composed(&composed, questions)
}

/// The topics (see [`topic_requests`]) whose code includes `chunk`: what the editor's "Generate
/// QA samples" action asks an LLM to write questions about.
pub fn topics_citing_chunk(
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    options: &OfflineOptions,
    questions: usize,
    chunk: &ChunkId,
) -> Vec<TopicRequest> {
    topic_requests(index, analysis, generated, options, questions)
        .into_iter()
        .filter(|t| t.evidence.iter().any(|e| &e.chunk_id == chunk))
        .collect()
}

/// Design samples (one per language) for a requirement the user wrote, anchored on a writing
/// flow through `chunk` ("Generate design sample from this code"); empty when no writing flow
/// runs through the chunk.
pub fn design_through_chunk(
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    options: &OfflineOptions,
    chunk: &ChunkId,
    requirement: &str,
) -> Vec<Written> {
    let lookup = ChunkLookup::new(index, generated, options.include_generated);
    options
        .languages
        .iter()
        .filter_map(|&language| {
            design::design_through_chunk(analysis, &lookup, chunk, requirement, language)
        })
        .collect()
}

/// Chinese when the text contains CJK ideographs, English otherwise.
pub fn requirement_language(text: &str) -> SampleLanguage {
    if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        SampleLanguage::Zh
    } else {
        SampleLanguage::En
    }
}

/// The offline generator's samples.
pub fn generate_offline(
    index: &WorkspaceIndex,
    analysis: &Analysis,
    generated: &HashSet<ChunkId>,
    options: &OfflineOptions,
    repo: &RepoInfo,
) -> Vec<Sample> {
    write_offline(index, analysis, generated, options)
        .into_iter()
        .map(|w| w.into_sample(offline_generator(), repo))
        .collect()
}
