//! The sample: its schema (version 1), what every stage after generation reads and writes;
//! [`validate`], the checks a sample must pass against the index (shared by the dataset stage,
//! the LLM generator and strict inference); [`prompt`], the chat turns a sample is trained and
//! asked with. Depends on `index` only: the generators fill this schema, the dataset and the
//! model read it.
//!
//! One JSON object per sample. Common fields say where the sample came from and what it rests
//! on (`evidence`, verbatim code with its chunk id and hash) and how its conclusion follows
//! (`trace`, steps that cite evidence). The task-specific part is `qa` (question, answer) or
//! `design` (requirement, design, assumptions, risks). docs/dataset-schema.md describes every
//! field; docs/sample.schema.json is generated from these types and checked by a test.

pub mod edit;
pub mod prompt;
pub mod validate;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use acdp_index::{Chunk, ChunkId, ContentHash};

pub use validate::{ValidationOptions, ValidationReport, validate_sample};

/// Bumped on any incompatible change of the layout.
pub const SCHEMA_VERSION: u32 = 1;

/// One training sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sample {
    pub schema_version: u32,
    /// Stable: a hash of the task, language, prompt text and evidence ids.
    pub sample_id: String,
    pub language: SampleLanguage,
    /// Business domain of the evidence (from the domain map), or `"general"`.
    pub domain: String,
    #[serde(flatten)]
    pub body: SampleBody,
    pub evidence: Vec<Evidence>,
    pub trace: Vec<TraceStep>,
    pub generator: GeneratorInfo,
    pub repo: RepoInfo,
    /// What the sample was derived from (rule, flow, state ids; the question template).
    pub source: SampleSource,
    /// A model's verdict on the sample's claims against its evidence (the LLM generator's
    /// optional second pass); absent when no model judged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgement: Option<Judgement>,
    /// A person's verdict in the editor; absent while nobody reviewed the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

/// What a person decided about a sample in the editor's review view. The export keeps
/// accepted and edited samples in place of the generated ones with the same `sample_id` (the
/// same question or requirement and evidence), and keeps rejected ones out, also when the
/// generator makes them again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    pub verdict: ReviewVerdict,
    /// When, as RFC 3339 UTC (`2026-12-06T16:20:00Z`).
    pub at: String,
    /// Who, when the editor knows (its `reviewer` setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// Kept as generated.
    Accepted,
    /// Kept with the person's corrections (answer, design or trace), validated on save.
    Edited,
    /// Kept out of every export.
    Rejected,
}

impl ReviewVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewVerdict::Accepted => "accepted",
            ReviewVerdict::Edited => "edited",
            ReviewVerdict::Rejected => "rejected",
        }
    }
}

/// What a model said when asked whether each claim of a sample holds in its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Judgement {
    /// The model that judged.
    pub model: String,
    /// Whether it found every claim supported.
    pub supported: bool,
    /// The claims it found unsupported, as the sample words them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

/// The task-specific part, tagged by `task`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum SampleBody {
    Qa {
        question: String,
        answer: String,
    },
    Design {
        requirement: String,
        design: Design,
        assumptions: Vec<String>,
        risks: Vec<String>,
    },
}

impl SampleBody {
    pub fn task(&self) -> Task {
        match self {
            SampleBody::Qa { .. } => Task::Qa,
            SampleBody::Design { .. } => Task::Design,
        }
    }

    /// The user's side: the question or the requirement.
    pub fn prompt(&self) -> &str {
        match self {
            SampleBody::Qa { question, .. } => question,
            SampleBody::Design { requirement, .. } => requirement,
        }
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Qa,
    Design,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Qa => "qa",
            Task::Design => "design",
        }
    }

    /// Fewest trace steps a sample of this task may have.
    pub fn min_trace_steps(self) -> usize {
        match self {
            Task::Qa => 2,
            Task::Design => 3,
        }
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SampleLanguage {
    En,
    Zh,
}

impl SampleLanguage {
    pub fn as_str(self) -> &'static str {
        match self {
            SampleLanguage::En => "en",
            SampleLanguage::Zh => "zh",
        }
    }
}

/// A piece of code the sample rests on, verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    #[schemars(with = "String")]
    pub chunk_id: ChunkId,
    pub path: String,
    pub symbol: String,
    pub start_line: u32,
    pub end_line: u32,
    #[schemars(with = "String")]
    pub content_hash: ContentHash,
    /// The chunk's text, exactly as indexed.
    pub code: String,
}

impl Evidence {
    /// Whether the code this evidence quotes is what `chunk` holds in `file_text` now: the
    /// same content hash and the same text. The one staleness rule, for validation and for
    /// the editor's stale-evidence diagnostics.
    pub fn is_current(&self, chunk: &Chunk, file_text: &str) -> bool {
        chunk.content_hash == self.content_hash && chunk.text(file_text) == self.code
    }

    pub fn from_chunk(chunk: &Chunk, file_text: &str) -> Evidence {
        Evidence {
            chunk_id: chunk.chunk_id.clone(),
            path: chunk.path.clone(),
            symbol: chunk.symbol.clone(),
            start_line: chunk.start_line,
            end_line: chunk.end_line,
            content_hash: chunk.content_hash.clone(),
            code: chunk.text(file_text).to_owned(),
        }
    }
}

/// One step of reasoning, resting on the evidence it cites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TraceStep {
    pub claim: String,
    #[schemars(with = "Vec<String>")]
    pub evidence: Vec<ChunkId>,
}

/// A design aligned with the repository's architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Design {
    pub summary: String,
    /// Components to change or add, per layer.
    pub components: Vec<ComponentChange>,
    pub api_changes: Vec<String>,
    pub data_changes: Vec<String>,
    /// The new or changed flow, step by step.
    pub flow: Vec<String>,
    /// Transactions, status guards, locking and idempotency.
    pub consistency: Vec<String>,
    /// Existing components the design reuses, by chunk id.
    pub reused: Vec<ReusedComponent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentChange {
    /// `controller`, `service`, `service_impl`, `mapper`, `mapper_xml`, `model`, `dto`, `job`.
    pub layer: String,
    /// A qualified name (existing) or the proposed name (new).
    pub component: String,
    pub action: ComponentAction,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentAction {
    Modify,
    Add,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReusedComponent {
    #[schemars(with = "String")]
    pub chunk_id: ChunkId,
    pub symbol: String,
    pub how: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GeneratorInfo {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RepoInfo {
    /// Name of the repository folder.
    pub name: String,
    /// `git rev-parse HEAD` when the repository is a git checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SampleSource {
    /// The question or requirement template (`rule-consequence`, `flow-steps`, `user` ...).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_ids: Vec<String>,
    /// Samples that say the same in another language share this key; splits keep them
    /// together.
    pub twin_key: String,
}

/// `<task>-<12 hex>` from what defines the sample, so ids survive regeneration.
pub fn sample_id(
    task: Task,
    language: SampleLanguage,
    prompt: &str,
    evidence: &[ChunkId],
) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"acdp-sample-v1\0");
    hasher.update(task.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(language.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(prompt.as_bytes());
    for id in evidence {
        hasher.update(b"\0");
        hasher.update(id.as_str().as_bytes());
    }
    format!("{}-{}", task.as_str(), &hasher.finalize().to_hex()[..12])
}

/// The JSON Schema of [`Sample`], as committed in docs/sample.schema.json.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Sample);
    serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n"
}
