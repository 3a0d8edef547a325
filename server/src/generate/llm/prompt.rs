//! What the LLM generator asks: the task instructions (system), the question or requirement
//! with its evidence chunks headed by their ids (user), the JSON Schema of the reply, and the
//! follow-up message of a re-ask.
//!
//! The instructions restate the checks of `dataset::validate` (cite only listed chunks, cite
//! every chunk, name only identifiers and numbers that occur in the evidence) so that a
//! faithful model's replies pass them.

use serde_json::{Value, json};

use crate::dataset::prompt::render_chunk;
use crate::dataset::sample::{SampleLanguage, Task};
use crate::generate::SampleRequest;

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
    let language = match language {
        SampleLanguage::En => "Write every text field in English.",
        SampleLanguage::Zh => {
            "Write every text field in Simplified Chinese (简体中文); keep code identifiers, \
             SQL and chunk ids exactly as they appear in the code."
        }
    };
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

/// The user message: the question or requirement, then every evidence chunk.
pub fn user_message(request: &SampleRequest) -> String {
    let label = match request.task {
        Task::Qa => "Question",
        Task::Design => "Requirement",
    };
    let mut out = format!("{label}: {}\n\nEvidence:\n", request.prompt);
    for e in &request.evidence {
        out.push_str(&render_chunk(
            e.chunk_id.as_str(),
            &e.path,
            e.start_line,
            e.end_line,
            &e.symbol,
            &e.code,
        ));
    }
    out.push_str("\nChunk ids you may cite: ");
    let ids: Vec<&str> = request
        .evidence
        .iter()
        .map(|e| e.chunk_id.as_str())
        .collect();
    out.push_str(&ids.join(", "));
    out
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
        "items": object(&[
            ("claim", json!({"type": "string"})),
            ("evidence", json!({"type": "array", "items": chunk_id})),
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
