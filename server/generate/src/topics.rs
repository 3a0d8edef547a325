//! Topics for the LLM to write its own questions about: the composed families' bundles (a
//! method's checks, an entry point's failures and writes, how an error reaches the client,
//! async work, a status lifecycle, endpoint access, a scheduled job), each with its code and
//! the facts the analysis holds about it (true on every path, each citing its chunks).
//!
//! The model gets the code and the facts, not the offline question, so that it asks what a
//! developer would ask instead of rephrasing a template. A written question becomes a sample
//! whose evidence is the topic's chunks its trace cites; its twin key is the topic's, so every
//! sample about one topic lands in one split.

use std::collections::HashSet;

use acdp_sample::{
    Evidence, GeneratorInfo, RepoInfo, Sample, SampleBody, SampleLanguage, SampleSource, Task,
    TraceStep,
};

use super::{SampleRequest, Written};

/// `source.kind` of samples the model wrote about a topic.
pub const LLM_QUESTION_KIND: &str = "llm-question";

/// A topic: code and facts to write questions about.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicRequest {
    pub language: SampleLanguage,
    pub domain: String,
    /// What the topic is about, for the model: `the checks that make `X.y` fail`.
    pub subject: String,
    /// The analysis' facts, each citing the chunks it rests on.
    pub facts: Vec<TraceStep>,
    pub evidence: Vec<Evidence>,
    /// Questions to write.
    pub questions: usize,
    /// The family's source (its kind, rule / flow / state ids, twin key).
    pub source: SampleSource,
}

impl TopicRequest {
    /// The sample for one written question: evidence is the topic's chunks the trace cites
    /// (in the topic's order); `None` when it cites none of them.
    pub fn sample(
        &self,
        question: &str,
        answer: &str,
        trace: Vec<TraceStep>,
        generator: GeneratorInfo,
        repo: &RepoInfo,
    ) -> Option<Sample> {
        let cited: HashSet<_> = trace.iter().flat_map(|s| s.evidence.iter()).collect();
        let evidence: Vec<Evidence> = self
            .evidence
            .iter()
            .filter(|e| cited.contains(&e.chunk_id))
            .cloned()
            .collect();
        if evidence.is_empty() {
            return None;
        }
        let request = SampleRequest {
            task: Task::Qa,
            language: self.language,
            domain: self.domain.clone(),
            prompt: question.to_owned(),
            evidence,
            source: SampleSource {
                kind: LLM_QUESTION_KIND.to_owned(),
                ..self.source.clone()
            },
        };
        let body = SampleBody::Qa {
            question: question.to_owned(),
            answer: answer.to_owned(),
        };
        Some(request.into_sample(body, trace, generator, repo))
    }
}

/// One topic per composed sample (per language), asking for `questions` questions each.
pub fn topics_from_composed(composed: &[Written], questions: usize) -> Vec<TopicRequest> {
    if questions == 0 {
        return Vec::new();
    }
    let mut seen = HashSet::new();
    composed
        .iter()
        .filter(|w| w.request.task == Task::Qa)
        // One topic per family, subject and language (the composed mix may repeat one).
        .filter(|w| {
            seen.insert((
                w.request.source.kind.as_str(),
                w.request.source.twin_key.as_str(),
                w.request.language,
            ))
        })
        .map(|w| {
            let primary = w
                .request
                .evidence
                .first()
                .map(|e| e.symbol.as_str())
                .unwrap_or_default();
            TopicRequest {
                language: w.request.language,
                domain: w.request.domain.clone(),
                subject: subject(&w.request.source.kind, primary),
                facts: w.trace.clone(),
                evidence: w.request.evidence.clone(),
                questions,
                source: w.request.source.clone(),
            }
        })
        .collect()
}

/// What a family's topic is about, in words the model can ask from.
fn subject(family: &str, primary: &str) -> String {
    let subject = format!("`{primary}`");
    match family {
        "method-checks" => format!("the checks that make {subject} fail, and in which order"),
        "endpoint-failures" => {
            format!("how the entry point {subject} can fail, across the methods it calls")
        }
        "error-response" => format!("how an error raised under {subject} reaches the caller"),
        "flow-writes" => format!("which tables {subject} changes, and under which conditions"),
        "async-work" => format!("what {subject} hands to other threads"),
        "status-lifecycle" => format!("how the status handled in {subject} moves between values"),
        "endpoint-access" => format!("who may call the endpoints of {subject}"),
        "scheduled-job" => format!("what the scheduled job {subject} does, and when"),
        _ => format!("what {subject} does"),
    }
}
