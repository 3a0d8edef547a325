//! `acdp analyze` end to end: the files it writes and its error for a missing repository.

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{copy_dir, fixture};

use std::process::Command;

use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn acdp_analyze_writes_the_output_files() {
    let work = tempfile::tempdir().expect("temp dir");
    let repo = work.path().join("shop");
    copy_dir(&fixture("shop"), &repo);
    let out = work.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_acdp"))
        .args(["analyze"])
        .arg(&repo)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("acdp runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("analysis") && stderr.contains(" ms"),
        "{stderr}"
    );
    assert!(stderr.contains("unresolved"), "{stderr}");
    for name in [
        "domain_map.json",
        "rules.jsonl",
        "flows.jsonl",
        "states.jsonl",
        "report.md",
        "diagrams/domains.mmd",
        "diagrams/flow-1.mmd",
    ] {
        let path = out.join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!text.trim().is_empty(), "{name} is empty");
    }
    for name in ["rules.jsonl", "flows.jsonl", "states.jsonl"] {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).expect("each line is JSON");
            for key in ["path", "symbol", "chunk_ids"] {
                assert!(
                    record.get(key).is_some(),
                    "{name} record without {key}: {line}"
                );
            }
        }
    }
    let flows = std::fs::read_to_string(out.join("flows.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert!(out.join(format!("diagrams/flow-{flows}.mmd")).exists());
    let domains: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("domain_map.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = domains["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| s(d, "name"))
        .collect();
    for domain in ["order", "inventory", "member", "coupon", "returnapply"] {
        assert!(names.contains(&domain), "{names:?}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("```mermaid"), "report embeds diagrams");
}

#[test]
fn acdp_analyze_reports_a_missing_repository() {
    let work = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_acdp"))
        .args(["analyze", "no/such/repo", "--out"])
        .arg(work.path())
        .output()
        .expect("acdp runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no/such/repo"));
}
