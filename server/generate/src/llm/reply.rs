//! Reading a model's reply: find the JSON object (the whole reply, or the first object in
//! prose or a code fence, for servers that ignore `response_format`), then read it into the
//! sample's body and trace. A reply that is not JSON, or not the shape asked for, is an error
//! with its cause; nothing is guessed or repaired.

use serde::Deserialize;
use serde_json::Value;

use acdp_index::ChunkId;
use acdp_sample::{
    ComponentAction, ComponentChange, Design, ReusedComponent, SampleBody, Task, TraceStep,
};

/// Why a reply was not turned into a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// No JSON object in the reply.
    MalformedJson(String),
    /// JSON, but not the fields and types asked for.
    WrongSchema(String),
    /// The shape asked for, but no answer: a bare name for an answer, or one claim repeated.
    Thin(String),
}

impl ReplyError {
    pub fn cause(&self) -> &'static str {
        match self {
            ReplyError::MalformedJson(_) => super::cause::MALFORMED_JSON,
            ReplyError::WrongSchema(_) => super::cause::WRONG_SCHEMA,
            ReplyError::Thin(_) => super::cause::THIN_ANSWER,
        }
    }

    /// What was wrong, as told to the model when it is asked again.
    pub fn problem(&self) -> &str {
        match self {
            ReplyError::MalformedJson(p) | ReplyError::WrongSchema(p) | ReplyError::Thin(p) => p,
        }
    }
}

/// The first JSON object in `text`: the whole text when it is one, else the first `{` from
/// which a complete object parses (text before and after it is ignored).
pub fn first_json_object(text: &str) -> Option<serde_json::Map<String, Value>> {
    if let Ok(Value::Object(object)) = serde_json::from_str(text.trim()) {
        return Some(object);
    }
    for (start, _) in text.match_indices('{') {
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(object))) = values.next() {
            return Some(object);
        }
    }
    None
}

#[derive(Deserialize)]
struct QaReply {
    answer: String,
    trace: Vec<StepReply>,
}

#[derive(Deserialize)]
struct StepReply {
    claim: String,
    evidence: Vec<String>,
}

#[derive(Deserialize)]
struct DesignReply {
    summary: String,
    components: Vec<ComponentReply>,
    #[serde(default)]
    api_changes: Vec<String>,
    #[serde(default)]
    data_changes: Vec<String>,
    flow: Vec<String>,
    #[serde(default)]
    consistency: Vec<String>,
    reused: Vec<ReusedReply>,
    #[serde(default)]
    assumptions: Vec<String>,
    #[serde(default)]
    risks: Vec<String>,
    trace: Vec<StepReply>,
}

#[derive(Deserialize)]
struct ComponentReply {
    layer: String,
    component: String,
    action: ComponentAction,
    description: String,
}

#[derive(Deserialize)]
struct ReusedReply {
    chunk_id: String,
    symbol: String,
    how: String,
}

/// Reads a reply into the body and trace of a sample for `prompt` (the question or
/// requirement, which the body repeats).
pub fn parse_reply(
    content: &str,
    task: Task,
    prompt: &str,
) -> Result<(SampleBody, Vec<TraceStep>), ReplyError> {
    let object = first_json_object(content).ok_or_else(|| {
        ReplyError::MalformedJson("the reply contains no complete JSON object".to_owned())
    })?;
    let value = Value::Object(object);
    let wrong = |err: serde_json::Error| ReplyError::WrongSchema(err.to_string());
    match task {
        Task::Qa => {
            let reply: QaReply = serde_json::from_value(value).map_err(wrong)?;
            let answer = reply.answer.trim().to_owned();
            let trace = trace(reply.trace);
            if let Some(problem) = thin_problem(&answer, &trace) {
                return Err(ReplyError::Thin(problem));
            }
            let body = SampleBody::Qa {
                question: prompt.to_owned(),
                answer,
            };
            Ok((body, trace))
        }
        Task::Design => {
            let reply: DesignReply = serde_json::from_value(value).map_err(wrong)?;
            let design = Design {
                summary: reply.summary.trim().to_owned(),
                components: reply
                    .components
                    .into_iter()
                    .map(|c| ComponentChange {
                        layer: c.layer,
                        component: c.component,
                        action: c.action,
                        description: c.description,
                    })
                    .collect(),
                api_changes: reply.api_changes,
                data_changes: reply.data_changes,
                flow: reply.flow,
                consistency: reply.consistency,
                reused: reply
                    .reused
                    .into_iter()
                    .map(|r| ReusedComponent {
                        chunk_id: ChunkId::from_string(r.chunk_id.trim().to_owned()),
                        symbol: r.symbol,
                        how: r.how,
                    })
                    .collect(),
            };
            let body = SampleBody::Design {
                requirement: prompt.to_owned(),
                design,
                assumptions: reply.assumptions,
                risks: reply.risks,
            };
            Ok((body, trace(reply.trace)))
        }
    }
}

#[derive(Deserialize)]
struct QuestionsReply {
    samples: Vec<WrittenQuestion>,
}

#[derive(Deserialize)]
struct WrittenQuestion {
    question: String,
    answer: String,
    trace: Vec<StepReply>,
}

/// A question the model wrote about a topic, with its answer and trace.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionReply {
    pub question: String,
    pub answer: String,
    pub trace: Vec<TraceStep>,
}

/// Reads the reply to a topic: the questions the model wrote, each answered. An empty list is
/// a wrong schema (the model was asked for at least one).
pub fn parse_questions(content: &str) -> Result<Vec<QuestionReply>, ReplyError> {
    let object = first_json_object(content).ok_or_else(|| {
        ReplyError::MalformedJson("the reply contains no complete JSON object".to_owned())
    })?;
    let reply: QuestionsReply = serde_json::from_value(Value::Object(object))
        .map_err(|err| ReplyError::WrongSchema(err.to_string()))?;
    if reply.samples.is_empty() {
        return Err(ReplyError::WrongSchema(
            "`samples` is empty: write at least one question".to_owned(),
        ));
    }
    Ok(reply
        .samples
        .into_iter()
        .map(|q| QuestionReply {
            question: q.question.trim().to_owned(),
            answer: q.answer.trim().to_owned(),
            trace: trace(q.trace),
        })
        .collect())
}

/// Words an answer needs to be a statement rather than a name.
const MIN_ANSWER_WORDS: usize = 5;

/// Words a trace step needs: a chunk id or a bare name states no fact.
const MIN_CLAIM_WORDS: usize = 3;

/// Phrases of the instructions that a model copied into its answer (seen in a kept sample of
/// Qwen2.5-Coder-0.5B: "… names, values, conditions and the order of steps …").
const PROMPT_PHRASES: &[&str] = &[
    "names, values, conditions and the order of steps",
    "states what this code does",
    "cite only the chunk ids",
];

/// Words of a text: those with a Latin letter, plus half a word per CJK character.
fn words(text: &str) -> usize {
    let latin = text
        .split_whitespace()
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()) && !is_chunk_id(w))
        .count();
    let cjk = text
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count();
    latin + cjk / 2
}

fn is_chunk_id(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    word.len() == 13 && word.starts_with('c') && word[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Why an answer says nothing: fewer than [`MIN_ANSWER_WORDS`] words (a method name or a
/// signature given as the answer; a CJK character counts as half a word), or a trace that
/// repeats one claim. Seen from Qwen2.5-Coder-0.5B on real code: `"answer":
/// "reject(Long,String,String)"`, five identical claims citing five chunks.
pub fn thin_problem(answer: &str, trace: &[TraceStep]) -> Option<String> {
    if words(answer) < MIN_ANSWER_WORDS {
        return Some(format!(
            "the answer \"{answer}\" is not a statement: answer in full sentences saying what \
             the code does"
        ));
    }
    if let Some(echo) = PROMPT_PHRASES.iter().find(|p| answer.contains(*p)) {
        return Some(format!(
            "the answer repeats the instructions (\"{echo}\"): say what this code does"
        ));
    }
    if let Some(step) = trace.iter().find(|s| words(&s.claim) < MIN_CLAIM_WORDS) {
        return Some(format!(
            "the trace step \"{}\" states nothing: each step states one fact in a sentence",
            step.claim.trim()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for step in trace {
        let claim = step.claim.trim().to_lowercase();
        if !seen.insert(claim) {
            return Some(format!(
                "the trace repeats the claim \"{}\": each step states a different fact",
                step.claim.trim()
            ));
        }
    }
    None
}

/// Trace steps as written; a citation written `[c…]` (as in the prompt's headings) is read
/// as the bare id.
fn trace(steps: Vec<StepReply>) -> Vec<TraceStep> {
    steps
        .into_iter()
        .map(|step| TraceStep {
            claim: step.claim.trim().to_owned(),
            evidence: step
                .evidence
                .into_iter()
                .map(|id| {
                    let id = id.trim().trim_start_matches('[').trim_end_matches(']');
                    ChunkId::from_string(id.to_owned())
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_object_in_prose_and_fences() {
        let text =
            "Sure! Here it is:\n```json\n{\"answer\": \"a } b\", \"trace\": []}\n```\nDone {";
        let object = first_json_object(text).unwrap();
        assert_eq!(object["answer"], "a } b");
        assert!(first_json_object("no json here { \"a\": ").is_none());
        assert!(first_json_object("[1, 2]").is_none());
        let nested = first_json_object("x {\"a\": {\"b\": 1}} y").unwrap();
        assert_eq!(nested["a"]["b"], 1);
    }

    #[test]
    fn qa_reply_becomes_body_and_trace() {
        let reply = r#"{"answer": " It checks the status first. ",
            "trace": [{"claim": "It reads the apply.", "evidence": ["[c1]"]},
                      {"claim": "It checks the status.", "evidence": ["c2"]}],
            "extra": true}"#;
        let (body, trace) = parse_reply(reply, Task::Qa, "Why?").unwrap();
        assert_eq!(
            body,
            SampleBody::Qa {
                question: "Why?".to_owned(),
                answer: "It checks the status first.".to_owned()
            }
        );
        assert_eq!(trace[0].evidence, [ChunkId::from_string("c1".to_owned())]);
        assert_eq!(trace.len(), 2);
    }

    #[test]
    fn written_questions_are_read_and_an_empty_list_is_wrong() {
        let reply = r#"{"samples": [{"question": " Who may cancel? ", "answer": "a",
            "trace": [{"claim": "c", "evidence": ["[c1]"]}]}]}"#;
        let questions = parse_questions(reply).unwrap();
        assert_eq!(questions[0].question, "Who may cancel?");
        assert_eq!(questions[0].trace[0].evidence[0].as_str(), "c1");
        let err = parse_questions(r#"{"samples": []}"#).unwrap_err();
        assert_eq!(err.cause(), "wrong_schema");
        let err = parse_questions(r#"{"answer": "x"}"#).unwrap_err();
        assert!(err.problem().contains("samples"), "{}", err.problem());
    }

    #[test]
    fn a_name_for_an_answer_or_a_repeated_claim_is_thin() {
        let step = |claim: &str| TraceStep {
            claim: claim.to_owned(),
            evidence: vec![ChunkId::from_string("c1".to_owned())],
        };
        let two = [step("It reads the apply."), step("It checks the status.")];
        assert!(thin_problem("reject(Long,String,String)", &two).is_some());
        assert!(thin_problem("创建退货申请", &two).is_some());
        assert!(thin_problem("检查订单状态是否为已发货或已完成。", &two).is_none());
        assert!(thin_problem("It rejects the apply when its status is pending.", &two).is_none());
        let bare = [step("caf83e3ea7aa6"), step("It checks the status.")];
        assert!(thin_problem("It rejects the apply when its status is pending.", &bare).is_some());
        let echo = "It states names, values, conditions and the order of steps here.";
        assert!(thin_problem(echo, &two).unwrap().contains("instructions"));
        let repeated = [step("The same claim here."), step("the same claim here. ")];
        let problem = thin_problem(
            "It rejects the apply when its status is pending.",
            &repeated,
        );
        assert!(problem.unwrap().contains("repeats"));
        let reply = r#"{"answer": "updateStatus", "trace": []}"#;
        assert_eq!(
            parse_reply(reply, Task::Qa, "q").unwrap_err().cause(),
            "thin_answer"
        );
    }

    #[test]
    fn causes_are_told_apart() {
        let err = parse_reply("I cannot answer that.", Task::Qa, "q").unwrap_err();
        assert_eq!(err.cause(), "malformed_json");
        let err = parse_reply(r#"{"reply": "x"}"#, Task::Qa, "q").unwrap_err();
        assert_eq!(err.cause(), "wrong_schema");
        assert!(err.problem().contains("answer"), "{}", err.problem());
        let err = parse_reply(r#"{"answer": "x", "trace": []}"#, Task::Design, "r").unwrap_err();
        assert_eq!(err.cause(), "wrong_schema");
    }
}
