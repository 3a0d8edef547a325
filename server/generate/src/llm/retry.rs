//! The retry policy: which failures of a chat call are worth another try, and how long to
//! wait before it.
//!
//! Retried: 429, 5xx, timeouts (ours or the server's 408) and transport errors (a connection
//! reset, a body cut off), except a 5xx whose body is a request validation error (llama.cpp's
//! Python server answers a `response_format` it does not know with 500 and a pydantic
//! validation message): asking again gives the same error, so it is told apart with the 400s
//! and 422s. A failure to connect at all (refused, DNS) is told apart: the caller
//! stops the run when the endpoint looks down rather than retrying every request. Not retried: any other 4xx, whose cause (a bad key, an
//! unknown model, a prompt over the context window) does not go away by asking again; 400
//! and 422 on a structured-output request are reported apart so the caller can fall back to
//! a simpler `response_format`. Waits double per retry up to a cap, with jitter derived from
//! the seed and the request, so two runs wait the same.

use std::time::Duration;

use async_openai::error::OpenAIError;

use super::cause;

/// What went wrong with one chat call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallFailure {
    /// Worth another try; the cause names it in reports.
    Transient(&'static str),
    /// No connection could be made (refused, DNS failure): the endpoint may be down. Holds
    /// the innermost error, e.g. `Connection refused (os error 111)`.
    Unreachable(String),
    /// The server rejected the request itself (400 or 422): maybe the `response_format`.
    BadRequest(u16, String),
    /// Not worth another try: `http_<status>` or `malformed_response`.
    Permanent(String),
}

impl CallFailure {
    pub fn from_error(error: &OpenAIError) -> CallFailure {
        match error {
            OpenAIError::ApiError(response) => {
                let status = response.status_code.as_u16();
                match status {
                    429 => CallFailure::Transient(cause::HTTP_429),
                    408 => CallFailure::Transient(cause::TIMEOUT),
                    500..=599 if is_validation_refusal(&response.api_error.message) => {
                        CallFailure::BadRequest(status, response.api_error.message.clone())
                    }
                    500..=599 => CallFailure::Transient(cause::HTTP_5XX),
                    400 | 422 => {
                        CallFailure::BadRequest(status, response.api_error.message.clone())
                    }
                    _ => CallFailure::Permanent(format!("http_{status}")),
                }
            }
            OpenAIError::Reqwest(err) if err.is_timeout() => CallFailure::Transient(cause::TIMEOUT),
            OpenAIError::Reqwest(err) if err.is_connect() => {
                let mut innermost: &dyn std::error::Error = err;
                while let Some(source) = innermost.source() {
                    innermost = source;
                }
                CallFailure::Unreachable(innermost.to_string())
            }
            OpenAIError::Reqwest(err) => match err.status() {
                Some(status) if status.is_client_error() && status.as_u16() != 429 => {
                    CallFailure::Permanent(format!("http_{}", status.as_u16()))
                }
                _ => CallFailure::Transient(cause::CONNECTION),
            },
            // A 200 whose body is not a chat completion, or an error body that is not JSON.
            OpenAIError::JSONDeserialize(..) => {
                CallFailure::Permanent(cause::MALFORMED_RESPONSE.to_owned())
            }
            _ => CallFailure::Permanent(cause::CLIENT_ERROR.to_owned()),
        }
    }
}

/// Whether an error message says the request itself was invalid (a validation error, or one
/// naming `response_format`) rather than that the server failed to answer it.
fn is_validation_refusal(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("response_format") || message.contains("validation error")
}

/// The wait before retry number `retry` (0 for the first retry) of the request with `key`:
/// `base * 2^retry`, capped at `max`, then scaled into its upper half by a jitter that is a
/// function of `seed`, `key` and `retry` (so concurrent requests spread out, yet two runs
/// wait the same).
pub fn backoff_delay(base: Duration, max: Duration, retry: u32, seed: u64, key: &str) -> Duration {
    let exponential = base.saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
    let capped = exponential.min(max);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(key.as_bytes());
    hasher.update(&retry.to_le_bytes());
    let bytes = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    let fraction = (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    capped.mul_f64(0.5 + 0.5 * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_is_a_refusal_and_a_plain_500_is_transient() {
        // The body llama-cpp-python 0.3.36 sends for `{"type": "json_schema"}`.
        let llama_cpp = "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', \
            'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}";
        assert!(is_validation_refusal(llama_cpp));
        assert!(is_validation_refusal(
            "Response_format json_schema is not supported"
        ));
        assert!(!is_validation_refusal("CUDA out of memory"));
        assert!(!is_validation_refusal(""));
    }

    #[test]
    fn delays_grow_are_capped_and_repeat() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        let delays: Vec<_> = (0..8)
            .map(|r| backoff_delay(base, max, r, 7, "k"))
            .collect();
        for (retry, delay) in delays.iter().enumerate() {
            let full = (base * 2u32.pow(retry as u32)).min(max);
            assert!(*delay >= full / 2 && *delay <= full, "{retry}: {delay:?}");
        }
        assert_eq!(delays[7], backoff_delay(base, max, 7, 7, "k"));
        assert_ne!(
            backoff_delay(base, max, 3, 7, "k"),
            backoff_delay(base, max, 3, 7, "other")
        );
        assert!(backoff_delay(base, max, 200, 7, "k") <= max);
    }
}
