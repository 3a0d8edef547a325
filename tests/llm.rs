//! The LLM generator against a fake OpenAI-compatible server written here: every fault an
//! endpoint can show (429, 5xx, timeouts, refused connections, malformed JSON, truncated
//! replies, wrong schema, citations of unknown chunks, no json_schema support) is retried or
//! rejected and counted, only valid samples come out, and a rerun reads the cache instead of
//! asking again (counted on the server's side).

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{copy_dir, fixture};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acdp::config::{LlmOutputFormat, LlmSettings};
use acdp::dataset::sample::{
    Evidence, RepoInfo, Sample, SampleBody, SampleLanguage, SampleSource, Task,
};
use acdp::dataset::{ValidationOptions, validate_sample};
use acdp::generate::SampleRequest;
use acdp::generate::llm::{LlmConfig, LlmReport, generate_with_llm, keep_valid};
use acdp::index::{ChunkKind, IndexOptions, WorkspaceIndex, index_workspace};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// The fake server

/// What the server answers to one request.
struct Reply {
    status: u16,
    body: String,
    /// Waits this long before answering (longer than the client's timeout: a timeout).
    delay: Duration,
    /// Sends only this many bytes of the body, then closes (a reply cut off in transit).
    cut_at: Option<usize>,
}

/// Answers a request body, given how many requests of the same scenario came before.
type Script = Arc<dyn Fn(&Value, usize) -> Reply + Send + Sync>;

#[derive(Default)]
struct Seen {
    bodies: Vec<Value>,
    attempts: HashMap<String, usize>,
}

struct FakeServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl FakeServer {
    async fn start(script: Script) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, script) = (shared.clone(), script.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, seen, script).await;
                });
            }
        });
        FakeServer { addr, seen }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Chat completion requests received so far.
    fn requests(&self) -> usize {
        self.seen.lock().unwrap().bodies.len()
    }

    fn bodies(&self) -> Vec<Value> {
        self.seen.lock().unwrap().bodies.clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    seen: Arc<Mutex<Seen>>,
    script: Script,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let header_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let reply = if head.starts_with("post /v1/chat/completions ") {
        let body: Value = serde_json::from_slice(&buf[header_end..header_end + length])
            .expect("the client sends JSON");
        let attempt = {
            let mut seen = seen.lock().unwrap();
            seen.bodies.push(body.clone());
            let count = seen.attempts.entry(scenario_of(&body)).or_default();
            *count += 1;
            *count - 1
        };
        script(&body, attempt)
    } else {
        error(404)
    };
    tokio::time::sleep(reply.delay).await;
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    };
    let sent = &reply.body[..reply.cut_at.unwrap_or(reply.body.len())];
    let response = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{sent}",
        reply.status,
        reply.body.len(),
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The text of the request's first user message.
fn user_text(body: &Value) -> String {
    let content = &body["messages"][1]["content"];
    content
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| content.to_string())
}

/// The `[[scenario:NAME]]` tag in the question.
fn scenario_of(body: &Value) -> String {
    let text = user_text(body);
    text.split("[[scenario:")
        .nth(1)
        .and_then(|rest| rest.split("]]").next())
        .unwrap_or("none")
        .to_owned()
}

/// Whether the request is a re-ask (the first reply and a correction follow the question).
fn is_reask(body: &Value) -> bool {
    body["messages"].as_array().is_some_and(|m| m.len() > 2)
}

fn completion(content: &str, finish_reason: &str) -> Reply {
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
        }],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    });
    Reply {
        status: 200,
        body: body.to_string(),
        delay: Duration::ZERO,
        cut_at: None,
    }
}

fn error(status: u16) -> Reply {
    let body = json!({"error": {"message": format!("scripted {status}"), "type": "fake",
        "param": null, "code": null}});
    Reply {
        status,
        body: body.to_string(),
        delay: Duration::ZERO,
        cut_at: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Requests over fixtures/shop

/// A temporary copy of fixtures/shop, indexed.
fn shop_index(work: &Path) -> WorkspaceIndex {
    let repo = work.join("shop");
    copy_dir(&fixture("shop"), &repo);
    index_workspace(&repo, &IndexOptions::default()).unwrap()
}

/// Two methods of the order service: the evidence every request cites.
fn evidence(index: &WorkspaceIndex) -> Vec<Evidence> {
    let evidence: Vec<Evidence> = index
        .chunks()
        .filter(|(file, chunk)| {
            file.path.ends_with("OmsPortalOrderServiceImpl.java") && chunk.kind == ChunkKind::Method
        })
        .take(2)
        .map(|(file, chunk)| Evidence::from_chunk(chunk, &file.text))
        .collect();
    assert_eq!(evidence.len(), 2, "fixtures/shop has the order service");
    evidence
}

fn request(
    scenario: &str,
    task: Task,
    language: SampleLanguage,
    evidence: &[Evidence],
) -> SampleRequest {
    let prompt = match task {
        Task::Qa => format!("[[scenario:{scenario}]] What happens when an order is placed?"),
        Task::Design => format!("[[scenario:{scenario}]] Let customers split an order in two."),
    };
    SampleRequest {
        task,
        language,
        domain: "order".to_owned(),
        prompt,
        evidence: evidence.to_vec(),
        source: SampleSource {
            kind: "llm-test".to_owned(),
            twin_key: scenario.to_owned(),
            ..SampleSource::default()
        },
    }
}

/// A grounded QA reply citing both chunks (plain words, no identifiers or numbers to check).
fn qa_reply(first: &str, second: &str) -> String {
    json!({
        "answer": "The service checks the request first and then stores the order.",
        "trace": [
            {"claim": "The first method reads the request and checks it.", "evidence": [first]},
            {"claim": "The second method continues with the stored order.", "evidence": [second]},
        ],
    })
    .to_string()
}

/// A grounded design reply that modifies and reuses the first chunk's method.
fn design_reply(evidence: &[Evidence]) -> String {
    let (a, b) = (&evidence[0], &evidence[1]);
    json!({
        "summary": "Extend the existing order service instead of adding a new one.",
        "components": [{"layer": "service_impl", "component": a.symbol, "action": "modify",
            "description": "Split the items into two orders."}],
        "api_changes": [], "data_changes": [],
        "flow": ["Read the order.", "Create the second order.", "Move the items."],
        "consistency": ["Run both writes in one transaction."],
        "reused": [{"chunk_id": a.chunk_id.as_str(), "symbol": a.symbol, "how": "Called as it is."}],
        "assumptions": ["Only unpaid orders are split."],
        "risks": ["Stock may be counted twice."],
        "trace": [
            {"claim": "The first method is where orders are written.", "evidence": [a.chunk_id.as_str()]},
            {"claim": "The second method follows the first.", "evidence": [b.chunk_id.as_str()]},
            {"claim": "Reusing the first method keeps one write path.", "evidence": [a.chunk_id.as_str()]},
        ],
    })
    .to_string()
}

fn config(server: &str, settings: LlmSettings) -> LlmConfig {
    let mut config = LlmConfig::from_settings_with_env(&settings, |_| None);
    config.base_url = server.to_owned();
    config
}

fn test_settings() -> LlmSettings {
    LlmSettings {
        model: "test-model".to_owned(),
        concurrency: 4,
        timeout_secs: 1,
        max_retries: 3,
        backoff_base_ms: 1,
        backoff_max_ms: 5,
        ..LlmSettings::default()
    }
}

fn repo() -> RepoInfo {
    RepoInfo {
        name: "shop".to_owned(),
        revision: None,
    }
}

fn scenario_of_sample(sample: &Sample) -> String {
    sample
        .body
        .prompt()
        .split("[[scenario:")
        .nth(1)
        .and_then(|rest| rest.split("]]").next())
        .unwrap_or("none")
        .to_owned()
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_or_rejected_counted_and_a_rerun_reads_the_cache() {
    let work = tempfile::tempdir().unwrap();
    let index = shop_index(work.path());
    let evidence = evidence(&index);
    let (a, b) = (
        evidence[0].chunk_id.as_str().to_owned(),
        evidence[1].chunk_id.as_str().to_owned(),
    );
    let valid = qa_reply(&a, &b);
    let design = design_reply(&evidence);
    let unknown = qa_reply(&a, "c000000000000");
    let script: Script = Arc::new(move |body, attempt| {
        let first = attempt == 0;
        match scenario_of(body).as_str() {
            "valid" => completion(&valid, "stop"),
            "design" => completion(&design, "stop"),
            "rate-limited" if first => error(429),
            "server-error" if first => error(500),
            "slow" if first => Reply {
                delay: Duration::from_secs(5),
                ..completion(&valid, "stop")
            },
            "rate-limited" | "server-error" | "slow" => completion(&valid, "stop"),
            "malformed" => completion("Sure! The answer is {\"answer\": \"The service", "stop"),
            "malformed-then-fixed" if !is_reask(body) => {
                completion("I think it stores it.", "stop")
            }
            "malformed-then-fixed" => completion(&valid, "stop"),
            "truncated" => completion(&valid[..valid.len() / 2], "length"),
            "wrong-schema" => completion(r#"{"reply": "It stores the order."}"#, "stop"),
            "unknown-chunk" => completion(&unknown, "stop"),
            "fenced" => completion(
                &format!("Here it is:\n```json\n{valid}\n```\nHope it helps."),
                "stop",
            ),
            other => panic!("unscripted scenario {other}"),
        }
    });
    let server = FakeServer::start(script).await;
    let qa = |name: &str| request(name, Task::Qa, SampleLanguage::En, &evidence);
    let requests = vec![
        qa("valid"),
        request("design", Task::Design, SampleLanguage::Zh, &evidence),
        qa("rate-limited"),
        qa("server-error"),
        qa("slow"),
        qa("malformed"),
        qa("malformed-then-fixed"),
        qa("truncated"),
        qa("wrong-schema"),
        qa("unknown-chunk"),
        qa("fenced"),
    ];
    let cache = work.path().join("llm-cache");
    let config = config(&server.base_url(), test_settings());

    let (samples, mut report) = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect("the server is up");

    // 11 first asks, 3 retries (429, 500, timeout), 3 re-asks (two malformed, one wrong schema).
    assert_eq!(server.requests(), 17);
    assert_eq!(report.requests, 11);
    assert_eq!(report.http_requests, 17);
    assert_eq!(report.cache_hits, 0);
    assert_eq!(report.successes, 8);
    assert_eq!(
        report.rejected,
        counts(&[("malformed_json", 1), ("truncated", 1), ("wrong_schema", 1)])
    );
    assert_eq!(report.retries, 3);
    assert_eq!(
        report.retries_by_cause,
        counts(&[("http_429", 1), ("http_5xx", 1), ("timeout", 1)])
    );
    assert_eq!(report.reasks, 3);
    assert_eq!(report.recovered_by_reask, 1);
    assert_eq!(report.format_fallbacks, 0);
    // 14 completed replies of 100 + 20 tokens each.
    assert_eq!(report.prompt_tokens, 1400);
    assert_eq!(report.completion_tokens, 280);
    assert_eq!(report.model, "test-model");

    // The requests asked for structured output restricted to the evidence's chunk ids, in the
    // request's language.
    let bodies = server.bodies();
    let design_body = bodies.iter().find(|b| scenario_of(b) == "design").unwrap();
    assert_eq!(design_body["model"], "test-model");
    assert_eq!(design_body["response_format"]["type"], "json_schema");
    let ids = &design_body["response_format"]["json_schema"]["schema"]["properties"]["trace"]["items"]
        ["properties"]["evidence"]["items"]["enum"];
    assert_eq!(ids, &json!([a, b]));
    assert!(
        design_body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("简体中文")
    );
    assert!(user_text(design_body).contains(&format!("[{a}]")));

    // Samples in request order, from the generator, carrying the model.
    let produced: Vec<String> = samples.iter().map(scenario_of_sample).collect();
    assert_eq!(
        produced,
        [
            "valid",
            "design",
            "rate-limited",
            "server-error",
            "slow",
            "malformed-then-fixed",
            "unknown-chunk",
            "fenced"
        ]
    );
    for sample in &samples {
        assert_eq!(sample.generator.name, "acdp-llm");
        assert_eq!(sample.generator.model.as_deref(), Some("test-model"));
    }
    let design_sample = &samples[1];
    assert_eq!(design_sample.language, SampleLanguage::Zh);
    match &design_sample.body {
        SampleBody::Design { design, .. } => {
            assert_eq!(design.reused[0].chunk_id.as_str(), a);
            assert_eq!(design.components.len(), 1);
        }
        other => panic!("expected a design, got {other:?}"),
    }

    // Validation keeps everything but the answer that cites an unknown chunk.
    let (kept, rejected) = keep_valid(
        samples.clone(),
        &index,
        &ValidationOptions::default(),
        &mut report,
    );
    let kept_scenarios: BTreeSet<String> = kept.iter().map(scenario_of_sample).collect();
    assert_eq!(
        kept_scenarios,
        [
            "valid",
            "design",
            "rate-limited",
            "server-error",
            "slow",
            "malformed-then-fixed",
            "fenced"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0]
            .checks
            .iter()
            .any(|c| !c.passed && c.check == "trace_cites_evidence")
    );
    assert_eq!(report.kept, Some(7));
    assert_eq!(report.rejected["validation"], 1);
    assert_eq!(report.validation_failures["trace_cites_evidence"], 1);
    // The second chunk is cited by no step once the unknown id replaced it.
    assert_eq!(report.validation_failures["evidence_used"], 1);
    for sample in &kept {
        assert!(validate_sample(sample, &index, &ValidationOptions::default()).passed);
    }
    // The report is what goes into the dataset's stats.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rejected"]["truncated"], 1);
    assert_eq!(serde_json::from_value::<LlmReport>(json).unwrap(), report);

    // A rerun with the same cache asks the server nothing and gives the same samples.
    let (again, rerun) = generate_with_llm(requests, &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(server.requests(), 17, "the rerun sent requests");
    assert_eq!(rerun.http_requests, 0);
    assert_eq!(rerun.cache_hits, 14);
    assert_eq!(rerun.retries, 0);
    assert_eq!(rerun.prompt_tokens, 0);
    assert_eq!(rerun.successes, 8);
    assert_eq!(
        rerun.rejected,
        report
            .rejected
            .iter()
            .filter(|(cause, _)| cause.as_str() != "validation")
            .map(|(k, v)| (k.clone(), *v))
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(again, samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_not_retried_exhausted_retries_give_up_and_neither_is_cached() {
    let work = tempfile::tempdir().unwrap();
    let index = shop_index(work.path());
    let evidence = evidence(&index);
    let script: Script = Arc::new(|body, _| match scenario_of(body).as_str() {
        "unauthorized" => error(401),
        "unavailable" => error(503),
        other => panic!("unscripted scenario {other}"),
    });
    let server = FakeServer::start(script).await;
    let requests = vec![
        request("unauthorized", Task::Qa, SampleLanguage::En, &evidence),
        request("unavailable", Task::Qa, SampleLanguage::En, &evidence),
    ];
    let cache = work.path().join("llm-cache");
    let settings = LlmSettings {
        max_retries: 2,
        ..test_settings()
    };
    let config = config(&server.base_url(), settings.clone());

    let (samples, report) = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert!(samples.is_empty());
    // 401 once; 503 once and twice more.
    assert_eq!(server.requests(), 4);
    assert_eq!(report.rejected, counts(&[("http_401", 1), ("http_5xx", 1)]));
    assert_eq!(report.retries_by_cause, counts(&[("http_5xx", 2)]));

    // Failures are not cached: a rerun tries again.
    let (_, rerun) = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(rerun.cache_hits, 0);
    assert_eq!(server.requests(), 8);
}

/// A `base_url` where nobody listens: a port bound, then released.
async fn closed_url() -> String {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_stops_the_run_at_once_and_the_cache_is_kept() {
    let work = tempfile::tempdir().unwrap();
    let index = shop_index(work.path());
    let evidence = evidence(&index);
    let valid = qa_reply(evidence[0].chunk_id.as_str(), evidence[1].chunk_id.as_str());
    let script: Script = Arc::new(move |_, _| completion(&valid, "stop"));
    let server = FakeServer::start(script).await;
    let requests: Vec<SampleRequest> = (0..10)
        .map(|n| {
            request(
                &format!("valid-{n}"),
                Task::Qa,
                SampleLanguage::En,
                &evidence,
            )
        })
        .collect();
    let cache = work.path().join("llm-cache");
    // Retries would wait a minute each: the run below must not make any.
    let settings = LlmSettings {
        backoff_base_ms: 60_000,
        backoff_max_ms: 60_000,
        ..test_settings()
    };
    let (first, _) = generate_with_llm(
        requests[..1].to_vec(),
        &config(&server.base_url(), settings.clone()),
        &cache,
        &repo(),
    )
    .await
    .expect("the server is up");
    assert_eq!(first.len(), 1);
    let cached = std::fs::read_dir(&cache).unwrap().count();
    assert!(cached > 0);

    // Refused connections before the server ever answered: the run stops with no retry; at
    // most one attempt per request in flight (concurrency 4), the rest never sent.
    let dead = closed_url().await;
    let config = self::config(&dead, settings);
    let error = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect_err("nobody listens");
    assert_eq!(error.base_url, dead);
    let message = error.to_string();
    for part in [
        dead.as_str(),
        "start the server",
        "base_url",
        "ACDP_LLM_BASE_URL",
    ] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
    let report = &error.report;
    assert_eq!(report.cache_hits, 1, "the cached reply is still used");
    assert_eq!(report.successes, 1);
    assert!(
        (1..=4).contains(&report.http_requests),
        "{} attempts",
        report.http_requests
    );
    assert_eq!(report.retries, 0);
    assert_eq!(report.rejected, counts(&[("unreachable", 9)]));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), cached);
}

#[test]
fn acdp_pipeline_llm_against_a_dead_endpoint_fails_fast_with_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("shop");
    copy_dir(&fixture("shop"), &repo);
    let dead = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(closed_url());
    // Retries would wait a minute each: the run must make none.
    std::fs::write(
        repo.join("acdp.toml"),
        "[llm]\nbackoff_base_ms = 60000\nbackoff_max_ms = 60000\nconcurrency = 4\n",
    )
    .unwrap();
    let out = work.path().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"))
        .arg("pipeline")
        .arg(&repo)
        .arg("--out")
        .arg(&out)
        .arg("--llm")
        .env("ACDP_LLM_BASE_URL", &dead)
        .output()
        .expect("run acdp");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to the LLM endpoint {dead}"))
            && stderr.contains("start the server"),
        "{stderr}"
    );
    // "llm stopped: N attempts (R retries) for M requests, C from cache"
    let stopped = stderr
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("llm stopped: "))
        .unwrap_or_else(|| panic!("no stop line: {stderr}"));
    let numbers: Vec<usize> = stopped
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [attempts, retries, requests, from_cache] = numbers[..] else {
        panic!("{stopped}")
    };
    assert!((1..=4).contains(&attempts), "{stopped}");
    assert_eq!(retries, 0, "{stopped}");
    assert!(requests > 4, "{stopped}");
    assert_eq!(from_cache, 0, "{stopped}");
    // The output folder is left alone.
    assert!(!out.join("llm_report.json").exists());
    assert!(!out.join("samples.jsonl").exists());
    assert!(!out.join("manifest.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_json_schema_gets_json_object_after_one_rejection() {
    let work = tempfile::tempdir().unwrap();
    let index = shop_index(work.path());
    let evidence = evidence(&index);
    let valid = qa_reply(evidence[0].chunk_id.as_str(), evidence[1].chunk_id.as_str());
    let script: Script = Arc::new(move |body, _| {
        if body["response_format"]["type"] == "json_schema" {
            error(400)
        } else {
            completion(&valid, "stop")
        }
    });
    let server = FakeServer::start(script).await;
    let requests = vec![
        request("first", Task::Qa, SampleLanguage::En, &evidence),
        request("second", Task::Qa, SampleLanguage::Zh, &evidence),
    ];
    let settings = LlmSettings {
        concurrency: 1,
        ..test_settings()
    };
    let config = config(&server.base_url(), settings);
    assert_eq!(config.output_format, LlmOutputFormat::JsonSchema);
    let cache = work.path().join("llm-cache");

    let (samples, mut report) = generate_with_llm(requests, &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(samples.len(), 2);
    assert_eq!(report.format_fallbacks, 1);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let formats: Vec<Value> = server
        .bodies()
        .iter()
        .map(|b| b["response_format"]["type"].clone())
        .collect();
    assert_eq!(
        formats,
        [
            json!("json_schema"),
            json!("json_object"),
            json!("json_object")
        ]
    );
    let (kept, _) = keep_valid(samples, &index, &ValidationOptions::default(), &mut report);
    assert_eq!(kept.len(), 2);
}

/// A 200 whose body is the given text, not a chat completion.
fn raw_ok(body: &str) -> Reply {
    Reply {
        status: 200,
        body: body.to_owned(),
        delay: Duration::ZERO,
        cut_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_and_api_faults_are_retried_or_rejected_and_never_become_samples() {
    let work = tempfile::tempdir().unwrap();
    let index = shop_index(work.path());
    let evidence = evidence(&index);
    let valid = qa_reply(evidence[0].chunk_id.as_str(), evidence[1].chunk_id.as_str());
    let script: Script = Arc::new(move |body, attempt| {
        let cut = |reply: Reply| Reply {
            cut_at: Some(reply.body.len() / 2),
            ..reply
        };
        let no_choices = json!({"id": "x", "object": "chat.completion", "created": 0,
            "model": "fake-model", "choices": []});
        let null_content = json!({"id": "x", "object": "chat.completion", "created": 0,
            "model": "fake-model", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": null}}]});
        match scenario_of(body).as_str() {
            "valid" => completion(&valid, "stop"),
            // The HTTP body ends before its Content-Length: a transport error, retried.
            "cut-once" if attempt == 0 => cut(completion(&valid, "stop")),
            "cut-once" => completion(&valid, "stop"),
            "cut-always" => cut(completion(&valid, "stop")),
            "html" => raw_ok("<html><body>502 Bad Gateway</body></html>"),
            "not-a-completion" => raw_ok(r#"{"result": "The service stores the order."}"#),
            "no-choices" => raw_ok(&no_choices.to_string()),
            "null-content" => raw_ok(&null_content.to_string()),
            "slow-always" => Reply {
                delay: Duration::from_secs(3),
                ..completion(&valid, "stop")
            },
            "rate-limited-always" => error(429),
            other => panic!("unscripted scenario {other}"),
        }
    });
    let server = FakeServer::start(script).await;
    let names = [
        "valid",
        "cut-once",
        "cut-always",
        "html",
        "not-a-completion",
        "no-choices",
        "null-content",
        "slow-always",
        "rate-limited-always",
    ];
    let requests: Vec<_> = names
        .iter()
        .map(|name| request(name, Task::Qa, SampleLanguage::En, &evidence))
        .collect();
    let settings = LlmSettings {
        max_retries: 1,
        ..test_settings()
    };
    let config = config(&server.base_url(), settings);
    let cache = work.path().join("llm-cache");

    let (samples, report) = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect("the server is up");

    let produced: Vec<String> = samples.iter().map(scenario_of_sample).collect();
    assert_eq!(produced, ["valid", "cut-once"], "only whole, valid replies");
    assert_eq!(report.successes, 2);
    assert_eq!(
        report.rejected,
        counts(&[
            ("connection", 1),
            ("malformed_response", 2),
            ("refused", 2),
            ("timeout", 1),
            ("http_429", 1),
        ])
    );
    // One retry each for the cut replies, the slow one and the rate-limited one.
    assert_eq!(
        report.retries_by_cause,
        counts(&[("connection", 2), ("timeout", 1), ("http_429", 1)])
    );
    // 9 first asks + 4 retries.
    assert_eq!(server.requests(), 13);
    assert_eq!(report.http_requests, 13);
    for sample in &samples {
        assert!(validate_sample(sample, &index, &ValidationOptions::default()).passed);
    }

    // What failed in transit is not cached: a rerun asks again for exactly those.
    let (again, rerun) = generate_with_llm(requests, &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(again, samples);
    assert_eq!(rerun.rejected, report.rejected);
    let asked_again = server.requests() - 13;
    // cut-always, html, not-a-completion, slow-always, rate-limited-always: 5 first asks + 3
    // retries; the cached replies (valid, cut-once, no-choices, null-content) are not asked.
    assert_eq!(asked_again, 8);
}

/// The fault a request gets in the end-to-end run, from its question (so its re-ask gets the
/// same one): a spread over every kind, decided by a fixed hash.
fn fault_of(body: &Value) -> &'static str {
    let text = user_text(body);
    let hash = blake3::hash(text.as_bytes());
    match hash.as_bytes()[0] % 7 {
        0 | 1 => "valid",
        2 => "server-error-once",
        3 => "malformed",
        4 => "truncated",
        5 => "wrong-schema",
        _ => "cut-always",
    }
}

/// Marks the content of every faulty reply, so the test can look for it in samples.jsonl.
const FAULT_MARK: &str = "FAULTY-OUTPUT";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_with_a_faulty_endpoint_counts_the_faults_and_writes_only_valid_samples() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("shop");
    copy_dir(&fixture("shop"), &repo);
    let first_asks: Arc<Mutex<BTreeMap<String, &'static str>>> = Arc::default();
    let seen = first_asks.clone();
    let script: Script = Arc::new(move |body, _| {
        let ids: Vec<String> = body["response_format"]["json_schema"]["schema"]["properties"]
            ["trace"]["items"]["properties"]["evidence"]["items"]["enum"]
            .as_array()
            .map(|ids| ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let is_design = body["response_format"]["json_schema"]["schema"]["properties"]
            .get("components")
            .is_some();
        let fault = if is_design { "design" } else { fault_of(body) };
        let mut asks = seen.lock().unwrap();
        let again = asks.insert(user_text(body), fault).is_some();
        drop(asks);
        let valid = match ids.as_slice() {
            [] => "{}".to_owned(),
            [only] => qa_reply(only, only),
            [first, second, ..] => qa_reply(first, second),
        };
        let bad = |content: &str| completion(&format!("{FAULT_MARK} {content}"), "stop");
        match fault {
            // Design samples are not what this test is about: a permanent refusal.
            "design" => error(401),
            "valid" => completion(&valid, "stop"),
            "server-error-once" if !again => error(500),
            "server-error-once" => completion(&valid, "stop"),
            "malformed" => bad("{\"answer\": \"The service"),
            "truncated" => completion(
                &format!("{FAULT_MARK}{}", &valid[..valid.len() / 2]),
                "length",
            ),
            "wrong-schema" => completion(
                &json!({"reply": format!("{FAULT_MARK} It stores the order.")}).to_string(),
                "stop",
            ),
            "cut-always" => Reply {
                cut_at: Some(40),
                ..completion(&format!("{FAULT_MARK} {valid}"), "stop")
            },
            other => panic!("unscripted fault {other}"),
        }
    });
    let server = FakeServer::start(script).await;
    std::fs::write(
        repo.join("acdp.toml"),
        "[llm]\nmodel = \"fake-model\"\nconcurrency = 4\ntimeout_secs = 5\nmax_retries = 1\n\
         backoff_base_ms = 1\nbackoff_max_ms = 5\n",
    )
    .unwrap();
    let out = work.path().join("out");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"));
    command
        .args(["pipeline", "--llm", "--languages", "en"])
        .args(["--include", "src/main/java/com/acme/shop/order/**", "--out"])
        .arg(&out)
        .arg(&repo)
        .env("ACDP_LLM_BASE_URL", server.base_url())
        .env_remove("ACDP_LLM_MODEL")
        .env_remove("OPENAI_API_KEY");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    // What the server saw, by question (a re-ask or a retry repeats the question).
    let asked = first_asks.lock().unwrap().clone();
    let of = |fault: &str| asked.values().filter(|f| **f == fault).count();
    for fault in [
        "valid",
        "server-error-once",
        "malformed",
        "truncated",
        "wrong-schema",
        "cut-always",
    ] {
        assert!(of(fault) > 0, "no request got the fault {fault}: {asked:?}");
    }

    // The pipeline's report counts every fault by cause. A few requests ask the very same
    // question (`dups`), so a count may exceed its number of distinct questions by that much.
    let report: LlmReport =
        serde_json::from_slice(&std::fs::read(out.join("llm_report.json")).unwrap()).unwrap();
    let dups = report.requests - asked.len();
    let about = |count: usize, questions: usize| questions <= count && count <= questions + dups;
    assert_eq!(
        report.successes + report.rejected.values().sum::<usize>(),
        report.requests,
        "every request is answered or rejected and counted"
    );
    assert!(about(
        report.successes,
        of("valid") + of("server-error-once")
    ));
    let mut causes = Vec::new();
    for (cause, fault) in [
        ("http_401", "design"),
        ("malformed_json", "malformed"),
        ("truncated", "truncated"),
        ("wrong_schema", "wrong-schema"),
        ("connection", "cut-always"),
    ] {
        if of(fault) > 0 {
            causes.push(cause);
            assert!(
                about(report.rejected[cause], of(fault)),
                "{cause}: {} for {} questions ({dups} repeated)",
                report.rejected[cause],
                of(fault)
            );
        }
    }
    assert_eq!(
        report
            .rejected
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        {
            causes.sort();
            causes
        },
        "{stderr}"
    );
    // One 500 per question; one retry of every cut reply.
    assert_eq!(
        report.retries_by_cause.keys().collect::<Vec<_>>(),
        ["connection", "http_5xx"]
    );
    assert_eq!(report.retries_by_cause["http_5xx"], of("server-error-once"));
    assert!(about(
        report.retries_by_cause["connection"],
        of("cut-always")
    ));
    assert!(about(report.reasks, of("malformed") + of("wrong-schema")));
    assert!(stderr.contains("rejected"), "{stderr}");

    // samples.jsonl holds only samples from whole, valid replies.
    let samples = std::fs::read_to_string(out.join("samples.jsonl")).unwrap();
    let mut from_llm = 0;
    for line in samples.lines() {
        assert!(
            !line.contains(FAULT_MARK),
            "a faulty reply became a sample: {line}"
        );
        let sample: Sample = serde_json::from_str(line).unwrap();
        assert_eq!(sample.generator.name, "acdp-llm");
        from_llm += 1;
    }
    assert!(from_llm > 0, "no valid reply made it into samples.jsonl");
    assert!(from_llm <= report.successes);
    for name in ["train.jsonl", "dev.jsonl", "test.jsonl", "rejected.jsonl"] {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(!text.contains(FAULT_MARK), "{name} holds a faulty reply");
    }
    eprintln!(
        "pipeline --llm: {} requests, {} HTTP, {} answered, rejected {:?}, retries {:?}, \
         {from_llm} samples kept",
        report.requests,
        report.http_requests,
        report.successes,
        report.rejected,
        report.retries_by_cause
    );
}
