//! The LLM generator: sends each [`SampleRequest`] to an OpenAI-compatible chat endpoint
//! (vLLM, Ollama, llama.cpp server, OpenAI) and reads the reply into a sample.
//!
//! One request per sample: task instructions, the question or requirement with its evidence
//! chunks headed by their ids, and a JSON Schema for the reply (`response_format`
//! `json_schema`, falling back to `json_object` and to plain text when the server rejects it).
//! Calls run with bounded concurrency, are retried with seeded exponential backoff on 429,
//! 5xx, timeouts and transport errors, and every completed reply is cached by the hash of the
//! request, so a rerun pays only for what it has not got. An endpoint that cannot be connected
//! to at all (refused, DNS failure) stops the run with [`EndpointUnreachable`] instead: before
//! the server has answered once, at the first such failure; later, after
//! [`UNREACHABLE_AFTER`] in a row. A reply that is not the JSON asked
//! for (asked again once), or that was cut at the token limit, never becomes a sample; every
//! outcome is counted by cause in [`LlmReport`].
//!
//! What this module does not do: check a sample against the code. The caller validates like
//! any other generator's output (`dataset::build_dataset`); [`keep_valid`] does it here and
//! counts the rejections in the report. Depends on `generate` (the requests), `dataset` (the
//! schema, chunk rendering, validation) and `config`.

mod cache;
mod prompt;
mod reply;
mod retry;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, CreateChatCompletionResponse, FinishReason, ResponseFormat,
    ResponseFormatJsonSchema,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::dataset::sample::{GeneratorInfo, RepoInfo, Sample};
use crate::dataset::validate::{ValidationOptions, ValidationReport, validate_sample};
use crate::generate::SampleRequest;
use crate::index::WorkspaceIndex;
use cache::{CachedReply, ResponseCache, request_key};
use retry::{CallFailure, backoff_delay};

pub use crate::config::{LlmOutputFormat, LlmSettings};

/// Names of the causes a request can fail or be retried for, as they appear in reports.
/// A 4xx other than 400, 408, 422 and 429 is reported as `http_<status>`.
pub mod cause {
    pub const HTTP_429: &str = "http_429";
    pub const HTTP_5XX: &str = "http_5xx";
    pub const TIMEOUT: &str = "timeout";
    pub const CONNECTION: &str = "connection";
    /// The server rejected the request (400/422) in every output format.
    pub const BAD_REQUEST: &str = "bad_request";
    /// A 200 whose body is not a chat completion.
    pub const MALFORMED_RESPONSE: &str = "malformed_response";
    /// The client could not build or send the request.
    pub const CLIENT_ERROR: &str = "client_error";
    /// The reply contains no JSON object.
    pub const MALFORMED_JSON: &str = "malformed_json";
    /// The reply stopped at the token limit (`finish_reason` = `length`).
    pub const TRUNCATED: &str = "truncated";
    /// The reply is JSON but not the fields and types asked for.
    pub const WRONG_SCHEMA: &str = "wrong_schema";
    /// The model refused, a content filter stopped it, or the reply was empty.
    pub const REFUSED: &str = "refused";
    /// The sample failed `dataset::validate` (counted by [`super::keep_valid`]).
    pub const VALIDATION: &str = "validation";
    /// The run stopped because the endpoint could not be connected to
    /// ([`super::EndpointUnreachable`]); the request was not (or no longer) tried.
    pub const UNREACHABLE: &str = "unreachable";
}

/// Connection failures in a row (refused, DNS), after the server has answered once, that stop
/// a run. Before the first answer one is enough: nothing suggests the server is there.
pub const UNREACHABLE_AFTER: usize = 8;

/// The endpoint could not be connected to: the run stopped instead of retrying every request.
/// Replies cached before it stopped stay in the cache, so a rerun resumes from them.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot connect to the LLM endpoint {base_url} ({detail}): start the server there, or set \
     base_url in [llm] of acdp.toml (or ACDP_LLM_BASE_URL) to where it runs. Replies cached so \
     far stay in {cache_dir}; a rerun resumes from them"
)]
pub struct EndpointUnreachable {
    pub base_url: String,
    /// The innermost error of the first failed connection, e.g. `Connection refused`.
    pub detail: String,
    pub cache_dir: String,
    /// What the run did before it stopped (requests left untried count as `unreachable`).
    pub report: Box<LlmReport>,
}

/// The resolved settings of the generator: `[llm]` of acdp.toml, with the environment's
/// overrides and the API key read.
#[derive(Clone)]
pub struct LlmConfig {
    /// Up to and including `/v1`, e.g. `http://localhost:8000/v1`.
    pub base_url: String,
    /// `None` sends no key (local servers).
    pub api_key: Option<String>,
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub output_format: LlmOutputFormat,
    pub reask: bool,
    pub seed: u64,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("output_format", &self.output_format)
            .field("reask", &self.reask)
            .finish_non_exhaustive()
    }
}

/// Overrides `base_url` of `[llm]`.
pub const BASE_URL_ENV: &str = "ACDP_LLM_BASE_URL";
/// Overrides `model` of `[llm]`.
pub const MODEL_ENV: &str = "ACDP_LLM_MODEL";

impl LlmConfig {
    /// The settings with the process environment applied: [`BASE_URL_ENV`], [`MODEL_ENV`] and
    /// the key from the variable `api_key_env` names.
    pub fn from_settings(settings: &LlmSettings) -> LlmConfig {
        Self::from_settings_with_env(settings, |name| std::env::var(name).ok())
    }

    /// As [`LlmConfig::from_settings`], reading variables through `env`. Empty values count
    /// as unset.
    pub fn from_settings_with_env(
        settings: &LlmSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> LlmConfig {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        LlmConfig {
            base_url: env(BASE_URL_ENV)
                .unwrap_or_else(|| settings.base_url.clone())
                .trim_end_matches('/')
                .to_owned(),
            api_key: env(&settings.api_key_env),
            model: env(MODEL_ENV).unwrap_or_else(|| settings.model.clone()),
            temperature: settings.temperature,
            max_tokens: settings.max_tokens,
            concurrency: settings.concurrency.max(1),
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
            max_retries: settings.max_retries,
            backoff_base: Duration::from_millis(settings.backoff_base_ms),
            backoff_max: Duration::from_millis(settings.backoff_max_ms),
            output_format: settings.output_format,
            reask: settings.reask,
            seed: settings.seed,
        }
    }
}

/// What a run did: goes into the dataset's stats.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmReport {
    pub model: String,
    /// Sample requests given.
    pub requests: usize,
    /// Chat completions sent to the server (first tries, retries, re-asks, fallbacks).
    pub http_requests: usize,
    /// Chat completions read from the cache instead.
    pub cache_hits: usize,
    /// Requests whose reply became a sample.
    pub successes: usize,
    /// Requests (and, after [`keep_valid`], samples) that gave no kept sample, by cause.
    pub rejected: BTreeMap<String, usize>,
    /// Failed validation checks of rejected samples (one sample may fail several).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub validation_failures: BTreeMap<String, usize>,
    /// Samples that passed validation, once [`keep_valid`] ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<usize>,
    pub retries: usize,
    pub retries_by_cause: BTreeMap<String, usize>,
    /// Follow-up requests after a reply that was not the JSON asked for.
    pub reasks: usize,
    /// Requests whose re-ask gave a usable reply.
    pub recovered_by_reask: usize,
    /// Times a request fell back to a simpler `response_format` after a 400/422.
    pub format_fallbacks: usize,
    /// Cache entries that could not be written (the sample is kept; a rerun pays again).
    pub cache_write_errors: usize,
    /// Tokens of the requests sent in this run, from the server's `usage` (cache hits cost
    /// nothing and are not counted).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub elapsed_ms: u64,
}

impl LlmReport {
    fn reject(&mut self, cause: &str) {
        *self.rejected.entry(cause.to_owned()).or_default() += 1;
    }

    fn absorb(&mut self, outcome: &Outcome) {
        self.http_requests += outcome.http_requests;
        self.cache_hits += outcome.cache_hits;
        for (cause, n) in &outcome.retries_by_cause {
            self.retries += n;
            *self
                .retries_by_cause
                .entry((*cause).to_owned())
                .or_default() += n;
        }
        self.reasks += outcome.reasks;
        self.recovered_by_reask += usize::from(outcome.recovered_by_reask);
        self.format_fallbacks += outcome.format_fallbacks;
        self.cache_write_errors += outcome.cache_write_errors;
        self.prompt_tokens += outcome.prompt_tokens;
        self.completion_tokens += outcome.completion_tokens;
        match (&outcome.sample, &outcome.rejected) {
            (Some(_), _) => self.successes += 1,
            (None, Some(cause)) => self.reject(cause),
            (None, None) => self.reject(cause::CLIENT_ERROR),
        }
    }
}

/// How the LLM generator's samples name their generator.
pub fn llm_generator(model: &str) -> GeneratorInfo {
    GeneratorInfo {
        name: "acdp-llm".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model: Some(model.to_owned()),
    }
}

/// Writes a sample for every request through the endpoint in `config`, caching replies under
/// `cache_dir`. Samples come back in request order; requests that gave none are counted in
/// the report by cause. The samples are not yet validated: see [`keep_valid`]. Fails only
/// when the endpoint cannot be connected to ([`EndpointUnreachable`]).
pub async fn generate_with_llm(
    requests: Vec<SampleRequest>,
    config: &LlmConfig,
    cache_dir: &Path,
    repo: &RepoInfo,
) -> Result<(Vec<Sample>, LlmReport), EndpointUnreachable> {
    let started = Instant::now();
    let mut report = LlmReport {
        model: config.model.clone(),
        requests: requests.len(),
        ..LlmReport::default()
    };
    let openai = OpenAIConfig::new()
        .with_api_base(config.base_url.clone())
        .with_api_key(config.api_key.clone().unwrap_or_default())
        .with_org_id("")
        .with_project_id("");
    // async-openai's default executor retries 429/5xx on its own (3 times, fixed policy);
    // the plain reqwest service leaves every retry to this module, so they are counted and
    // follow the configured policy.
    let client = Client::with_config(openai).with_http_service(ReqwestService::default());
    let context = Context {
        client,
        config,
        cache: ResponseCache::new(cache_dir),
        repo,
        format_floor: AtomicU8::new(format_rank(config.output_format)),
        answered: AtomicBool::new(false),
        connection_failures: AtomicUsize::new(0),
        unreachable: OnceLock::new(),
    };
    let mut outcomes: Vec<(usize, Outcome)> =
        futures::stream::iter(requests.into_iter().enumerate())
            .map(|(position, request)| {
                let context = &context;
                async move { (position, context.write_sample(request).await) }
            })
            .buffer_unordered(config.concurrency.max(1))
            .collect()
            .await;
    outcomes.sort_by_key(|(position, _)| *position);
    let mut samples = Vec::new();
    for (_, outcome) in outcomes {
        report.absorb(&outcome);
        samples.extend(outcome.sample);
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(detail) = context.unreachable.get() {
        return Err(EndpointUnreachable {
            base_url: config.base_url.clone(),
            detail: detail.clone(),
            cache_dir: cache_dir.display().to_string(),
            report: Box::new(report),
        });
    }
    Ok((samples, report))
}

/// Validates samples against the index with `dataset::validate`, keeps those that pass and
/// counts the others in `report` (cause `validation`, and per failed check).
pub fn keep_valid(
    samples: Vec<Sample>,
    index: &WorkspaceIndex,
    options: &ValidationOptions<'_>,
    report: &mut LlmReport,
) -> (Vec<Sample>, Vec<ValidationReport>) {
    let mut kept = Vec::with_capacity(samples.len());
    let mut rejected = Vec::new();
    for sample in samples {
        let validation = validate_sample(&sample, index, options);
        if validation.passed {
            kept.push(sample);
        } else {
            report.reject(cause::VALIDATION);
            for check in validation.checks.iter().filter(|c| !c.passed) {
                *report
                    .validation_failures
                    .entry(check.check.to_owned())
                    .or_default() += 1;
            }
            rejected.push(validation);
        }
    }
    *report.kept.get_or_insert(0) += kept.len();
    (kept, rejected)
}

/// What happened to one request.
#[derive(Default)]
struct Outcome {
    sample: Option<Sample>,
    rejected: Option<String>,
    http_requests: usize,
    cache_hits: usize,
    retries_by_cause: BTreeMap<&'static str, usize>,
    reasks: usize,
    recovered_by_reask: bool,
    format_fallbacks: usize,
    cache_write_errors: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
}

struct Context<'a> {
    client: Client<OpenAIConfig>,
    config: &'a LlmConfig,
    cache: ResponseCache,
    repo: &'a RepoInfo,
    /// The strongest output format not yet known to be rejected by the server; lowered once a
    /// simpler one worked, so later requests do not pay for the rejection again.
    format_floor: AtomicU8,
    /// Whether the server has sent any HTTP response in this run.
    answered: AtomicBool,
    /// Connection failures (refused, DNS) since the last HTTP response.
    connection_failures: AtomicUsize,
    /// Set once the endpoint is judged down: the first connection failure's detail. Every
    /// request still to be sent is then given up.
    unreachable: OnceLock<String>,
}

fn format_rank(format: LlmOutputFormat) -> u8 {
    match format {
        LlmOutputFormat::JsonSchema => 0,
        LlmOutputFormat::JsonObject => 1,
        LlmOutputFormat::Text => 2,
    }
}

fn format_of_rank(rank: u8) -> LlmOutputFormat {
    match rank {
        0 => LlmOutputFormat::JsonSchema,
        1 => LlmOutputFormat::JsonObject,
        _ => LlmOutputFormat::Text,
    }
}

/// Why a call gave no reply.
enum FetchError {
    /// 400/422: the server may not support this output format.
    BadRequest,
    /// Retries exhausted or not worth retrying; the cause for the report.
    Failed(String),
}

impl Context<'_> {
    /// Asks for one sample: the request, fallbacks of the output format, one re-ask.
    async fn write_sample(&self, request: SampleRequest) -> Outcome {
        let mut outcome = Outcome::default();
        let schema = prompt::reply_schema(&request);
        let mut messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage::from(prompt::system_message(
                &self.repo.name,
                request.task,
                request.language,
            ))
            .into(),
            ChatCompletionRequestUserMessage::from(prompt::user_message(&request)).into(),
        ];
        let mut rank = self.format_floor.load(Ordering::Relaxed);
        let asks = if self.config.reask { 2 } else { 1 };
        for ask in 0..asks {
            let reply = loop {
                let format = format_of_rank(rank);
                let chat = self.chat_request(messages.clone(), format, &schema);
                match self.fetch(&chat, &mut outcome).await {
                    Ok(reply) => break reply,
                    Err(FetchError::BadRequest) if format != LlmOutputFormat::Text => {
                        rank += 1;
                        outcome.format_fallbacks += 1;
                    }
                    Err(FetchError::BadRequest) => {
                        outcome.rejected = Some(cause::BAD_REQUEST.to_owned());
                        return outcome;
                    }
                    Err(FetchError::Failed(cause)) => {
                        outcome.rejected = Some(cause);
                        return outcome;
                    }
                }
            };
            if outcome.format_fallbacks > 0 {
                self.format_floor.fetch_max(rank, Ordering::Relaxed);
            }
            match reply.finish_reason.as_deref() {
                Some("length") => {
                    outcome.rejected = Some(cause::TRUNCATED.to_owned());
                    return outcome;
                }
                Some("content_filter") => {
                    outcome.rejected = Some(cause::REFUSED.to_owned());
                    return outcome;
                }
                _ => {}
            }
            let content = match reply.content.as_deref() {
                Some(content) if !content.trim().is_empty() => content,
                _ => {
                    outcome.rejected = Some(cause::REFUSED.to_owned());
                    return outcome;
                }
            };
            match reply::parse_reply(content, request.task, &request.prompt) {
                Ok((body, trace)) => {
                    outcome.recovered_by_reask = ask > 0;
                    let generator = llm_generator(&self.config.model);
                    outcome.sample = Some(request.into_sample(body, trace, generator, self.repo));
                    return outcome;
                }
                Err(err) if ask + 1 < asks => {
                    outcome.reasks += 1;
                    messages.push(ChatCompletionRequestAssistantMessage::from(content).into());
                    messages.push(
                        ChatCompletionRequestUserMessage::from(prompt::reask_message(
                            err.problem(),
                        ))
                        .into(),
                    );
                }
                Err(err) => {
                    outcome.rejected = Some(err.cause().to_owned());
                    return outcome;
                }
            }
        }
        outcome
    }

    // `max_tokens` and `seed` are deprecated by OpenAI in favour of `max_completion_tokens`,
    // but they are what every OpenAI-compatible server (vLLM, Ollama, llama.cpp) reads.
    #[allow(deprecated)]
    fn chat_request(
        &self,
        messages: Vec<ChatCompletionRequestMessage>,
        format: LlmOutputFormat,
        schema: &serde_json::Value,
    ) -> CreateChatCompletionRequest {
        let response_format = match format {
            LlmOutputFormat::JsonSchema => Some(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: None,
                    name: "acdp_sample".to_owned(),
                    schema: schema.clone(),
                    strict: Some(true),
                },
            }),
            LlmOutputFormat::JsonObject => Some(ResponseFormat::JsonObject),
            LlmOutputFormat::Text => None,
        };
        CreateChatCompletionRequest {
            model: self.config.model.clone(),
            messages,
            temperature: Some(self.config.temperature),
            max_tokens: Some(self.config.max_tokens),
            seed: Some(self.config.seed as i64),
            response_format,
            ..CreateChatCompletionRequest::default()
        }
    }

    /// Counts a failed connection; whether the endpoint is now judged down (the run stops).
    fn endpoint_down(&self, detail: String) -> bool {
        let in_a_row = self.connection_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if self.answered.load(Ordering::Relaxed) && in_a_row < UNREACHABLE_AFTER {
            return false;
        }
        let _ = self.unreachable.set(detail);
        true
    }

    /// One chat completion: from the cache, or from the server with retries.
    async fn fetch(
        &self,
        chat: &CreateChatCompletionRequest,
        outcome: &mut Outcome,
    ) -> Result<CachedReply, FetchError> {
        let request_json = serde_json::to_vec(chat)
            .map_err(|_| FetchError::Failed(cause::CLIENT_ERROR.to_owned()))?;
        let key = request_key(&request_json);
        if let Some(reply) = self.cache.get(&key) {
            outcome.cache_hits += 1;
            return Ok(reply);
        }
        let mut retry = 0;
        loop {
            if self.unreachable.get().is_some() {
                return Err(FetchError::Failed(cause::UNREACHABLE.to_owned()));
            }
            outcome.http_requests += 1;
            let sent =
                tokio::time::timeout(self.config.timeout, self.client.chat().create(chat.clone()))
                    .await;
            if let Ok(Ok(_) | Err(OpenAIError::ApiError(_))) = &sent {
                self.answered.store(true, Ordering::Relaxed);
                self.connection_failures.store(0, Ordering::Relaxed);
            }
            let failure = match sent {
                Ok(Ok(response)) => {
                    let reply = cached_reply(key, response);
                    outcome.prompt_tokens += reply.prompt_tokens;
                    outcome.completion_tokens += reply.completion_tokens;
                    if self.cache.put(&reply).is_err() {
                        outcome.cache_write_errors += 1;
                    }
                    return Ok(reply);
                }
                Ok(Err(error)) => CallFailure::from_error(&error),
                Err(_elapsed) => CallFailure::Transient(cause::TIMEOUT),
            };
            let retryable = match failure {
                CallFailure::Transient(cause) => cause,
                CallFailure::Unreachable(detail) => {
                    if self.endpoint_down(detail) {
                        return Err(FetchError::Failed(cause::UNREACHABLE.to_owned()));
                    }
                    cause::CONNECTION
                }
                CallFailure::BadRequest(..) => return Err(FetchError::BadRequest),
                CallFailure::Permanent(cause) => return Err(FetchError::Failed(cause)),
            };
            if retry >= self.config.max_retries {
                return Err(FetchError::Failed(retryable.to_owned()));
            }
            *outcome.retries_by_cause.entry(retryable).or_default() += 1;
            let delay = backoff_delay(
                self.config.backoff_base,
                self.config.backoff_max,
                retry,
                self.config.seed,
                &key,
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

/// What is kept of a completed response: the first choice and the usage.
fn cached_reply(key: String, response: CreateChatCompletionResponse) -> CachedReply {
    let usage = response.usage.as_ref();
    let choice = response.choices.into_iter().next();
    let finish_reason = choice.as_ref().and_then(|c| c.finish_reason).map(|reason| {
        match reason {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::FunctionCall => "function_call",
        }
        .to_owned()
    });
    let (content, refusal) = choice
        .map(|c| (c.message.content, c.message.refusal))
        .unwrap_or_default();
    CachedReply {
        key,
        model: response.model,
        content,
        refusal,
        finish_reason,
        prompt_tokens: usage.map_or(0, |u| u64::from(u.prompt_tokens)),
        completion_tokens: usage.map_or(0, |u| u64::from(u.completion_tokens)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file_and_keys_stay_out_of_debug() {
        let settings = LlmSettings {
            api_key_env: "MY_KEY".to_owned(),
            ..LlmSettings::default()
        };
        let env = |name: &str| match name {
            "ACDP_LLM_BASE_URL" => Some("http://127.0.0.1:11434/v1/".to_owned()),
            "ACDP_LLM_MODEL" => Some("qwen2.5:7b".to_owned()),
            "MY_KEY" => Some("sk-secret".to_owned()),
            _ => None,
        };
        let config = LlmConfig::from_settings_with_env(&settings, env);
        assert_eq!(config.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(config.model, "qwen2.5:7b");
        assert_eq!(config.api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{config:?}").contains("sk-secret"));

        let plain = LlmConfig::from_settings_with_env(&settings, |_| Some(" ".to_owned()));
        assert_eq!(plain.base_url, settings.base_url);
        assert_eq!(plain.model, settings.model);
        assert_eq!(plain.api_key, None);
    }

    #[test]
    fn format_ranks_round_trip() {
        for format in [
            LlmOutputFormat::JsonSchema,
            LlmOutputFormat::JsonObject,
            LlmOutputFormat::Text,
        ] {
            assert_eq!(format_of_rank(format_rank(format)), format);
        }
    }
}
