//! The LLM generator against a fake OpenAI-compatible server written here: every fault an
//! endpoint can show (429, 5xx, timeouts, refused connections, malformed JSON, truncated
//! replies, wrong schema, citations of unknown chunks, no json_schema support) is retried or
//! rejected and counted, only valid samples come out, and a rerun reads the cache instead of
//! asking again (counted on the server's side).

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{copy_dir, fixture};
#[path = "support/fake_llm.rs"]
mod fake_llm;
use fake_llm::{
    FakeServer, Reply, Script, completion, error, is_probe, is_reask, scenario_of, user_text,
};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use acdp_config::{LlmOutputFormat, LlmSettings};
use acdp_generate::SampleRequest;
use acdp_generate::llm::{LlmConfig, LlmReport, SeedSupport, generate_with_llm, keep_valid};
use acdp_index::{ChunkKind, IndexOptions, WorkspaceIndex, index_workspace};
use acdp_sample::{Evidence, RepoInfo, Sample, SampleBody, SampleLanguage, SampleSource, Task};
use acdp_sample::{ValidationOptions, validate_sample};
use serde_json::{Value, json};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------------
// Requests over fixtures/shop

/// A temporary copy of fixtures/shop, indexed.
fn shop_index(work: &Path) -> WorkspaceIndex {
    let repo = work.join("shop");
    copy_dir(&fixture("shop"), &repo);
    index_workspace(&repo, &IndexOptions::default()).unwrap()
}

/// A copy of fixtures/shop, its index, the evidence requests cite and a valid reply citing it.
struct Shop {
    work: tempfile::TempDir,
    index: WorkspaceIndex,
    evidence: Vec<Evidence>,
    valid: String,
}

impl Shop {
    fn new() -> Shop {
        let work = tempfile::tempdir().unwrap();
        let index = shop_index(work.path());
        let evidence = evidence(&index);
        let valid = qa_reply(evidence[0].chunk_id.as_str(), evidence[1].chunk_id.as_str());
        Shop {
            work,
            index,
            evidence,
            valid,
        }
    }
}

/// A copy of fixtures/shop, indexed with its syntax trees and analysed.
fn shop_analysis(work: &Path) -> (WorkspaceIndex, acdp_analysis::Analysis) {
    let repo = work.join("shop");
    copy_dir(&fixture("shop"), &repo);
    let index = acdp_index::index_workspace_with_trees(&repo, &IndexOptions::default()).unwrap();
    let analysis = acdp_analysis::analyze(&index, &acdp_config::AnalysisSettings::default());
    (index, analysis)
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

/// A server that answers every request with `content`.
async fn always_answering(content: String) -> FakeServer {
    FakeServer::start(Arc::new(move |_, _| completion(&content, "stop"))).await
}

/// `n` English questions tagged `<prefix>0` … over `evidence`.
fn english_questions(prefix: &str, n: usize, evidence: &[Evidence]) -> Vec<SampleRequest> {
    (0..n)
        .map(|i| {
            request(
                &format!("{prefix}{i}"),
                Task::Qa,
                SampleLanguage::En,
                evidence,
            )
        })
        .collect()
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
        "summary": "扩展现有的订单服务，而不是新增一个服务。",
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
    config.base_urls = vec![server.to_owned()];
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
        None,
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
    let Shop {
        work,
        index: _,
        evidence,
        valid,
    } = Shop::new();
    let server = always_answering(valid).await;
    let requests = english_questions("valid-", 10, &evidence);
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
    // The probe finds it dead before any sample request is sent.
    assert_eq!(report.http_requests, 0);
    assert_eq!(report.probe_requests, 1);
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
    assert_eq!(attempts, 1, "only the probe: {stopped}");
    assert_eq!(retries, 0, "{stopped}");
    assert!(requests > 4, "{stopped}");
    assert_eq!(from_cache, 0, "{stopped}");
    // The output folder is left alone.
    assert!(!out.join("llm_report.json").exists());
    assert!(!out.join("samples.jsonl").exists());
    assert!(!out.join("manifest.json").exists());
}

/// The error llama-cpp-python 0.3.36's server sends for a `response_format` its request
/// validation does not take: HTTP 500, not 400.
fn llama_cpp_validation_error() -> Reply {
    let body = json!({"error": {"message": "1 validation error:\n  {'type': 'literal_error', \
        'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or \
        'json_object'\", 'input': 'json_schema'}", "type": "internal_server_error",
        "param": null, "code": null}});
    Reply {
        status: 500,
        body: body.to_string(),
        delay: Duration::ZERO,
        cut_at: None,
    }
}

/// Whether a request carries a JSON schema (as `json_schema`, or inside `json_object`).
fn carries_schema(body: &Value) -> bool {
    let format = &body["response_format"];
    format["type"] == "json_schema" || !format["schema"].is_null()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_validation_error_is_a_format_refusal_not_a_fault_to_retry() {
    let Shop {
        work,
        index,
        evidence,
        valid,
    } = Shop::new();
    // Takes plain `json_object` only; probing is off, so the requests themselves find out.
    let script: Script = Arc::new(move |body, _| {
        if carries_schema(body) {
            llama_cpp_validation_error()
        } else {
            completion(&valid, "stop")
        }
    });
    let server = FakeServer::start(script).await;
    let requests = vec![
        request("first", Task::Qa, SampleLanguage::En, &evidence),
        request("second", Task::Qa, SampleLanguage::En, &evidence),
    ];
    let settings = LlmSettings {
        concurrency: 1,
        probe: false,
        ..test_settings()
    };
    let config = config(&server.base_url(), settings);
    assert_eq!(config.output_format, LlmOutputFormat::JsonSchema);
    let cache = work.path().join("llm-cache");

    let (samples, mut report) = generate_with_llm(requests, &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(samples.len(), 2);
    assert_eq!(
        report.format_fallbacks, 2,
        "json_schema, then json_object + schema"
    );
    assert_eq!(report.retries, 0, "a validation error is not retried");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert!(server.probes().is_empty());
    let formats: Vec<(Value, bool)> = server
        .bodies()
        .iter()
        .map(|b| (b["response_format"]["type"].clone(), carries_schema(b)))
        .collect();
    assert_eq!(
        formats,
        [
            (json!("json_schema"), true),
            (json!("json_object"), true),
            (json!("json_object"), false),
            // The second request starts where the first ended.
            (json!("json_object"), false),
        ]
    );
    let (kept, _) = keep_valid(
        samples,
        &index,
        None,
        &ValidationOptions::default(),
        &mut report,
    );
    assert_eq!(kept.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_learns_the_format_and_the_seed_once_per_run() {
    let Shop {
        work,
        index: _,
        evidence,
        valid,
    } = Shop::new();
    // Like llama-cpp-python's server: `json_schema` is a 500 validation error, a schema inside
    // `json_object` is enforced, and the seed is ignored (replies differ on every call).
    let calls = Arc::new(AtomicUsize::new(0));
    let script: Script = Arc::new(move |body, _| {
        let call = calls.fetch_add(1, Ordering::Relaxed);
        if body["response_format"]["type"] == "json_schema" {
            return llama_cpp_validation_error();
        }
        if is_probe(body) {
            return match body["response_format"]["schema"]["properties"]["answer"]["enum"][0]
                .as_str()
            {
                Some(allowed) => completion(&json!({"answer": allowed}).to_string(), "stop"),
                None => completion(&format!("random words {call}"), "stop"),
            };
        }
        completion(&valid, "stop")
    });
    let server = FakeServer::start_raw(script).await;
    let requests = english_questions("q", 6, &evidence);
    let config = config(&server.base_url(), test_settings());
    let cache = work.path().join("llm-cache");

    let (samples, report) = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(samples.len(), 6);
    // Once per run, though four requests started together: json_schema refused, json_object
    // with the schema obeyed, three seed probes.
    let probes = server.probes();
    assert_eq!(probes.len(), 5, "{probes:#?}");
    assert_eq!(report.probe_requests, 5);
    let capabilities = &report.endpoints[&server.base_url()];
    assert_eq!(
        capabilities.response_format,
        LlmOutputFormat::JsonObjectSchema
    );
    assert_eq!(capabilities.seed, SeedSupport::Ignored);
    // Every sample request went out in the learned format: no refusal, no fallback, no retry.
    assert_eq!(report.format_fallbacks, 0);
    assert_eq!(report.retries, 0);
    for body in server.bodies() {
        assert_eq!(body["response_format"]["type"], "json_object");
        let ids = &body["response_format"]["schema"]["properties"]["trace"]["items"]["properties"]
            ["evidence"]["items"]["enum"];
        assert_eq!(ids.as_array().map(Vec::len), Some(2), "{body}");
    }

    // A rerun from the cache sends nothing, the probe included.
    let (again, rerun) = generate_with_llm(requests, &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(again, samples);
    assert_eq!(rerun.cache_hits, 6);
    assert_eq!(rerun.probe_requests, 0);
    assert_eq!(server.probes().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_refuses_the_model_stops_the_run_with_what_to_check() {
    let work = tempfile::tempdir().unwrap();
    let index = shop_index(work.path());
    let evidence = evidence(&index);
    let script: Script = Arc::new(|_, _| error(404));
    let server = FakeServer::start_raw(script).await;
    let requests = vec![request("q", Task::Qa, SampleLanguage::En, &evidence)];
    let config = config(&server.base_url(), test_settings());
    let error = generate_with_llm(requests, &config, &work.path().join("cache"), &repo())
        .await
        .expect_err("the model is unknown");
    assert!(error.refused);
    let message = error.to_string();
    assert!(
        message.contains("answers but cannot be used") && message.contains("http_404"),
        "{message}"
    );
    assert!(message.contains("ACDP_LLM_MODEL"), "{message}");
    assert_eq!(server.requests(), 0, "only the probe was sent");
    assert_eq!(error.report.rejected, counts(&[("unreachable", 1)]));
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
    let Shop {
        work,
        index,
        evidence,
        valid,
    } = Shop::new();
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
         backoff_base_ms = 1\nbackoff_max_ms = 5\nquestions_per_topic = 0\n",
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

// ---------------------------------------------------------------------------------------------
// Fleets, dry runs, limits, written questions, path facts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_endpoints_shares_the_work_and_a_dead_one_is_left_out() {
    let Shop {
        work,
        index: _,
        evidence,
        valid,
    } = Shop::new();
    let slow_valid = valid.clone();
    // Each answers after a short wait, so requests overlap and both endpoints get some.
    let script = |valid: String| -> Script {
        Arc::new(move |_, _| Reply {
            delay: Duration::from_millis(50),
            ..completion(&valid, "stop")
        })
    };
    let first = FakeServer::start(script(valid)).await;
    let second = FakeServer::start(script(slow_valid)).await;
    let requests = english_questions("q", 8, &evidence);
    let settings = LlmSettings {
        concurrency: 2,
        ..test_settings()
    };
    let mut fleet = config(&first.base_url(), settings.clone());
    fleet.base_urls.push(second.base_url());
    let (samples, report) =
        generate_with_llm(requests.clone(), &fleet, &work.path().join("a"), &repo())
            .await
            .expect("both are up");
    assert_eq!(samples.len(), 8);
    assert_eq!(first.requests() + second.requests(), 8);
    assert!(
        first.requests() >= 2 && second.requests() >= 2,
        "round-robin: {} and {}",
        first.requests(),
        second.requests()
    );
    assert_eq!(report.endpoints.len(), 2, "each endpoint probed once");
    assert_eq!(first.probes().len() + second.probes().len(), 8);

    // One endpoint of the list is down: its probe fails, the other takes every request.
    let mut half = config(&closed_url().await, settings.clone());
    half.base_urls.push(first.base_url());
    let before = first.requests();
    let (samples, report) =
        generate_with_llm(requests.clone(), &half, &work.path().join("b"), &repo())
            .await
            .expect("one endpoint is up");
    assert_eq!(samples.len(), 8);
    assert_eq!(first.requests() - before, 8);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);

    // All down: the run stops and names them.
    let mut dead = config(&closed_url().await, settings.clone());
    dead.base_urls.push(closed_url().await);
    let error = generate_with_llm(requests, &dead, &work.path().join("c"), &repo())
        .await
        .expect_err("nobody listens");
    assert_eq!(error.base_url, dead.base_urls.join(", "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_what_would_be_sent_and_the_limit_stops_a_run_that_resumes() {
    let Shop {
        work,
        index: _,
        evidence,
        valid,
    } = Shop::new();
    let server = always_answering(valid).await;
    let requests = english_questions("q", 5, &evidence);
    let cache = work.path().join("llm-cache");
    let mut config = config(&server.base_url(), test_settings());

    let words = |text: &str| text.split_whitespace().count();
    let plan = acdp_generate::llm::plan(requests.clone(), &config, &cache, &repo(), Some(&words));
    assert_eq!((plan.jobs, plan.cached, plan.to_send), (5, 0, 5));
    assert!(plan.prompt_tokens_counted);
    let one_prompt = plan.prompt_tokens / 5;
    assert!(one_prompt > 100, "{plan:?}");
    assert_eq!(plan.completion_tokens_estimate, 5 * 300);
    let estimated = acdp_generate::llm::plan(requests.clone(), &config, &cache, &repo(), None);
    assert!(!estimated.prompt_tokens_counted);
    assert!(
        estimated.prompt_tokens > plan.prompt_tokens,
        "bytes / 4 exceed words"
    );
    assert_eq!(
        server.requests() + server.probes().len(),
        0,
        "a plan sends nothing"
    );

    // A run limited to 2 sends 2 and leaves 3 for later.
    config.max_requests = Some(2);
    let (samples, report) = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(samples.len(), 2);
    assert_eq!(report.rejected, counts(&[("over_limit", 3)]));
    assert_eq!(server.requests(), 2);
    let plan = acdp_generate::llm::plan(requests.clone(), &config, &cache, &repo(), None);
    assert_eq!((plan.cached, plan.to_send), (2, 2), "{plan:?}");

    // The next limited run resumes: the 2 cached are free, 2 more are sent.
    let (samples, report) = generate_with_llm(requests.clone(), &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(samples.len(), 4);
    assert_eq!(report.cache_hits, 2);
    assert_eq!(server.requests(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_questions_become_samples_citing_their_topic_and_path_facts_reject_false_calls() {
    use acdp_generate::claims::call_claim_problems;
    use acdp_generate::{OfflineOptions, generated_chunks, topic_requests};

    let work = tempfile::tempdir().unwrap();
    let (index, analysis) = shop_analysis(work.path());
    let options = OfflineOptions {
        languages: vec![SampleLanguage::En],
        ..OfflineOptions::default()
    };
    let topics = topic_requests(&index, &analysis, &generated_chunks(&index), &options, 2);
    assert!(topics.len() > 5, "{} topics", topics.len());
    for topic in &topics {
        assert!(!topic.facts.is_empty() && !topic.evidence.is_empty());
        assert_eq!(topic.questions, 2);
    }

    // A call made only on one branch (not on the main line of its caller), and no main-line
    // call of the same name in the flows through the caller or the callee.
    let chunk_of = |symbol: &str| {
        index
            .chunks()
            .find(|(_, chunk)| chunk.symbol == symbol)
            .map(|(_, chunk)| chunk.chunk_id.clone())
    };
    let main_line = |s: &acdp_analysis::FlowStep| s.when.is_main_line() && s.outer.is_main_line();
    let step = analysis
        .flows
        .iter()
        .flat_map(|f| &f.steps)
        .find(|step| {
            let (Some(caller), Some(callee)) = (chunk_of(&step.called_from), &step.chunk_id) else {
                return false;
            };
            let name = acdp_index::symbol_member(&step.symbol);
            step.kind == "method"
                && !step.when.conditions.is_empty()
                && analysis
                    .flows
                    .iter()
                    .filter(|f| f.chunk_ids.contains(&caller) || f.chunk_ids.contains(callee))
                    .flat_map(|f| &f.steps)
                    .filter(|s| acdp_index::symbol_member(&s.symbol) == name)
                    .all(|s| !main_line(s))
        })
        .expect("fixtures/shop has a call on one branch");
    let flow = analysis
        .flows
        .iter()
        .find(|f| f.steps.iter().any(|s| std::ptr::eq(s, step)))
        .unwrap();
    let name = acdp_index::symbol_member(&step.symbol).to_owned();
    // The caller, whose body holds the condition, and the callee.
    let entry_id = chunk_of(&step.called_from).expect("the caller is indexed");
    let step_id = step.chunk_id.clone().unwrap();
    let evidence_of = |id: &acdp_index::ChunkId| {
        let (file, chunk) = index.chunk(id).unwrap();
        Evidence::from_chunk(chunk, &file.text)
    };
    let topic = acdp_generate::TopicRequest {
        language: SampleLanguage::En,
        domain: "order".to_owned(),
        subject: format!("what `{}` does", flow.symbol),
        facts: Vec::new(),
        evidence: vec![evidence_of(&entry_id), evidence_of(&step_id)],
        questions: 3,
        source: SampleSource {
            kind: "flow-writes".to_owned(),
            twin_key: "topic-1".to_owned(),
            ..SampleSource::default()
        },
    };
    let entry_member = acdp_index::symbol_member(&step.called_from).to_owned();
    let condition = step.when.conditions[0].as_expression();
    let (e, s) = (entry_id.as_str(), step_id.as_str());
    let reply = json!({"samples": [
        {"question": "What happens after the request is read?",
         "answer": format!("`{entry_member}` always calls `{name}` to finish the work."),
         "trace": [{"claim": format!("`{entry_member}` is the entry."), "evidence": [e]},
                   {"claim": format!("It calls `{name}`."), "evidence": [s]}]},
        {"question": "When does the second step run?",
         "answer": format!("`{entry_member}` calls `{name}` only when `{condition}` holds."),
         "trace": [{"claim": format!("`{entry_member}` is the entry."), "evidence": [e]},
                   // The condition is in the caller's body: the step cites it with the callee.
                   {"claim": format!("`{name}` runs only when `{condition}`."), "evidence": [e, s]}]},
        {"question": "Which chunk is unrelated?",
         "answer": "None of the code shown here is about that question.",
         "trace": [{"claim": "Nothing here is about it.", "evidence": ["c000000000000"]},
                   {"claim": "Nothing else is about it.", "evidence": ["c000000000001"]}]},
    ]})
    .to_string();
    let script: Script = Arc::new(move |body, _| {
        assert!(user_text(body).starts_with("Topic: "), "a topic request");
        assert_eq!(
            body["response_format"]["json_schema"]["schema"]["properties"]["samples"]["maxItems"],
            3
        );
        completion(&reply, "stop")
    });
    let server = FakeServer::start(script).await;
    let config = config(&server.base_url(), test_settings());
    let (samples, mut report) = generate_with_llm(
        vec![topic.clone()],
        &config,
        &work.path().join("llm-cache"),
        &repo(),
    )
    .await
    .expect("the server is up");
    assert_eq!(report.topics, 1);
    assert_eq!(
        samples.len(),
        2,
        "the question citing no topic chunk is dropped"
    );
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.questions_dropped, counts(&[("uncited", 1)]));
    assert_eq!(report.successes, 1);
    for sample in &samples {
        assert_eq!(sample.source.kind, "llm-question");
        assert_eq!(sample.source.twin_key, "topic-1", "one split per topic");
        assert_eq!(sample.evidence.len(), 2);
    }

    // The path facts: "always calls" a conditional step is false; the conditional one holds.
    let always = call_claim_problems(&samples[0], &analysis);
    assert!(
        always
            .iter()
            .any(|p| p.contains(&name) && p.contains("every path")),
        "{always:?}"
    );
    assert!(call_claim_problems(&samples[1], &analysis).is_empty());
    let (kept, _) = keep_valid(
        samples.clone(),
        &index,
        Some(&analysis),
        &ValidationOptions::default(),
        &mut report,
    );
    assert_eq!(kept, samples[1..].to_vec());
    assert_eq!(report.rejected["path_facts"], 1);
    assert!(report.path_fact_problems[0].starts_with(&samples[0].sample_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_dry_run_sends_nothing_and_a_run_with_no_usable_reply_fails_keeping_the_old_dataset()
 {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("shop");
    copy_dir(&fixture("shop"), &repo);
    std::fs::write(
        repo.join("acdp.toml"),
        "[llm]\nmodel = \"fake-model\"\nmax_retries = 0\nbackoff_base_ms = 1\n",
    )
    .unwrap();
    // Every reply is prose: nothing usable.
    let script: Script = Arc::new(|_, _| completion("I would rather not.", "stop"));
    let server = FakeServer::start(script).await;
    let out = work.path().join("out");
    let acdp = |extra: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"));
        command
            .args(["pipeline", "--languages", "en"])
            .args([
                "--include",
                "src/main/java/com/acme/shop/returnapply/**",
                "--out",
            ])
            .arg(&out)
            .arg(&repo)
            .args(extra)
            .env("ACDP_LLM_BASE_URL", server.base_url())
            .env_remove("ACDP_LLM_MODEL");
        command
    };

    let mut dry = acdp(&["--llm", "--dry-run"]);
    let output = tokio::task::spawn_blocking(move || dry.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| -> usize {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_start_matches('~').split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    assert!(
        field("requests") > 0 && field("to send") == field("requests"),
        "{stdout}"
    );
    assert!(field("prompt tokens") > 0, "{stdout}");
    assert!(stdout.contains("topics"), "{stdout}");
    assert_eq!(
        server.requests() + server.probes().len(),
        0,
        "a dry run sends nothing"
    );
    assert!(!out.exists());

    // An offline dataset first, then an LLM run in which nothing is usable: exit 1, the
    // offline dataset untouched.
    let mut offline = acdp(&[]);
    let output = tokio::task::spawn_blocking(move || offline.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let before = std::fs::read(out.join("samples.jsonl")).unwrap();
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    let mut failing = acdp(&["--llm"]);
    let output = tokio::task::spawn_blocking(move || failing.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("nothing was written") && stderr.contains("left as it was"),
        "{stderr}"
    );
    assert!(server.requests() > 0);
    assert_eq!(std::fs::read(out.join("samples.jsonl")).unwrap(), before);
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), manifest);
    assert!(!out.join("llm_report.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_pass_stores_verdicts_and_filters_unsupported_samples() {
    use acdp_generate::llm::{LlmJudge, judge_samples};

    let Shop {
        work,
        index: _,
        evidence,
        valid,
    } = Shop::new();
    // Answers the two questions, then judges: everything supported for "good", the second
    // claim (the first trace step) unsupported for "doubtful", a partial verdict for "partial".
    let script: Script = Arc::new(move |body, _| {
        let system = body["messages"][0]["content"].as_str().unwrap_or_default();
        if !system.contains("You check training data") {
            return completion(&valid, "stop");
        }
        let text = user_text(body);
        let claims =
            body["response_format"]["json_schema"]["schema"]["properties"]["claims"]["maxItems"]
                .as_u64()
                .unwrap() as usize;
        assert!(text.contains("Claims:\n1. "), "{text}");
        let verdicts: Vec<Value> = (1..=claims)
            .filter(|n| !(text.contains("[[scenario:partial]]") && *n == claims))
            .map(|n| {
                let supported = !(text.contains("[[scenario:doubtful]]") && n == 2);
                json!({"claim": n, "supported": supported})
            })
            .collect();
        completion(&json!({"claims": verdicts}).to_string(), "stop")
    });
    let server = FakeServer::start(script).await;
    let requests: Vec<SampleRequest> = ["good", "doubtful", "partial"]
        .iter()
        .map(|name| request(name, Task::Qa, SampleLanguage::En, &evidence))
        .collect();
    let cache = work.path().join("llm-cache");
    let mut config = config(
        &server.base_url(),
        LlmSettings {
            reask: false,
            ..test_settings()
        },
    );
    let (samples, mut report) = generate_with_llm(requests, &config, &cache, &repo())
        .await
        .expect("the server is up");
    assert_eq!(samples.len(), 3);

    config.judge = LlmJudge::Store;
    let stored = judge_samples(samples.clone(), &config, &cache, &repo(), &mut report)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    let verdict = |s: &Sample| {
        s.judgement
            .as_ref()
            .map(|j| (j.supported, j.unsupported.len()))
    };
    assert_eq!(verdict(&stored[0]), Some((true, 0)));
    assert_eq!(verdict(&stored[1]), Some((false, 1)));
    assert_eq!(
        stored[1].judgement.as_ref().unwrap().unsupported[0],
        stored[1].trace[0].claim
    );
    assert_eq!(verdict(&stored[2]), None, "a partial verdict is no verdict");
    let summary = report.judge.clone().unwrap();
    assert_eq!(
        (summary.samples, summary.judged, summary.unsupported),
        (3, 2, 1)
    );
    assert_eq!(summary.failed, counts(&[("wrong_schema", 1)]));
    // The verdict travels with the sample.
    let line = serde_json::to_string(&stored[1]).unwrap();
    assert!(line.contains("\"judgement\""), "{line}");
    assert_eq!(serde_json::from_str::<Sample>(&line).unwrap(), stored[1]);

    config.judge = LlmJudge::Filter;
    let filtered = judge_samples(samples, &config, &cache, &repo(), &mut report)
        .await
        .unwrap();
    let kept: Vec<String> = filtered.iter().map(scenario_of_sample).collect();
    assert_eq!(kept, ["good", "partial"]);
    assert_eq!(report.judge.unwrap().dropped, 1);
}

#[test]
fn a_status_told_backwards_is_rejected_by_the_state_machines_transitions() {
    use acdp_generate::claims::status_claim_problems;

    let work = tempfile::tempdir().unwrap();
    let (index, analysis) = shop_analysis(work.path());
    // A named transition of one method, and a named value it never sets.
    let (machine, transition, wrong) = analysis
        .states
        .iter()
        .flat_map(|m| m.transitions.iter().map(move |t| (m, t)))
        .find_map(|(machine, t)| {
            let method = acdp_index::symbol_member(&t.method);
            let sets: Vec<i64> = machine
                .transitions
                .iter()
                .filter(|o| acdp_index::symbol_member(&o.method) == method)
                .map(|o| o.to)
                .collect();
            let wrong = machine
                .values
                .iter()
                .find(|v| v.name.is_some() && !sets.contains(&v.value))?;
            machine
                .values
                .iter()
                .find(|v| v.value == t.to)?
                .name
                .as_ref()?;
            Some((machine, t, wrong))
        })
        .expect("fixtures/shop has named status transitions");
    let right = machine
        .values
        .iter()
        .find(|v| v.value == transition.to)
        .unwrap();
    let method = acdp_index::symbol_member(&transition.method).to_owned();
    let sample = |to: &str| {
        one_claim_sample(
            &index,
            &transition.chunk_ids,
            "What does it set?",
            format!("`{method}` sets the status to `{to}` when it succeeds."),
        )
    };
    let backwards = status_claim_problems(&sample(wrong.name.as_deref().unwrap()), &analysis);
    assert!(
        backwards.iter().any(|p| p.contains(&method)),
        "{backwards:?}"
    );
    assert!(status_claim_problems(&sample(right.name.as_deref().unwrap()), &analysis).is_empty());

    // A list of values presented as all of them, one left out.
    let values: Vec<String> = machine.values[..machine.values.len() - 1]
        .iter()
        .map(|v| v.value.to_string())
        .collect();
    let mut listing = sample(right.name.as_deref().unwrap());
    listing.trace[0].claim = format!(
        "The possible values of `{}` are {}.",
        machine.field,
        values.join(", ")
    );
    let incomplete = status_claim_problems(&listing, &analysis);
    assert!(
        incomplete.iter().any(|p| p.contains("as if they were all")),
        "{incomplete:?}"
    );
}

/// The audit on macrozheng/mall: the model said "`cancelOrder` is not inside a transaction"
/// where the interface method carries `@Transactional`. A denial of a transaction the analysis
/// knows is rejected; the true statement passes.
#[test]
fn a_transaction_denied_where_the_analysis_knows_one_is_rejected() {
    use acdp_analysis::RuleKind;
    use acdp_generate::claims::transaction_claim_problems;

    let work = tempfile::tempdir().unwrap();
    let (index, analysis) = shop_analysis(work.path());
    let rule = analysis
        .rules
        .iter()
        .find(|r| {
            r.kind == RuleKind::Transaction
                && r.symbol.contains('(')
                && !r.statement.contains("without a transaction")
        })
        .expect("fixtures/shop has @Transactional methods");
    let method = acdp_index::symbol_member(&rule.symbol).to_owned();
    let sample = |claim: String| {
        one_claim_sample(
            &index,
            &rule.chunk_ids,
            "Does it run in a transaction?",
            claim,
        )
    };
    for denial in [
        format!("The `{method}` method is not inside a transaction."),
        format!(
            "`{method}` is not annotated with @Transactional, so it runs in a non-transactional manner."
        ),
    ] {
        let problems = transaction_claim_problems(&sample(denial.clone()), &analysis);
        assert!(
            problems.iter().any(|p| p.contains(&method)),
            "{denial}: {problems:?}"
        );
    }
    let truth = format!("`{method}` runs inside a transaction.");
    assert!(transaction_claim_problems(&sample(truth), &analysis).is_empty());
}

/// A QA sample citing `chunk_ids` whose answer and only trace step are `claim`: what the
/// claim checks read.
fn one_claim_sample(
    index: &acdp_index::WorkspaceIndex,
    chunk_ids: &[acdp_index::ChunkId],
    question: &str,
    claim: String,
) -> Sample {
    let evidence: Vec<Evidence> = chunk_ids
        .iter()
        .filter_map(|id| index.chunk(id))
        .map(|(file, chunk)| Evidence::from_chunk(chunk, &file.text))
        .collect();
    let mut request = request("claim", Task::Qa, SampleLanguage::En, &evidence);
    request.evidence = evidence.clone();
    let ids: Vec<_> = evidence.iter().map(|e| e.chunk_id.clone()).collect();
    request.into_sample(
        SampleBody::Qa {
            question: question.to_owned(),
            answer: claim.clone(),
        },
        vec![acdp_sample::TraceStep {
            claim,
            evidence: ids,
        }],
        acdp_generate::llm::llm_generator("test"),
        &repo(),
    )
}
