//! The capability probe: before an endpoint gets its first real request, a few short requests
//! learn which `response_format` it takes and whether it honours `seed`, instead of guessing
//! from status codes while real requests fail.
//!
//! Output formats are tried strongest first, from the configured one down. A structured format
//! counts as taken only when the reply obeys a schema the prompt does not give away (the one
//! allowed value of a field): a server that answers 200 but ignores the schema (older Ollama,
//! llama.cpp's Python server with `json_schema` turned into a 500) is found out here, not by a
//! hundred rejected samples. The seed is tested with three sampled replies (temperature 1): the
//! same seed twice, then another seed.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::endpoint::{CallError, CallStats, Down, Endpoint};
use super::reply::first_json_object;
use super::{Chat, LlmConfig, LlmOutputFormat, chat_body, format_of_rank, format_rank, message};

/// The one value the probe schema allows; not in the prompt, so only a server that enforces
/// the schema produces it.
const PROBE_TOKEN: &str = "acdp-7f3a";

/// Marks probe requests (servers and tests can tell them apart from sample requests).
pub const PROBE_MARKER: &str = "acdp capability probe";

/// Whether an endpoint's sampling follows the request's `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedSupport {
    /// Same seed, same reply; another seed, another reply.
    Honoured,
    /// The same seed gave two different replies: a rerun without the cache writes other
    /// samples.
    Ignored,
    /// Not told apart (probing off, a probe failed, or every reply was the same).
    Unknown,
}

/// What a run knows about one endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    pub response_format: LlmOutputFormat,
    pub seed: SeedSupport,
    /// Requests the probe sent (0 when probing is off).
    pub probe_requests: usize,
}

impl Capabilities {
    /// What is assumed without probing: the configured format, seed unknown.
    pub fn assumed(config: &LlmConfig) -> Capabilities {
        Capabilities {
            response_format: config.output_format,
            seed: SeedSupport::Unknown,
            probe_requests: 0,
        }
    }
}

/// What probes in this process learned, by endpoint, model and configured format: the
/// language server asks an endpoint for each code action, and the judge pass after the
/// generation, without probing it again.
type Known = Mutex<HashMap<(String, String, LlmOutputFormat), Capabilities>>;

fn known_endpoints() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(Known::default)
}

/// What an earlier probe in this process learned about `base_url` for this model and format.
pub fn known(base_url: &str, config: &LlmConfig) -> Option<Capabilities> {
    let key = (
        base_url.to_owned(),
        config.model.clone(),
        config.output_format,
    );
    let known = known_endpoints().lock().unwrap_or_else(|e| e.into_inner());
    known.get(&key).map(|capabilities| Capabilities {
        probe_requests: 0,
        ..capabilities.clone()
    })
}

/// Probes `endpoint`, counting its requests in `stats`; `Err` when it cannot be used at all
/// (not reachable, refuses every format, or rejects the key or model). A probe that only met
/// transient faults (a 503 while the model loads, timeouts) learns nothing and assumes the
/// configured format, to be probed again in the next run.
pub async fn probe(
    endpoint: &Endpoint,
    config: &LlmConfig,
    stats: &mut CallStats,
) -> Result<Capabilities, Down> {
    let response_format = match probe_format(endpoint, config, stats).await? {
        Some(format) => format,
        None => return Ok(Capabilities::assumed(config)),
    };
    let seed = probe_seed(endpoint, config, stats).await;
    let capabilities = Capabilities {
        response_format,
        seed,
        probe_requests: stats.http_requests,
    };
    known_endpoints()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            (
                endpoint.base_url.clone(),
                config.model.clone(),
                config.output_format,
            ),
            capabilities.clone(),
        );
    Ok(capabilities)
}

/// The strongest format the endpoint takes; `None` when transient faults left it untold.
async fn probe_format(
    endpoint: &Endpoint,
    config: &LlmConfig,
    stats: &mut CallStats,
) -> Result<Option<LlmOutputFormat>, Down> {
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": [PROBE_TOKEN]}},
        "required": ["answer"],
        "additionalProperties": false,
    });
    let messages = [
        message("system", "You reply with one JSON object and nothing else."),
        message(
            "user",
            &format!(
                "{PROBE_MARKER}: reply with a JSON object with one field, `answer`, holding a \
                 short word."
            ),
        ),
    ];
    let mut last_refusal = String::new();
    for rank in format_rank(config.output_format)..=format_rank(LlmOutputFormat::Text) {
        let format = format_of_rank(rank);
        let body = chat_body(
            &config.model,
            Chat {
                messages: &messages,
                format,
                schema: &schema,
                temperature: 0.0,
                max_tokens: 48,
                seed: config.seed,
            },
        );
        match endpoint.call(&body, "probe", config, stats).await {
            Ok(response) => {
                let structured = matches!(
                    format,
                    LlmOutputFormat::JsonSchema | LlmOutputFormat::JsonObjectSchema
                );
                let choice = response.choices.first();
                let content = choice
                    .and_then(|c| c.message.content.clone())
                    .unwrap_or_default();
                // A reply cut at the limit or empty (a model that reasons first) tells
                // nothing against the format: only a whole reply that breaks the schema does.
                let whole = choice.is_some_and(|c| {
                    !matches!(
                        c.finish_reason,
                        Some(async_openai::types::chat::FinishReason::Length)
                    )
                }) && !content.trim().is_empty();
                if !structured || !whole || obeys_probe_schema(&content) {
                    return Ok(Some(format));
                }
                last_refusal = format!("{format:?} answered without the schema");
            }
            Err(CallError::BadRequest(message)) => last_refusal = message,
            Err(CallError::Failed(_)) if endpoint.down().is_some() => {
                return Err(endpoint.down().cloned().expect("down"));
            }
            Err(CallError::Failed(cause)) if super::is_endpoint_fault(&cause) => return Ok(None),
            Err(CallError::Failed(cause)) => {
                return Err(Down::Unusable(format!(
                    "the capability probe failed: {cause}"
                )));
            }
        }
    }
    Err(Down::Unusable(format!(
        "every response_format was refused, plain text included (last: {})",
        last_refusal.lines().next().unwrap_or_default()
    )))
}

fn obeys_probe_schema(content: &str) -> bool {
    first_json_object(content)
        .and_then(|object| object.get("answer").cloned())
        .is_some_and(|answer| answer == PROBE_TOKEN)
}

async fn probe_seed(endpoint: &Endpoint, config: &LlmConfig, stats: &mut CallStats) -> SeedSupport {
    let messages = [message(
        "user",
        &format!("{PROBE_MARKER}: write twelve random English words, separated by spaces."),
    )];
    let mut replies = Vec::new();
    for seed in [config.seed, config.seed, config.seed.wrapping_add(1)] {
        let body = chat_body(
            &config.model,
            Chat {
                messages: &messages,
                format: LlmOutputFormat::Text,
                schema: &Value::Null,
                temperature: 1.0,
                max_tokens: 16,
                seed,
            },
        );
        match endpoint.call(&body, "probe-seed", config, stats).await {
            Ok(response) => replies.push(
                response
                    .choices
                    .first()
                    .and_then(|c| c.message.content.clone())
                    .unwrap_or_default(),
            ),
            Err(_) => return SeedSupport::Unknown,
        }
    }
    seed_support(&replies[0], &replies[1], &replies[2])
}

/// From two replies with the same seed and one with another.
fn seed_support(first: &str, again: &str, other_seed: &str) -> SeedSupport {
    if first != again {
        SeedSupport::Ignored
    } else if first != other_seed {
        SeedSupport::Honoured
    } else {
        SeedSupport::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_support_reads_the_three_replies() {
        assert_eq!(seed_support("a b", "a b", "c d"), SeedSupport::Honoured);
        assert_eq!(seed_support("a b", "c d", "a b"), SeedSupport::Ignored);
        assert_eq!(seed_support("a b", "a b", "a b"), SeedSupport::Unknown);
    }

    #[test]
    fn only_the_allowed_value_obeys_the_schema() {
        assert!(obeys_probe_schema(r#"{"answer": "acdp-7f3a"}"#));
        assert!(!obeys_probe_schema(r#"{"answer": "hello"}"#));
        assert!(!obeys_probe_schema("hello"));
    }
}
