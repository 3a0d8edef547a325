//! The LLM generator: sends jobs to OpenAI-compatible chat endpoints (vLLM, Ollama, llama.cpp's
//! servers, OpenAI) and reads the replies into samples.
//!
//! Two kinds of job ([`LlmJob`]): answer a [`SampleRequest`] (a question or requirement the
//! offline generator chose, with its evidence), or, given a [`TopicRequest`] (a flow with its
//! rules, a state machine, a method's checks: code plus the analysis' facts about it), write
//! questions a developer would ask about it and answer them. Each request carries a JSON Schema
//! for the reply in the `response_format` the endpoint takes, learned by a probe before its
//! first request (`probe`), falling back to simpler formats when a request is still refused.
//! Calls run with bounded concurrency per endpoint over one or many endpoints
//! (`endpoint::Pool`), are retried with seeded exponential backoff on 429, 5xx, timeouts and
//! transport errors, and every completed reply is cached by the hash of the request, so a
//! rerun pays only for what it has not got. An endpoint that cannot be connected to, or that
//! refuses what every request needs, is taken out of the run; when all are out the run stops
//! with [`EndpointUnreachable`]. A reply that is not the JSON asked for (asked again once),
//! or that was cut at the token limit, never becomes a sample; every outcome is counted by
//! cause in [`LlmReport`].
//!
//! What this module does not do: check a sample against the code. The caller validates like
//! any other generator's output (`dataset::build_dataset`); [`keep_valid`] does it here, with
//! the path-fact check of calls ([`super::claims`]), and counts the rejections in the report.
//! Depends on `generate` (the requests), `analysis` (path facts), `dataset` (the schema, chunk
//! rendering, validation) and `config`.

mod cache;
mod endpoint;
mod judge;
mod probe;
mod prompt;
mod reply;
mod retry;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_openai::types::chat::{CreateChatCompletionResponse, FinishReason};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;

use crate::claims::claim_problems;
use crate::{SampleRequest, TopicRequest};
use acdp_analysis::Analysis;
use acdp_index::WorkspaceIndex;
use acdp_sample::validate::{ValidationOptions, ValidationReport, validate_sample};
use acdp_sample::{GeneratorInfo, RepoInfo, Sample};
use cache::{CachedReply, ResponseCache, request_key};
use endpoint::{CallError, CallStats, Down, Endpoint, Pool};

pub use acdp_config::{BaseUrls, LlmJudge, LlmOutputFormat, LlmSettings};
pub use probe::{Capabilities, PROBE_MARKER, SeedSupport};

/// Names of the causes a request can fail or be retried for, as they appear in reports.
/// A 4xx other than 400, 408, 422 and 429 is reported as `http_<status>`.
pub mod cause {
    pub const HTTP_429: &str = "http_429";
    pub const HTTP_5XX: &str = "http_5xx";
    pub const TIMEOUT: &str = "timeout";
    pub const CONNECTION: &str = "connection";
    /// The server rejected the request (400/422, or a 5xx validation error) in every output
    /// format.
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
    /// The sample tells a conditional call as if it always happened (counted by
    /// [`super::keep_valid`], see `generate::claims`).
    pub const PATH_FACTS: &str = "path_facts";
    /// A written question whose trace cites none of the topic's chunks.
    pub const UNCITED: &str = "uncited";
    /// An answer that is a bare name, or a trace repeating one claim (asked again once).
    pub const THIN_ANSWER: &str = "thin_answer";
    /// The run stopped because no endpoint could be used ([`super::EndpointUnreachable`]);
    /// the request was not (or no longer) tried.
    pub const UNREACHABLE: &str = "unreachable";
    /// Not sent: the run's `max_requests` were used up (a rerun resumes from the cache).
    pub const OVER_LIMIT: &str = "over_limit";
}

/// Connection failures in a row (refused, DNS), after the server has answered once, that stop
/// a run. Before the first answer one is enough: nothing suggests the server is there.
pub const UNREACHABLE_AFTER: usize = 8;

/// No endpoint could be used: the run stopped instead of retrying every request. Replies
/// cached before it stopped stay in the cache, so a rerun resumes from them.
#[derive(Debug)]
pub struct EndpointUnreachable {
    pub base_url: String,
    /// What went wrong: the innermost error of the first failed connection (e.g. `Connection
    /// refused`), or what the server said when it refused every request.
    pub detail: String,
    /// The server answered but could not be used (bad key, unknown model, no output format
    /// it takes), rather than not answering at all.
    pub refused: bool,
    pub cache_dir: String,
    /// What the run did before it stopped (requests left untried count as `unreachable`).
    pub report: Box<LlmReport>,
}

impl std::fmt::Display for EndpointUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (base_url, detail, cache_dir) = (&self.base_url, &self.detail, &self.cache_dir);
        if self.refused {
            write!(
                f,
                "the LLM endpoint {base_url} answers but cannot be used ({detail}): check \
                 model and api_key_env in [llm] of acdp.toml (or ACDP_LLM_MODEL) against what \
                 the server serves. Replies cached so far stay in {cache_dir}; a rerun resumes \
                 from them"
            )
        } else {
            write!(
                f,
                "cannot connect to the LLM endpoint {base_url} ({detail}): start the server \
                 there, or set base_url in [llm] of acdp.toml (or ACDP_LLM_BASE_URL) to where it \
                 runs. Replies cached so far stay in {cache_dir}; a rerun resumes from them"
            )
        }
    }
}

impl std::error::Error for EndpointUnreachable {}

/// The resolved settings of the generator: `[llm]` of acdp.toml, with the environment's
/// overrides and the API key read.
#[derive(Clone)]
pub struct LlmConfig {
    /// Up to and including `/v1`, e.g. `http://localhost:8000/v1`; several for a fleet.
    pub base_urls: Vec<String>,
    /// `None` sends no key (local servers).
    pub api_key: Option<String>,
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Requests in flight on each endpoint.
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub output_format: LlmOutputFormat,
    pub reask: bool,
    pub seed: u64,
    pub probe: bool,
    pub questions_per_topic: usize,
    pub judge: LlmJudge,
    /// Jobs that may be sent to a server in this run (cache hits are free); `None`: all.
    pub max_requests: Option<usize>,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_urls", &self.base_urls)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("output_format", &self.output_format)
            .field("reask", &self.reask)
            .field("probe", &self.probe)
            .field("max_requests", &self.max_requests)
            .finish_non_exhaustive()
    }
}

/// Overrides `base_url` of `[llm]` (a comma-separated list for several endpoints).
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
        let urls = env(BASE_URL_ENV)
            .map(|list| BaseUrls::parse_list(&list))
            .filter(|urls| !urls.0.is_empty())
            .unwrap_or_else(|| settings.base_url.clone());
        LlmConfig {
            base_urls: urls
                .0
                .iter()
                .map(|url| url.trim().trim_end_matches('/').to_owned())
                .collect(),
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
            probe: settings.probe,
            questions_per_topic: settings.questions_per_topic,
            judge: settings.judge,
            max_requests: None,
        }
    }

    /// The endpoints, as one line for messages.
    pub fn endpoints_text(&self) -> String {
        self.base_urls.join(", ")
    }
}

/// What a run did: goes into the dataset's stats.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmReport {
    pub model: String,
    /// Jobs given: sample requests to answer plus topics to write questions about.
    pub requests: usize,
    /// Of `requests`, the topics (each may give several samples).
    #[serde(default)]
    pub topics: usize,
    /// Chat completions sent to a server (first tries, retries, re-asks, fallbacks), probes
    /// not included.
    pub http_requests: usize,
    /// Chat completions the capability probes sent.
    #[serde(default)]
    pub probe_requests: usize,
    /// Chat completions read from the cache instead.
    pub cache_hits: usize,
    /// Jobs whose reply gave at least one sample.
    pub successes: usize,
    /// Samples read from the replies (before validation).
    #[serde(default)]
    pub samples: usize,
    /// Jobs that went to a server in this run (not answered from the cache).
    #[serde(default)]
    pub sent: usize,
    /// Questions written about topics and left out, by cause (`uncited`, `thin_answer`);
    /// their topic counts as a success when another question was kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub questions_dropped: BTreeMap<String, usize>,
    /// Jobs (and, after [`keep_valid`], samples) that gave no kept sample, by cause.
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
    /// Times a request fell back to a simpler `response_format` after a refusal.
    pub format_fallbacks: usize,
    /// What the probe learned per endpoint (absent for endpoints never asked).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, Capabilities>,
    /// What the judging pass did, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSummary>,
    /// The first samples dropped by the path-fact check of calls, with what they got wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_fact_problems: Vec<String>,
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
        self.reject_n(cause, 1);
    }

    fn reject_n(&mut self, cause: &str, n: usize) {
        if n > 0 {
            *self.rejected.entry(cause.to_owned()).or_default() += n;
        }
    }

    fn absorb(&mut self, outcome: &Outcome) {
        self.http_requests += outcome.calls.http_requests;
        self.cache_hits += outcome.cache_hits;
        for (cause, n) in &outcome.calls.retries_by_cause {
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
        self.samples += outcome.samples.len();
        for (cause, n) in &outcome.dropped {
            *self
                .questions_dropped
                .entry((*cause).to_owned())
                .or_default() += n;
        }
        match (outcome.samples.is_empty(), &outcome.rejected) {
            (false, _) => self.successes += 1,
            (true, Some(cause)) => self.reject(cause),
            (true, None) if !outcome.dropped.is_empty() => {}
            (true, None) => self.reject(cause::CLIENT_ERROR),
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

/// One request to the model.
#[derive(Clone, Debug)]
pub enum LlmJob {
    /// Answer a question or requirement the offline generator chose.
    Answer(SampleRequest),
    /// Write questions about a topic and answer them.
    Questions(TopicRequest),
    /// Judge a sample's claims against its evidence (the optional second pass); the reply
    /// gives the sample back with its `judgement`.
    Judge(Box<Sample>),
}

impl From<SampleRequest> for LlmJob {
    fn from(request: SampleRequest) -> Self {
        LlmJob::Answer(request)
    }
}

impl From<TopicRequest> for LlmJob {
    fn from(topic: TopicRequest) -> Self {
        LlmJob::Questions(topic)
    }
}

impl LlmJob {
    fn messages(&self, repo: &RepoInfo) -> Vec<Value> {
        let (system, user) = match self {
            LlmJob::Answer(request) => (
                prompt::system_message(&repo.name, request.task, request.language),
                prompt::user_message(request),
            ),
            LlmJob::Questions(topic) => (
                prompt::topic_system_message(&repo.name, topic),
                prompt::topic_user_message(topic),
            ),
            LlmJob::Judge(sample) => (judge::system_message(), judge::user_message(sample)),
        };
        vec![message("system", &system), message("user", &user)]
    }

    /// The most reply tokens this job needs: a small model that loops runs to the limit, so
    /// each kind of reply is capped near its size (never above `max_tokens`).
    fn max_tokens(&self, configured: u32) -> u32 {
        let cap = match self {
            LlmJob::Answer(request) if request.task == acdp_sample::Task::Design => {
                MAX_DESIGN_TOKENS
            }
            LlmJob::Answer(_) => MAX_ANSWER_TOKENS,
            LlmJob::Questions(topic) => {
                MAX_ANSWER_TOKENS.saturating_mul(topic.questions.max(1) as u32)
            }
            LlmJob::Judge(sample) => 64 + 24 * judge::claims(sample).len() as u32,
        };
        cap.min(configured)
    }

    fn schema(&self) -> Value {
        match self {
            LlmJob::Answer(request) => prompt::reply_schema(request),
            LlmJob::Questions(topic) => prompt::topic_schema(topic),
            LlmJob::Judge(sample) => judge::schema(sample),
        }
    }

    /// Reads a reply into samples; for a topic also the written questions dropped, by cause
    /// (citing none of its chunks, thin).
    fn read(
        &self,
        content: &str,
        generator: &GeneratorInfo,
        repo: &RepoInfo,
    ) -> Result<(Vec<Sample>, Dropped), reply::ReplyError> {
        match self {
            LlmJob::Answer(request) => {
                let (body, trace) = reply::parse_reply(content, request.task, &request.prompt)?;
                let sample = request
                    .clone()
                    .into_sample(body, trace, generator.clone(), repo);
                Ok((vec![sample], BTreeMap::new()))
            }
            LlmJob::Questions(topic) => {
                let mut dropped = BTreeMap::new();
                let mut samples = Vec::new();
                let mut thin = None;
                for q in reply::parse_questions(content)? {
                    if let Some(problem) = reply::thin_problem(&q.answer, &q.trace) {
                        *dropped.entry(cause::THIN_ANSWER).or_default() += 1;
                        thin = Some(problem);
                        continue;
                    }
                    match topic.sample(&q.question, &q.answer, q.trace, generator.clone(), repo) {
                        Some(sample) => samples.push(sample),
                        None => *dropped.entry(cause::UNCITED).or_default() += 1,
                    }
                }
                if let (true, Some(problem)) = (samples.is_empty(), thin) {
                    // Nothing usable, and asking again may help.
                    return Err(reply::ReplyError::Thin(problem));
                }
                Ok((samples, dropped))
            }
            LlmJob::Judge(sample) => {
                let model = generator.model.as_deref().unwrap_or_default();
                Ok((vec![judge::read(content, sample, model)?], BTreeMap::new()))
            }
        }
    }
}

/// Written questions left out of a topic's reply, by cause.
type Dropped = BTreeMap<&'static str, usize>;

/// A chat message as the API takes it.
fn message(role: &str, content: &str) -> Value {
    json!({"role": role, "content": content})
}

/// What one chat completion asks for.
struct Chat<'a> {
    messages: &'a [Value],
    format: LlmOutputFormat,
    schema: &'a Value,
    temperature: f32,
    max_tokens: u32,
    seed: u64,
}

// `max_tokens` and `seed` are deprecated by OpenAI in favour of `max_completion_tokens`, but
// they are what every OpenAI-compatible server (vLLM, Ollama, llama.cpp) reads.
/// The request body exactly as sent (and hashed for the cache).
fn chat_body(model: &str, chat: Chat<'_>) -> Value {
    let mut body = json!({
        "model": model,
        "messages": chat.messages,
        "temperature": chat.temperature,
        "max_tokens": chat.max_tokens,
        "seed": chat.seed,
    });
    let response_format = match chat.format {
        LlmOutputFormat::JsonSchema => Some(json!({
            "type": "json_schema",
            "json_schema": {"name": "acdp_sample", "schema": chat.schema, "strict": true},
        })),
        LlmOutputFormat::JsonObjectSchema => {
            Some(json!({"type": "json_object", "schema": chat.schema}))
        }
        LlmOutputFormat::JsonObject => Some(json!({"type": "json_object"})),
        LlmOutputFormat::Text => None,
    };
    if let Some(format) = response_format {
        body["response_format"] = format;
    }
    body
}

/// Runs every job through the endpoints in `config`, caching replies under `cache_dir`.
/// Samples come back in job order; jobs that gave none are counted in the report by cause.
/// The samples are not yet validated: see [`keep_valid`]. Fails only when no endpoint could
/// be used ([`EndpointUnreachable`]).
pub async fn generate_with_llm<J: Into<LlmJob>>(
    jobs: Vec<J>,
    config: &LlmConfig,
    cache_dir: &Path,
    repo: &RepoInfo,
) -> Result<(Vec<Sample>, LlmReport), EndpointUnreachable> {
    generate_with_llm_observed(jobs, config, cache_dir, repo, &|_, _| {}).await
}

/// As [`generate_with_llm`], calling `on_done(done, total)` each time a job ends (for progress
/// reports). Dropping the future stops the run: requests in flight are abandoned, replies
/// already cached stay cached.
pub async fn generate_with_llm_observed<J: Into<LlmJob>>(
    jobs: Vec<J>,
    config: &LlmConfig,
    cache_dir: &Path,
    repo: &RepoInfo,
    on_done: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Vec<Sample>, LlmReport), EndpointUnreachable> {
    let started = Instant::now();
    let jobs: Vec<LlmJob> = jobs.into_iter().map(Into::into).collect();
    let mut report = LlmReport {
        model: config.model.clone(),
        requests: jobs.len(),
        topics: jobs
            .iter()
            .filter(|j| matches!(j, LlmJob::Questions(_)))
            .count(),
        ..LlmReport::default()
    };
    let context = Context {
        pool: Pool::new(config),
        config,
        cache: ResponseCache::new(cache_dir),
        repo,
        generator: llm_generator(&config.model),
        sent: AtomicUsize::new(0),
        probe_requests: AtomicUsize::new(0),
    };
    let (done, total) = (AtomicUsize::new(0), jobs.len());
    let mut outcomes: Vec<(usize, Outcome)> = futures::stream::iter(jobs.into_iter().enumerate())
        .map(|(position, job)| {
            let context = &context;
            async move { (position, context.run(job).await) }
        })
        .buffer_unordered(Pool::capacity(config))
        .inspect(|_| on_done(done.fetch_add(1, Ordering::Relaxed) + 1, total))
        .collect()
        .await;
    outcomes.sort_by_key(|(position, _)| *position);
    let mut samples = Vec::new();
    for (_, outcome) in outcomes {
        report.absorb(&outcome);
        samples.extend(outcome.samples);
    }
    for endpoint in &context.pool.endpoints {
        if let Some(Some(capabilities)) = endpoint.capabilities.get() {
            report
                .endpoints
                .insert(endpoint.base_url.clone(), capabilities.clone());
        }
    }
    report.probe_requests = context.probe_requests.load(Ordering::Relaxed);
    report.sent = context
        .sent
        .load(Ordering::Relaxed)
        .min(config.max_requests.unwrap_or(usize::MAX));
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if context.pool.all_down() {
        let first = context
            .pool
            .endpoints
            .iter()
            .find_map(|e| e.down())
            .cloned();
        let (detail, refused) = match first {
            Some(Down::Unreachable(detail)) => (detail, false),
            Some(Down::Unusable(detail)) => (detail, true),
            None => (String::new(), false),
        };
        return Err(EndpointUnreachable {
            base_url: config.endpoints_text(),
            detail,
            refused,
            cache_dir: cache_dir.display().to_string(),
            report: Box::new(report),
        });
    }
    Ok((samples, report))
}

/// What a run would cost, known before it runs (`acdp pipeline --llm --dry-run`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LlmPlan {
    pub model: String,
    pub endpoints: Vec<String>,
    /// Jobs: sample requests to answer plus topics.
    pub jobs: usize,
    pub topics: usize,
    /// Jobs whose first reply is in the cache already (free).
    pub cached: usize,
    /// Jobs that would be sent (after `max_requests`).
    pub to_send: usize,
    /// Prompt tokens of the jobs to send (first asks; re-asks and probes not included).
    pub prompt_tokens: u64,
    /// Whether `prompt_tokens` was counted with the model's tokenizer (else estimated at four
    /// bytes per token).
    pub prompt_tokens_counted: bool,
    /// A rough estimate of the reply tokens: typical reply sizes per kind of job, capped by
    /// `max_tokens`.
    pub completion_tokens_estimate: u64,
}

/// Reply limits per job (under `max_tokens`): an answer with its trace, a design. Replies of
/// real models are far below; Qwen2.5-Coder-0.5B looping on one claim reached 2,048 tokens in
/// 4 of 45 replies and spent half the run's time there.
const MAX_ANSWER_TOKENS: u32 = 768;
const MAX_DESIGN_TOKENS: u32 = 2048;

/// Typical reply sizes, in tokens, for the estimate of a plan: an answer with its trace, a
/// design, one written question with answer and trace.
const TYPICAL_ANSWER_TOKENS: u64 = 300;
const TYPICAL_DESIGN_TOKENS: u64 = 700;
const TYPICAL_QUESTION_TOKENS: u64 = 300;

/// Counts what `jobs` would cost against `config` with the cache in `cache_dir`, without
/// sending anything. `count_tokens` counts a text's tokens with the model's tokenizer; without
/// it the count is estimated.
pub fn plan<J: Into<LlmJob>>(
    jobs: Vec<J>,
    config: &LlmConfig,
    cache_dir: &Path,
    repo: &RepoInfo,
    count_tokens: Option<&dyn Fn(&str) -> usize>,
) -> LlmPlan {
    let cache = ResponseCache::new(cache_dir);
    let mut plan = LlmPlan {
        model: config.model.clone(),
        endpoints: config.base_urls.clone(),
        prompt_tokens_counted: count_tokens.is_some(),
        ..LlmPlan::default()
    };
    for job in jobs.into_iter().map(Into::into) {
        plan.jobs += 1;
        let messages = job.messages(repo);
        let schema = job.schema();
        let cached = (format_rank(config.output_format)..=TEXT_RANK).any(|rank| {
            let body = chat_body(
                &config.model,
                Chat {
                    messages: &messages,
                    format: format_of_rank(rank),
                    schema: &schema,
                    temperature: config.temperature,
                    max_tokens: job.max_tokens(config.max_tokens),
                    seed: config.seed,
                },
            );
            serde_json::to_vec(&body).is_ok_and(|bytes| cache.get(&request_key(&bytes)).is_some())
        });
        let typical = match &job {
            LlmJob::Answer(request) if request.task == acdp_sample::Task::Design => {
                TYPICAL_DESIGN_TOKENS
            }
            LlmJob::Answer(_) => TYPICAL_ANSWER_TOKENS,
            LlmJob::Questions(topic) => {
                plan.topics += 1;
                TYPICAL_QUESTION_TOKENS * topic.questions.max(1) as u64
            }
            LlmJob::Judge(sample) => 12 * judge::claims(sample).len() as u64,
        };
        if cached {
            plan.cached += 1;
            continue;
        }
        if config
            .max_requests
            .is_some_and(|limit| plan.to_send >= limit)
        {
            continue;
        }
        plan.to_send += 1;
        let text: String = messages
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
        plan.prompt_tokens += match count_tokens {
            Some(count) => count(&text) as u64,
            None => text.len().div_ceil(4) as u64,
        };
        plan.completion_tokens_estimate +=
            typical.min(u64::from(job.max_tokens(config.max_tokens)));
    }
    plan
}

/// Drops samples whose claims about calls contradict the analysis' path facts
/// ([`super::claims`]); counts them in `report` (`path_facts`) with the first problems found.
pub fn drop_unfaithful_calls(
    samples: Vec<Sample>,
    analysis: &Analysis,
    report: &mut LlmReport,
) -> Vec<Sample> {
    samples
        .into_iter()
        .filter(|sample| {
            let problems = claim_problems(sample, analysis);
            if problems.is_empty() {
                return true;
            }
            report.reject(cause::PATH_FACTS);
            for problem in problems {
                if report.path_fact_problems.len() < MAX_PROBLEMS_KEPT {
                    report
                        .path_fact_problems
                        .push(format!("{}: {problem}", sample.sample_id));
                }
            }
            false
        })
        .collect()
}

/// What the judging pass did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeSummary {
    /// Samples sent to be judged.
    pub samples: usize,
    /// Samples that got a verdict (the others keep none).
    pub judged: usize,
    /// Verdicts with at least one unsupported claim.
    pub unsupported: usize,
    /// Samples left out for it (`judge = "filter"`).
    pub dropped: usize,
    /// Judge requests that gave no verdict, by cause.
    pub failed: BTreeMap<String, usize>,
    pub http_requests: usize,
    pub cache_hits: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The second pass: asks the model to judge every sample's claims against its evidence, stores
/// the verdicts in the samples and, with [`LlmJudge::Filter`], leaves out those judged
/// unsupported. A sample whose judging failed keeps no verdict and is kept. Counts go to
/// `report.judge`.
pub async fn judge_samples(
    samples: Vec<Sample>,
    config: &LlmConfig,
    cache_dir: &Path,
    repo: &RepoInfo,
    report: &mut LlmReport,
) -> Result<Vec<Sample>, EndpointUnreachable> {
    if config.judge == LlmJudge::Off || samples.is_empty() {
        return Ok(samples);
    }
    let mut judging = config.clone();
    judging.temperature = 0.0;
    let jobs: Vec<LlmJob> = samples
        .iter()
        .map(|s| LlmJob::Judge(Box::new(s.clone())))
        .collect();
    let (judged, run) = generate_with_llm(jobs, &judging, cache_dir, repo).await?;
    let mut by_id: std::collections::HashMap<String, Sample> = judged
        .into_iter()
        .map(|s| (s.sample_id.clone(), s))
        .collect();
    let mut summary = JudgeSummary {
        samples: samples.len(),
        judged: by_id.len(),
        failed: run.rejected.clone(),
        http_requests: run.http_requests,
        cache_hits: run.cache_hits,
        prompt_tokens: run.prompt_tokens,
        completion_tokens: run.completion_tokens,
        ..JudgeSummary::default()
    };
    let mut kept = Vec::with_capacity(samples.len());
    for sample in samples {
        let sample = by_id.remove(&sample.sample_id).unwrap_or(sample);
        let unsupported = sample.judgement.as_ref().is_some_and(|j| !j.supported);
        summary.unsupported += usize::from(unsupported);
        if unsupported && config.judge == LlmJudge::Filter {
            summary.dropped += 1;
            continue;
        }
        kept.push(sample);
    }
    report.judge = Some(summary);
    Ok(kept)
}

/// Path-fact problems kept in a report as examples.
const MAX_PROBLEMS_KEPT: usize = 20;

/// Validates samples against the index with `dataset::validate` and their claims about calls
/// against the analysis' path facts ([`super::claims`]), keeps those that pass and counts the
/// others in `report` (causes `validation` and `path_facts`, and per failed check).
pub fn keep_valid(
    samples: Vec<Sample>,
    index: &WorkspaceIndex,
    analysis: Option<&Analysis>,
    options: &ValidationOptions<'_>,
    report: &mut LlmReport,
) -> (Vec<Sample>, Vec<ValidationReport>) {
    let mut kept = Vec::with_capacity(samples.len());
    let mut rejected = Vec::new();
    for sample in samples {
        let validation = validate_sample(&sample, index, options);
        if !validation.passed {
            report.reject(cause::VALIDATION);
            for check in validation.checks.iter().filter(|c| !c.passed) {
                *report
                    .validation_failures
                    .entry(check.check.to_owned())
                    .or_default() += 1;
            }
            rejected.push(validation);
            continue;
        }
        kept.push(sample);
    }
    if let Some(analysis) = analysis {
        kept = drop_unfaithful_calls(kept, analysis, report);
    }
    *report.kept.get_or_insert(0) += kept.len();
    (kept, rejected)
}

/// What happened to one job.
#[derive(Default)]
struct Outcome {
    samples: Vec<Sample>,
    /// Written questions dropped (citing none of the topic's chunks, thin).
    dropped: Dropped,
    rejected: Option<String>,
    calls: CallStats,
    cache_hits: usize,
    reasks: usize,
    recovered_by_reask: bool,
    format_fallbacks: usize,
    cache_write_errors: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl Outcome {
    fn reject(mut self, cause: &str) -> Outcome {
        self.rejected = Some(cause.to_owned());
        self
    }
}

struct Context<'a> {
    pool: Pool,
    config: &'a LlmConfig,
    cache: ResponseCache,
    repo: &'a RepoInfo,
    generator: GeneratorInfo,
    /// Jobs that have gone to a server in this run (against `max_requests`).
    sent: AtomicUsize,
    /// Requests the capability probes sent.
    probe_requests: AtomicUsize,
}

fn format_rank(format: LlmOutputFormat) -> u8 {
    match format {
        LlmOutputFormat::JsonSchema => 0,
        LlmOutputFormat::JsonObjectSchema => 1,
        LlmOutputFormat::JsonObject => 2,
        LlmOutputFormat::Text => 3,
    }
}

fn format_of_rank(rank: u8) -> LlmOutputFormat {
    match rank {
        0 => LlmOutputFormat::JsonSchema,
        1 => LlmOutputFormat::JsonObjectSchema,
        2 => LlmOutputFormat::JsonObject,
        _ => LlmOutputFormat::Text,
    }
}

const TEXT_RANK: u8 = 3;

/// Whether a refusal is about the output format: it names `response_format`, a schema or a
/// grammar.
fn names_format(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["response_format", "schema", "grammar", "json"]
        .iter()
        .any(|word| message.contains(word))
}

/// Failures that say more about the endpoint than about the request.
fn is_endpoint_fault(cause: &str) -> bool {
    [
        cause::UNREACHABLE,
        cause::CONNECTION,
        cause::TIMEOUT,
        cause::HTTP_5XX,
        cause::HTTP_429,
    ]
    .contains(&cause)
}

/// The endpoint a job holds once it needs a server, with its slot.
type Held<'p> = (&'p Endpoint, OwnedSemaphorePermit);

impl Context<'_> {
    /// One job: the request, fallbacks of the output format, one re-ask.
    async fn run(&self, job: LlmJob) -> Outcome {
        let mut outcome = Outcome::default();
        let schema = job.schema();
        let max_tokens = job.max_tokens(self.config.max_tokens);
        let mut messages = job.messages(self.repo);
        let mut rank = format_rank(self.config.output_format);
        let mut held: Option<Held<'_>> = None;
        // Counted against `max_requests` once, however many endpoints it tries.
        let mut counted = false;
        // Moves to another endpoint after this one failed it (at most one per other endpoint).
        let mut moves = 0;
        let asks = if self.config.reask { 2 } else { 1 };
        for ask in 0..asks {
            let reply = loop {
                if let Some((found, reply)) = self.cached(&messages, rank, &schema, max_tokens) {
                    rank = found;
                    outcome.cache_hits += 1;
                    break reply;
                }
                if held.is_none() {
                    if !counted {
                        counted = true;
                        if self.sent.fetch_add(1, Ordering::Relaxed)
                            >= self.config.max_requests.unwrap_or(usize::MAX)
                        {
                            return outcome.reject(cause::OVER_LIMIT);
                        }
                    }
                    held = self.pool.acquire().await;
                }
                let Some((endpoint, _)) = &held else {
                    return outcome.reject(cause::UNREACHABLE);
                };
                let Some(capabilities) = self.capabilities(endpoint).await else {
                    // Taken out by its probe: another endpoint of the list may take the job.
                    held = None;
                    continue;
                };
                rank = rank
                    .max(format_rank(capabilities.response_format))
                    .max(endpoint.format_floor.load(Ordering::Relaxed));
                let body = self.body(&messages, format_of_rank(rank), &schema, max_tokens);
                let key = request_key(&serde_json::to_vec(&body).unwrap_or_default());
                match endpoint
                    .call(&body, &key, self.config, &mut outcome.calls)
                    .await
                {
                    Ok(response) => {
                        let reply = cached_reply(key, response);
                        outcome.prompt_tokens += reply.prompt_tokens;
                        outcome.completion_tokens += reply.completion_tokens;
                        if self.cache.put(&reply).is_err() {
                            outcome.cache_write_errors += 1;
                        }
                        break reply;
                    }
                    // A refusal of the format: the next simpler one. Without a probe every
                    // 400 may be one; after it, only a refusal that names the format or the
                    // schema is (a prompt over the context window is a 400 too).
                    Err(CallError::BadRequest(message))
                        if rank < TEXT_RANK && (!self.config.probe || names_format(&message)) =>
                    {
                        rank += 1;
                        outcome.format_fallbacks += 1;
                        endpoint.format_floor.fetch_max(rank, Ordering::Relaxed);
                    }
                    Err(CallError::BadRequest(_)) => return outcome.reject(cause::BAD_REQUEST),
                    Err(CallError::Failed(cause))
                        if is_endpoint_fault(&cause)
                            && moves + 1 < self.pool.endpoints.len()
                            && self.pool.others_up(endpoint) =>
                    {
                        // This endpoint failed the job (down, timing out, erroring): another
                        // endpoint of the list may answer it.
                        moves += 1;
                        held = None;
                    }
                    Err(CallError::Failed(cause)) => return outcome.reject(&cause),
                }
            };
            match reply.finish_reason.as_deref() {
                Some("length") => return outcome.reject(cause::TRUNCATED),
                Some("content_filter") => return outcome.reject(cause::REFUSED),
                _ => {}
            }
            let content = match reply.content.as_deref() {
                Some(content) if !content.trim().is_empty() => content,
                _ => return outcome.reject(cause::REFUSED),
            };
            match job.read(content, &self.generator, self.repo) {
                Ok((samples, dropped)) => {
                    outcome.recovered_by_reask = ask > 0;
                    outcome.samples = samples;
                    outcome.dropped = dropped;
                    return outcome;
                }
                Err(err) if ask + 1 < asks => {
                    outcome.reasks += 1;
                    messages.push(message("assistant", content));
                    messages.push(message("user", &prompt::reask_message(err.problem())));
                }
                Err(err) => return outcome.reject(err.cause()),
            }
        }
        outcome
    }

    /// What the endpoint takes, probed once per run (or assumed when probing is off);
    /// `None` when the probe found it unusable (it is then taken out of the run).
    async fn capabilities(&self, endpoint: &Endpoint) -> Option<Capabilities> {
        endpoint
            .capabilities
            .get_or_init(|| async {
                if !self.config.probe {
                    return Some(Capabilities::assumed(self.config));
                }
                if let Some(known) = probe::known(&endpoint.base_url, self.config) {
                    return Some(known);
                }
                let mut stats = CallStats::default();
                let probed = probe::probe(endpoint, self.config, &mut stats).await;
                self.probe_requests
                    .fetch_add(stats.http_requests, Ordering::Relaxed);
                match probed {
                    Ok(capabilities) => Some(capabilities),
                    Err(down) => {
                        endpoint.mark_down(down);
                        None
                    }
                }
            })
            .await
            .clone()
    }

    fn body(
        &self,
        messages: &[Value],
        format: LlmOutputFormat,
        schema: &Value,
        max_tokens: u32,
    ) -> Value {
        chat_body(
            &self.config.model,
            Chat {
                messages,
                format,
                schema,
                temperature: self.config.temperature,
                max_tokens,
                seed: self.config.seed,
            },
        )
    }

    /// A cached reply to these messages in format `rank` or a simpler one (an earlier run may
    /// have fallen back), with the format it was found in.
    fn cached(
        &self,
        messages: &[Value],
        rank: u8,
        schema: &Value,
        max_tokens: u32,
    ) -> Option<(u8, CachedReply)> {
        (rank..=TEXT_RANK).find_map(|rank| {
            let body = self.body(messages, format_of_rank(rank), schema, max_tokens);
            let key = request_key(&serde_json::to_vec(&body).ok()?);
            self.cache.get(&key).map(|reply| (rank, reply))
        })
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
        assert_eq!(config.base_urls, ["http://127.0.0.1:11434/v1"]);
        assert_eq!(config.model, "qwen2.5:7b");
        assert_eq!(config.api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{config:?}").contains("sk-secret"));

        let plain = LlmConfig::from_settings_with_env(&settings, |_| Some(" ".to_owned()));
        assert_eq!(plain.base_urls, settings.base_url.0);
        assert_eq!(plain.model, settings.model);
        assert_eq!(plain.api_key, None);
    }

    #[test]
    fn format_ranks_round_trip() {
        for format in [
            LlmOutputFormat::JsonSchema,
            LlmOutputFormat::JsonObjectSchema,
            LlmOutputFormat::JsonObject,
            LlmOutputFormat::Text,
        ] {
            assert_eq!(format_of_rank(format_rank(format)), format);
        }
    }
}
