//! The servers a run talks to: one [`Endpoint`] per base URL, each with its own client, its
//! own slots (`concurrency` requests in flight), what its probe learned, and whether it is
//! judged down; and the [`Pool`] that hands requests to them round-robin.
//!
//! A call to one endpoint is retried by the policy of `retry`; a failure to connect at all
//! counts towards judging the endpoint down (at once before it has answered in this run,
//! after [`super::UNREACHABLE_AFTER`] in a row once it has). A run stops when every endpoint is
//! down; until then requests go to the endpoints still up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::CreateChatCompletionResponse;
use serde_json::Value;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use super::probe::Capabilities;
use super::retry::{CallFailure, backoff_delay};
use super::{LlmConfig, UNREACHABLE_AFTER, cause};

/// Why an endpoint stopped taking requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Down {
    /// No connection could be made; the innermost error, e.g. `Connection refused`.
    Unreachable(String),
    /// It answers, but refuses what every request needs (a bad key, an unknown model, every
    /// output format): what it said.
    Unusable(String),
}

/// Why a call gave no reply.
pub enum CallError {
    /// 400/422, or a 5xx that is a validation error: the server may not take this
    /// `response_format`.
    BadRequest(String),
    /// Retries exhausted or not worth retrying; the cause for the report.
    Failed(String),
}

/// Counts of one request's calls, merged into the run's report.
#[derive(Default)]
pub struct CallStats {
    pub http_requests: usize,
    pub retries_by_cause: BTreeMap<&'static str, usize>,
}

pub struct Endpoint {
    pub base_url: String,
    client: Client<OpenAIConfig>,
    slots: Arc<Semaphore>,
    /// What the probe learned (or the configured format when probing is off); set once.
    pub capabilities: OnceCell<Option<Capabilities>>,
    /// The strongest output format not yet known to be refused here; raised (weakened) when a
    /// request had to fall back, so later requests do not pay for the refusal again.
    pub format_floor: AtomicU8,
    /// Whether the server has sent any HTTP response in this run.
    answered: AtomicBool,
    /// Connection failures since the last HTTP response.
    connection_failures: AtomicUsize,
    down: OnceLock<Down>,
}

impl Endpoint {
    fn new(base_url: &str, config: &LlmConfig) -> Endpoint {
        let openai = OpenAIConfig::new()
            .with_api_base(base_url.to_owned())
            .with_api_key(config.api_key.clone().unwrap_or_default())
            .with_org_id("")
            .with_project_id("");
        // async-openai's default executor retries 429/5xx on its own (3 times, fixed policy);
        // the plain reqwest service leaves every retry to this module, so they are counted and
        // follow the configured policy.
        let client = Client::with_config(openai).with_http_service(ReqwestService::default());
        Endpoint {
            base_url: base_url.to_owned(),
            client,
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            capabilities: OnceCell::new(),
            format_floor: AtomicU8::new(0),
            answered: AtomicBool::new(false),
            connection_failures: AtomicUsize::new(0),
            down: OnceLock::new(),
        }
    }

    pub fn down(&self) -> Option<&Down> {
        self.down.get()
    }

    /// Takes the endpoint out of the run (the first reason given is kept).
    pub fn mark_down(&self, why: Down) {
        let _ = self.down.set(why);
    }

    /// Counts a failed connection; whether the endpoint is now judged down.
    fn connection_failed(&self, detail: String) -> bool {
        let in_a_row = self.connection_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if self.answered.load(Ordering::Relaxed) && in_a_row < UNREACHABLE_AFTER {
            return false;
        }
        self.mark_down(Down::Unreachable(detail));
        true
    }

    /// Sends one chat completion body, retrying by the policy; `key` seeds the jitter.
    pub async fn call(
        &self,
        body: &Value,
        key: &str,
        config: &LlmConfig,
        stats: &mut CallStats,
    ) -> Result<CreateChatCompletionResponse, CallError> {
        let mut retry = 0;
        loop {
            if self.down().is_some() {
                return Err(CallError::Failed(cause::UNREACHABLE.to_owned()));
            }
            stats.http_requests += 1;
            let sent: Result<Result<CreateChatCompletionResponse, OpenAIError>, _> =
                tokio::time::timeout(config.timeout, self.client.chat().create_byot(body)).await;
            if let Ok(Ok(_) | Err(OpenAIError::ApiError(_))) = &sent {
                self.answered.store(true, Ordering::Relaxed);
                self.connection_failures.store(0, Ordering::Relaxed);
            }
            let failure = match sent {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(error)) => CallFailure::from_error(&error),
                Err(_elapsed) => CallFailure::Transient(cause::TIMEOUT),
            };
            let retryable = match failure {
                CallFailure::Transient(cause) => cause,
                CallFailure::Unreachable(detail) => {
                    if self.connection_failed(detail) {
                        return Err(CallError::Failed(cause::UNREACHABLE.to_owned()));
                    }
                    cause::CONNECTION
                }
                CallFailure::BadRequest(_, message) => return Err(CallError::BadRequest(message)),
                CallFailure::Permanent(cause) => return Err(CallError::Failed(cause)),
            };
            if retry >= config.max_retries {
                return Err(CallError::Failed(retryable.to_owned()));
            }
            *stats.retries_by_cause.entry(retryable).or_default() += 1;
            let delay = backoff_delay(
                config.backoff_base,
                config.backoff_max,
                retry,
                config.seed,
                key,
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }
}

/// The endpoints of a run, handed out round-robin to requests with a free slot.
pub struct Pool {
    pub endpoints: Vec<Endpoint>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(config: &LlmConfig) -> Pool {
        Pool {
            endpoints: config
                .base_urls
                .iter()
                .map(|url| Endpoint::new(url, config))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Requests the run may have in flight: the slots of all endpoints.
    pub fn capacity(config: &LlmConfig) -> usize {
        config.concurrency.max(1) * config.base_urls.len().max(1)
    }

    /// Whether an endpoint other than `this` is up.
    pub fn others_up(&self, this: &Endpoint) -> bool {
        self.endpoints
            .iter()
            .any(|e| !std::ptr::eq(e, this) && e.down().is_none())
    }

    pub fn all_down(&self) -> bool {
        self.endpoints.iter().all(|e| e.down().is_some())
    }

    /// An endpoint that is up, with one of its slots held until the permit drops: the next in
    /// turn with a free slot, else the first that frees one. `None` when all are down.
    pub async fn acquire(&self) -> Option<(&Endpoint, OwnedSemaphorePermit)> {
        let count = self.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        loop {
            for offset in 0..count {
                let endpoint = &self.endpoints[(start + offset) % count];
                if endpoint.down().is_some() {
                    continue;
                }
                if let Ok(permit) = endpoint.slots.clone().try_acquire_owned() {
                    return Some((endpoint, permit));
                }
            }
            let waiting: Vec<_> = self
                .endpoints
                .iter()
                .filter(|e| e.down().is_none())
                .map(|e| Box::pin(async move { (e, e.slots.clone().acquire_owned().await.ok()) }))
                .collect();
            if waiting.is_empty() {
                return None;
            }
            let ((endpoint, permit), _, _) = futures::future::select_all(waiting).await;
            if let Some(permit) = permit
                && endpoint.down().is_none()
            {
                return Some((endpoint, permit));
            }
        }
    }
}
