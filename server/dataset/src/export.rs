//! Export to what fine-tuning tools read. Every row carries its `sample_id`; the full sample
//! (evidence, trace, source) stays in `samples.jsonl` beside the exports.
//!
//! - chat `messages` JSONL (`train.jsonl`, `dev.jsonl`, `test.jsonl`): system, user, assistant
//!   turns, as the Qwen chat template expects; trainers compute the loss on assistant turns;
//! - LLaMA-Factory: `llamafactory/alpaca_<split>.json`, `llamafactory/sharegpt_<split>.json` and
//!   `llamafactory/dataset_info.json` describing them;
//! - OpenAI fine-tuning JSONL: `openai/<split>.jsonl` (`messages` with roles).

use serde::Serialize;
use serde_json::{Value, json};

use super::split::Split;
use acdp_sample::Sample;
use acdp_sample::prompt::{assistant_turn, system_prompt, user_turn};

/// One exported file: path relative to the output folder, and its content.
pub struct ExportFile {
    pub path: String,
    pub content: String,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

/// The conversation every export writes for a sample, as `(role, content)`: system, user,
/// assistant. Length checks count the tokens of exactly this.
pub fn chat_turns(sample: &Sample) -> [(&'static str, String); 3] {
    [
        ("system", system_prompt(&sample.repo.name, sample.language)),
        (
            "user",
            user_turn(sample.body.prompt(), &sample.evidence, sample.language),
        ),
        ("assistant", assistant_turn(sample)),
    ]
}

fn jsonl(rows: impl Iterator<Item = Value>) -> String {
    let mut out = String::new();
    for row in rows {
        out.push_str(&row.to_string());
        out.push('\n');
    }
    out
}

/// All export files for samples assigned to splits.
pub fn export_all(samples: &[Sample], assignment: &[Split]) -> Vec<ExportFile> {
    // Each conversation is rendered once and written in every format.
    let turns: Vec<[(&'static str, String); 3]> = samples.iter().map(chat_turns).collect();
    let in_split = |split: Split| {
        samples
            .iter()
            .zip(&turns)
            .zip(assignment)
            .filter(move |(_, s)| **s == split)
            .map(|(sample_turns, _)| sample_turns)
    };
    let mut files = Vec::new();
    let mut dataset_info = serde_json::Map::new();
    for split in Split::ALL {
        let name = split.as_str();
        // The chat format is also OpenAI's fine-tuning format; the copy under openai/ keeps
        // each tool's folder self-contained.
        let chat = jsonl(in_split(split).map(|(s, turns)| {
            let messages: Vec<Message> = turns
                .iter()
                .map(|(role, content)| Message {
                    role,
                    content: content.as_str(),
                })
                .collect();
            json!({"messages": messages, "sample_id": s.sample_id})
        }));
        files.push(ExportFile {
            path: format!("openai/{name}.jsonl"),
            content: chat.clone(),
        });
        files.push(ExportFile {
            path: format!("{name}.jsonl"),
            content: chat,
        });
        let alpaca: Vec<Value> = in_split(split)
            .map(|(s, [system, user, assistant])| {
                json!({
                    "instruction": user.1,
                    "input": "",
                    "output": assistant.1,
                    "system": system.1,
                    "sample_id": s.sample_id,
                })
            })
            .collect();
        let sharegpt: Vec<Value> = in_split(split)
            .map(|(s, [system, user, assistant])| {
                json!({
                    "conversations": [
                        {"from": "human", "value": user.1},
                        {"from": "gpt", "value": assistant.1},
                    ],
                    "system": system.1,
                    "sample_id": s.sample_id,
                })
            })
            .collect();
        files.push(ExportFile {
            path: format!("llamafactory/alpaca_{name}.json"),
            content: pretty(&Value::Array(alpaca)),
        });
        files.push(ExportFile {
            path: format!("llamafactory/sharegpt_{name}.json"),
            content: pretty(&Value::Array(sharegpt)),
        });
        dataset_info.insert(
            format!("acdp_alpaca_{name}"),
            json!({
                "file_name": format!("alpaca_{name}.json"),
                "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"},
            }),
        );
        dataset_info.insert(
            format!("acdp_sharegpt_{name}"),
            json!({
                "file_name": format!("sharegpt_{name}.json"),
                "formatting": "sharegpt",
                "columns": {"messages": "conversations", "system": "system"},
                "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
            }),
        );
    }
    files.push(ExportFile {
        path: "llamafactory/dataset_info.json".to_owned(),
        content: pretty(&Value::Object(dataset_info)),
    });
    files
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize") + "\n"
}
