//! Retrieval and `acdp eval` on fixtures/shop: the hand-written question file
//! (fixtures/shop/eval/questions.jsonl, written before the ranking was tuned) is answered by
//! the retrieved chunks, names in a question are found exactly, generated code stays out of
//! the way unless asked for; and the real binary scores the file.

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::fixture;

use std::process::Command;

use acdp_analysis::{Analysis, analyze};
use acdp_config::ProjectConfig;
use acdp_dataset::eval_cases::{parse_cases, unmatched_evidence};
use acdp_eval::{Summary, evaluate};
use acdp_index::{IndexOptions, WorkspaceIndex, index_workspace};
use acdp_model::answer::AnswerOptions;
use acdp_retrieval::{RetrievalMode, Retriever};

fn shop() -> (WorkspaceIndex, Analysis) {
    let repo = fixture("shop");
    let mut options = IndexOptions::from_project(&repo).unwrap();
    options.use_cache = false;
    let index = index_workspace(&repo, &options).unwrap();
    let analysis = analyze(&index, &ProjectConfig::load(&repo).unwrap().analysis);
    (index, analysis)
}

fn questions_summary(mode: RetrievalMode) -> Summary {
    let (index, analysis) = shop();
    let text = std::fs::read_to_string(fixture("shop").join("eval/questions.jsonl")).unwrap();
    let cases = parse_cases(&text).unwrap();
    assert!(cases.len() >= 15);
    assert!(unmatched_evidence(&cases, &index).is_empty());
    let retriever = Retriever::build(&index, Some(&analysis), mode);
    evaluate(
        &cases,
        &retriever,
        &mut [],
        &AnswerOptions::default(),
        &mut |_, _| {},
    )
    .unwrap()
    .summary
}

#[test]
fn the_shop_questions_find_their_code_in_the_top_six() {
    let summary = questions_summary(RetrievalMode::Analysis);
    assert_eq!(summary.k, 6);
    assert!(summary.hit_at_k >= 0.9, "{summary:?}");
}

#[test]
fn the_analysis_ranks_better_than_text_alone() {
    let with_analysis = questions_summary(RetrievalMode::Analysis);
    let text_only = questions_summary(RetrievalMode::Text);
    assert!(
        with_analysis.mrr > text_only.mrr && with_analysis.hit_at_k > text_only.hit_at_k,
        "analysis {with_analysis:?}, text {text_only:?}"
    );
}

fn top_symbols(question: &str, k: usize) -> Vec<String> {
    let (index, analysis) = shop();
    Retriever::build(&index, Some(&analysis), RetrievalMode::Analysis)
        .search(question, k)
        .into_iter()
        .map(|c| c.symbol)
        .collect()
}

#[test]
fn identifiers_and_paths_in_a_question_match_exactly() {
    let top = top_symbols("What does lockStock do?", 3);
    assert!(
        top[..2]
            .iter()
            .any(|s| s.ends_with("OmsPortalOrderServiceImpl.lockStock(List)")),
        "{top:?}"
    );
    assert!(
        top.iter().any(|s| s.ends_with("SkuStockDao.lockStock")),
        "{top:?}"
    );
    let top = top_symbols("what handles /order/cancelUserOrder", 1);
    assert!(
        top[0].ends_with("OmsPortalOrderController.cancelUserOrder(Long,Long)"),
        "{top:?}"
    );
}

#[test]
fn generated_criteria_and_accessors_stay_out_unless_named() {
    let top = top_symbols("Which orders have a given status?", 10);
    assert!(
        !top.iter()
            .any(|s| s.contains("OmsOrderExample") || s.contains(".getStatus()")),
        "{top:?}"
    );
    let top = top_symbols("What does andStatusEqualTo do?", 3);
    assert!(
        top.iter().any(|s| s.contains("andStatusEqualTo")),
        "{top:?}"
    );
}

#[test]
fn callees_of_the_best_chunk_come_with_it() {
    // The service method a question finds brings the mapper statement it writes through.
    let top = top_symbols("How does an administrator close orders?", 6);
    assert!(
        top.iter()
            .any(|s| s.ends_with("OmsOrderServiceImpl.close(List,String)")),
        "{top:?}"
    );
    assert!(
        top.iter()
            .any(|s| s.ends_with("OmsOrderServiceImpl.releaseStockLock(Long)")),
        "{top:?}"
    );
}

/// `acdp eval CASES --repo fixtures/shop --no-cache` with `extra` flags.
fn eval_shop(cases: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_acdp"))
        .arg("eval")
        .arg(cases)
        .arg("--repo")
        .arg(fixture("shop"))
        .arg("--no-cache")
        .args(extra)
        .output()
        .expect("run acdp")
}

#[test]
fn acdp_eval_prints_one_line_per_case_and_a_summary() {
    let questions = fixture("shop").join("eval/questions.jsonl");
    let output = eval_shop(&questions, &["--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cases = std::fs::read_to_string(&questions).unwrap().lines().count();
    assert_eq!(lines.len(), cases + 1);
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["questions"], cases);
    assert!(summary["hit_at_k"].as_f64().unwrap() >= 0.9);
    assert!(lines[0]["first_gold_rank"].is_u64());

    let markdown = eval_shop(&questions, &[]);
    let table = String::from_utf8(markdown.stdout).unwrap();
    assert!(
        table.contains("| hit@6 |") && table.contains("| MRR |"),
        "{table}"
    );
}

#[test]
fn acdp_eval_names_the_line_of_evidence_that_matches_nothing() {
    let work = tempfile::tempdir().unwrap();
    let cases = work.path().join("cases.jsonl");
    std::fs::write(
        &cases,
        "{\"question\": \"q\", \"evidence\": [{\"path\": \"src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java\", \"method\": \"pay\"}]}\n{\"question\": \"q\", \"evidence\": [{\"path\": \"src/Nope.java\", \"method\": \"pay\"}]}\n",
    )
    .unwrap();
    let output = eval_shop(&cases, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cases.jsonl:2: src/Nope.java method pay"),
        "{stderr}"
    );
    std::fs::write(&cases, "{\"question\": \"q\"}\n").unwrap();
    let output = eval_shop(&cases, &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 1"));
}
