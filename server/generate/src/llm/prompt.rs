//! What the LLM generator asks: the task instructions (system), the question or requirement
//! with its evidence chunks headed by their ids (user), the JSON Schema of the reply, and the
//! follow-up message of a re-ask.
//!
//! The instructions restate the checks of `dataset::validate` (cite only listed chunks, cite
//! every chunk, name only identifiers and numbers that occur in the evidence) so that a
//! faithful model's replies pass them.

use serde_json::{Value, json};

use crate::{SampleRequest, TopicRequest};
use acdp_sample::prompt::render_chunk;
use acdp_sample::{Evidence, SampleLanguage, Task};

/// The system message: what to write and the rules a reply must follow.
pub fn system_message(repo_name: &str, task: Task, language: SampleLanguage) -> String {
    let shape = match task {
        Task::Qa => {
            "Answer the question about this code. Reply with one JSON object:\n\
             {\"answer\": string, \"trace\": [{\"claim\": string, \"evidence\": [chunk_id, ...]}, ...]}\n\
             `answer` states what this code does: names, values, conditions and the order of \
             steps, not general advice. `trace` has at least 2 steps."
        }
        Task::Design => {
            "Design the change the requirement asks for, aligned with the repository's existing \
             layering, naming, response wrappers, transactions and status handling. Reply with \
             one JSON object:\n\
             {\"summary\": string,\n \"components\": [{\"layer\": one of controller|service|\
             service_impl|mapper|mapper_xml|model|dto|job, \"component\": qualified name, \
             \"action\": \"modify\"|\"add\", \"description\": string}, ...],\n \
             \"api_changes\": [string], \"data_changes\": [string], \"flow\": [string], \
             \"consistency\": [string],\n \"reused\": [{\"chunk_id\": chunk_id, \"symbol\": \
             string, \"how\": string}, ...],\n \"assumptions\": [string], \"risks\": [string],\n \
             \"trace\": [{\"claim\": string, \"evidence\": [chunk_id, ...]}, ...]}\n\
             Modify and reuse existing components where the evidence has them; `reused` must \
             not be empty. `trace` has at least 3 steps."
        }
    };
    let language = language_rule(language);
    format!(
        "You write training data about the Java repository `{repo_name}`. The user gives a \
         task and evidence: code chunks, each headed by its chunk id in square brackets.\n\n\
         {shape}\n\n\
         Rules:\n\
         - Use only the evidence. Every trace step cites the ids of the chunks it rests on, \
         chosen from the evidence list; every evidence chunk is cited by at least one step.\n\
         - Put code identifiers in backticks and name only identifiers, tables, columns and \
         numbers that occur in the cited chunks.\n\
         - A step states one fact of this code and how it leads to the conclusion; do not \
         restate the question.\n\
         - {language}\n\
         - Reply with the JSON object only, no prose and no code fences."
    )
}

/// The system message's rule on the language of the reply.
fn language_rule(language: SampleLanguage) -> &'static str {
    match language {
        SampleLanguage::En => "Write every text field in English.",
        SampleLanguage::Zh => {
            "Write every text field in Simplified Chinese (简体中文); keep code identifiers, \
             SQL and chunk ids exactly as they appear in the code."
        }
    }
}

/// The user message: the question or requirement, then every evidence chunk.
pub fn user_message(request: &SampleRequest) -> String {
    let label = match request.task {
        Task::Qa => "Question",
        Task::Design => "Requirement",
    };
    let mut out = format!("{label}: {}\n\nEvidence:\n", request.prompt);
    push_evidence(&mut out, &request.evidence);
    push_citable(&mut out, &request.evidence);
    out.push_str(closing_reminder(request.language));
    out
}

/// Repeated at the end of the user message: small models follow the last instruction they
/// read, and code with Chinese comments pulls them into Chinese.
fn closing_reminder(language: SampleLanguage) -> &'static str {
    match language {
        SampleLanguage::En => "\n\nWrite in English. Cite only the chunk ids listed above.",
        SampleLanguage::Zh => "\n\n用简体中文写作；代码标识符保持原样。只引用上面列出的 chunk id。",
    }
}

/// Every chunk, headed by its id (`dataset::prompt::render_chunk`).
pub fn push_evidence(out: &mut String, evidence: &[Evidence]) {
    for e in evidence {
        out.push_str(&render_chunk(
            e.chunk_id.as_str(),
            &e.path,
            e.start_line,
            e.end_line,
            &e.symbol,
            &e.code,
        ));
    }
}

/// The list of ids a reply may cite.
fn push_citable(out: &mut String, evidence: &[Evidence]) {
    let ids: Vec<&str> = evidence.iter().map(|e| e.chunk_id.as_str()).collect();
    out.push_str("\nChunk ids you may cite: ");
    out.push_str(&ids.join(", "));
}

/// The follow-up after a reply that could not be used.
pub fn reask_message(problem: &str) -> String {
    format!(
        "Your reply could not be used: {problem}. Reply again with only the JSON object \
         described in the instructions, with every required field."
    )
}

/// The JSON Schema of a reply. Chunk ids are restricted to the request's evidence, so a
/// server that enforces the schema cannot cite anything else.
pub fn reply_schema(request: &SampleRequest) -> Value {
    let ids: Vec<&str> = request
        .evidence
        .iter()
        .map(|e| e.chunk_id.as_str())
        .collect();
    let chunk_id = json!({"type": "string", "enum": ids});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let trace = json!({
        "type": "array",
        "minItems": request.task.min_trace_steps(),
        "items": object(&[
            ("claim", json!({"type": "string"})),
            ("evidence", json!({"type": "array", "minItems": 1, "items": chunk_id})),
        ]),
    });
    match request.task {
        Task::Qa => object(&[("answer", json!({"type": "string"})), ("trace", trace)]),
        Task::Design => object(&[
            ("summary", json!({"type": "string"})),
            (
                "components",
                json!({"type": "array", "items": object(&[
                    ("layer", json!({"type": "string", "enum": [
                        "controller", "service", "service_impl", "mapper", "mapper_xml",
                        "model", "dto", "job"]})),
                    ("component", json!({"type": "string"})),
                    ("action", json!({"type": "string", "enum": ["modify", "add"]})),
                    ("description", json!({"type": "string"})),
                ])}),
            ),
            ("api_changes", strings.clone()),
            ("data_changes", strings.clone()),
            ("flow", strings.clone()),
            ("consistency", strings.clone()),
            (
                "reused",
                json!({"type": "array", "items": object(&[
                    ("chunk_id", chunk_id),
                    ("symbol", json!({"type": "string"})),
                    ("how", json!({"type": "string"})),
                ])}),
            ),
            ("assumptions", strings.clone()),
            ("risks", strings),
            ("trace", trace),
        ]),
    }
}

/// A closed object whose properties are all required (what strict structured output needs).
fn object(properties: &[(&str, Value)]) -> Value {
    let names: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    let properties: serde_json::Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": names,
        "additionalProperties": false,
    })
}

/// The system message of a topic: write questions a developer would ask about this code and
/// answer them from the code and the analysis' facts.
pub fn topic_system_message(repo_name: &str, topic: &TopicRequest) -> String {
    let language = language_rule(topic.language);
    format!(
        "You write training data about the Java repository `{repo_name}`. The user gives a \
         topic, code chunks (each headed by its chunk id in square brackets) and facts that \
         static analysis established about them (each holds on every execution it describes; \
         conditions are exact).\n\n\
         Write {count} different questions a developer new to this code would ask about the \
         topic, and answer each from the code and the facts. Reply with one JSON object:\n\
         {{\"samples\": [{{\"question\": string, \"answer\": string, \"trace\": \
         [{{\"claim\": string, \"evidence\": [chunk_id, ...]}}, ...]}}, ...]}}\n\n\
         Rules:\n\
         - Ask about behaviour that spans the code: conditions, order of steps, what is \
         written where, what happens on failure. Do not copy the wording of the facts.\n\
         - Every claim must hold for every execution it describes. When a call or a failure \
         happens only under a condition, say the condition; never say it always happens.\n\
         - Each trace step states one fact and cites the chunk ids it rests on, chosen from the \
         list; each answer has at least 2 steps.\n\
         - Put code identifiers in backticks and name only identifiers, tables, columns and \
         numbers that occur in the cited chunks.\n\
         - {language}\n\
         - Reply with the JSON object only, no prose and no code fences.",
        count = topic.questions.max(1),
    )
}

/// The user message of a topic: what it is about, the facts, the code.
pub fn topic_user_message(topic: &TopicRequest) -> String {
    let mut out = format!("Topic: {}\n\nFacts from static analysis:\n", topic.subject);
    for fact in &topic.facts {
        let ids: Vec<&str> = fact.evidence.iter().map(|id| id.as_str()).collect();
        out.push_str(&format!("- {} [{}]\n", fact.claim, ids.join(", ")));
    }
    out.push_str("\nCode:\n");
    push_evidence(&mut out, &topic.evidence);
    push_citable(&mut out, &topic.evidence);
    out.push_str(closing_reminder(topic.language));
    out
}

/// The JSON Schema of a topic's reply: up to `questions` answered questions whose citations
/// are the topic's chunk ids.
pub fn topic_schema(topic: &TopicRequest) -> Value {
    let ids: Vec<&str> = topic.evidence.iter().map(|e| e.chunk_id.as_str()).collect();
    let trace = json!({
        "type": "array",
        "minItems": Task::Qa.min_trace_steps(),
        "items": object(&[
            ("claim", json!({"type": "string"})),
            ("evidence", json!({"type": "array", "minItems": 1,
                "items": {"type": "string", "enum": ids}})),
        ]),
    });
    let sample = object(&[
        ("question", json!({"type": "string"})),
        ("answer", json!({"type": "string"})),
        ("trace", trace),
    ]);
    object(&[(
        "samples",
        json!({"type": "array", "minItems": 1, "maxItems": topic.questions.max(1),
            "items": sample}),
    )])
}
