//! The traps that made samples false, checked end to end: `acdp pipeline` on fixtures/traps,
//! then every sample's text (answer or design, and every trace claim) against the hand-written
//! facts in `fixtures/traps/expected/facts.json`: the true ones appear, the false ones never do.

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{copy_dir, fixture};

use std::process::Command;

use serde_json::Value;

/// Every statement a sample makes, one string per sample.
fn sample_texts(out: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(out.join("samples.jsonl"))
        .expect("samples.jsonl")
        .lines()
        .map(|line| {
            let sample: Value = serde_json::from_str(line).expect("a JSON sample");
            let mut text = String::new();
            for field in ["answer", "design", "question", "requirement"] {
                if let Some(v) = sample.get(field) {
                    text.push_str(&match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                    text.push('\n');
                }
            }
            for step in sample["trace"].as_array().into_iter().flatten() {
                text.push_str(step["claim"].as_str().unwrap_or_default());
                text.push('\n');
            }
            (
                sample["language"].as_str().unwrap_or_default().to_owned(),
                text,
            )
        })
        .collect()
}

#[test]
fn samples_state_the_true_facts_of_every_trap_and_none_of_the_false_ones() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("traps");
    copy_dir(&fixture("traps"), &repo);
    let out = work.path().join("data");
    let output = Command::new(env!("CARGO_BIN_EXE_acdp"))
        .arg("pipeline")
        .arg(&repo)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run acdp");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let texts = sample_texts(&out);
    assert!(!texts.is_empty());
    let facts: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("traps").join("expected/facts.json")).unwrap(),
    )
    .unwrap();

    let mut problems = Vec::new();
    for fact in facts["true"].as_array().unwrap() {
        let wanted: Vec<&str> = fact["contains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let found = texts
            .iter()
            .any(|(language, text)| language == "en" && wanted.iter().all(|w| text.contains(w)));
        if !found {
            problems.push(format!("missing ({}): {wanted:?}", fact["trap"]));
        }
    }
    for fact in facts["false"].as_array().unwrap() {
        let pattern = regex::Regex::new(fact["pattern"].as_str().unwrap()).unwrap();
        for (_, text) in &texts {
            if let Some(m) = pattern.find(text) {
                problems.push(format!("false ({}): ...{}...", fact["trap"], m.as_str()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A design that says what a write statement compares in its WHERE clause (optimistic
/// locking: `updateOrderStatus` also compares `status`) cites that statement: its code is in
/// the evidence, holds a WHERE clause naming the column, and a trace step cites it.
#[test]
fn a_where_clause_a_design_describes_is_cited() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("shop");
    copy_dir(&fixture("shop"), &repo);
    let out = work.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_acdp"))
        .arg("pipeline")
        .arg(&repo)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let claim = regex::Regex::new(
        r"`(\w+)` (?:also compares `([^`]+)` in its WHERE clause|的 WHERE 条件还比较了 `([^`]+)`)",
    )
    .unwrap();
    let mut checked = 0;
    for line in std::fs::read_to_string(out.join("samples.jsonl"))
        .unwrap()
        .lines()
    {
        let sample: Value = serde_json::from_str(line).unwrap();
        for note in sample["design"]["consistency"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(found) = claim.captures(note.as_str().unwrap()) else {
                continue;
            };
            let statement = &found[1];
            let column = found.get(2).or(found.get(3)).unwrap().as_str();
            let cited = sample["evidence"].as_array().unwrap().iter().find(|e| {
                e["symbol"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!(".{statement}"))
            });
            let cited = cited.unwrap_or_else(|| {
                panic!(
                    "{}: `{statement}` is described, not cited",
                    sample["sample_id"]
                )
            });
            let code = cited["code"].as_str().unwrap().to_lowercase();
            let where_clause = &code[code.rfind("where").expect("a WHERE clause")..];
            assert!(
                where_clause.contains(column),
                "{}: {code}",
                sample["sample_id"]
            );
            let id = cited["chunk_id"].as_str().unwrap();
            assert!(
                sample["trace"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|step| step["evidence"].as_array().unwrap().iter().any(|e| e == id)),
                "{}: no trace step cites {id}",
                sample["sample_id"]
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "the shop's approval designs describe their WHERE clauses"
    );
}
