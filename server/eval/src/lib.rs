//! `acdp eval`: how well retrieval finds the code that answers hand-written questions, and,
//! with a model, how often its answers pass the strict check and cite that code.
//!
//! - the question and design files are [`acdp_dataset::eval_cases`] (the pipeline writes
//!   one from each test split);
//! - [`report`]: the markdown table and the JSON lines.
//!
//! Retrieval figures per question: the rank of the first gold chunk among the best
//! [`RANK_DEPTH`] (MRR is the mean of its inverse, 0 when none is there), whether one is in
//! the top k (hit@k) and the share of evidence entries found there (recall@k). Model figures:
//! validated (passed the check), gold cited (validated and cites a gold chunk), identifier
//! recall (identifiers in backticks of the reference answer that the answer names), tokens/s.
//! Design cases: the share of must-touch names among the retrieved chunks and, with a model,
//! the share the validated design names.

use acdp_dataset::eval_cases as cases;
pub mod report;

use std::collections::HashSet;

use serde::Serialize;

use acdp_model::LoadedModel;
use acdp_model::answer::{AnswerOptions, GroundedAnswer, Task, answer_from_chunks};
use acdp_retrieval::terms::{backticked, identifiers};
use acdp_retrieval::{RetrievedChunk, Retriever};
use cases::{CaseKind, DesignCase, EvalCase, QuestionCase};

/// How deep the ranking is read for MRR.
pub const RANK_DEPTH: usize = 50;

/// Answers one case for one model. The CLI wraps a loaded model ([`ModelRun::with_model`]);
/// the language server locks its shared model per call, so that `acdp/ask` and hovers are not
/// held up for a whole evaluation.
pub type Answerer<'a> = dyn FnMut(Task<'_>, &str, Vec<RetrievedChunk>, &AnswerOptions) -> acdp_model::Result<GroundedAnswer>
    + 'a;

/// One model an evaluation runs (`base`, `adapter`).
pub struct ModelRun<'a> {
    pub label: String,
    pub answer: Box<Answerer<'a>>,
}

impl<'a> ModelRun<'a> {
    /// A run that answers with `model` through [`answer_from_chunks`].
    pub fn with_model(label: &str, model: &'a mut LoadedModel) -> ModelRun<'a> {
        ModelRun {
            label: label.to_string(),
            answer: Box::new(move |task, prompt, chunks, options| {
                answer_from_chunks(model, task, prompt, chunks, options)
            }),
        }
    }
}

/// Why a case file cannot be evaluated, with the file's path in every message.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: cases::CaseError,
    },
    #[error("{path}: no cases in the file")]
    Empty { path: String },
    #[error("evidence that matches no chunk of the repository (a typo, or the code moved):\n{}", .entries.iter().map(|(line, what)| format!("  {path}:{line}: {what}")).collect::<Vec<_>>().join("\n"))]
    Unmatched {
        path: String,
        entries: Vec<(usize, String)>,
    },
}

/// Reads the cases of the file at `path` (its `text`) and checks every evidence entry names a
/// chunk of `index`: what `acdp eval` and `acdp.eval` both do before evaluating.
pub fn load_cases(
    path: &std::path::Path,
    text: &str,
    index: &acdp_index::WorkspaceIndex,
) -> Result<Vec<EvalCase>, CasesError> {
    let path = path.display().to_string();
    let cases = cases::parse_cases(text).map_err(|source| CasesError::Parse {
        path: path.clone(),
        source,
    })?;
    if cases.is_empty() {
        return Err(CasesError::Empty { path });
    }
    let entries = cases::unmatched_evidence(&cases, index);
    if !entries.is_empty() {
        return Err(CasesError::Unmatched { path, entries });
    }
    Ok(cases)
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelAnswerScore {
    pub model: String,
    pub validated: bool,
    pub gold_cited: bool,
    /// `None` without a reference answer or identifiers in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier_recall: Option<f64>,
    pub prompt_tokens_per_s: f64,
    pub generated_tokens_per_s: f64,
    pub answer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuestionResult {
    pub line: usize,
    pub question: String,
    /// 1-based rank of the first gold chunk within [`RANK_DEPTH`].
    pub first_gold_rank: Option<usize>,
    pub hit: bool,
    pub recall: f64,
    /// The top k chunk ids.
    pub retrieved: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelAnswerScore>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DesignModelScore {
    pub model: String,
    pub validated: bool,
    pub must_touch_named: f64,
    pub answer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DesignResult {
    pub line: usize,
    pub requirement: String,
    /// Share of must-touch names found in the top k chunks' paths and symbols.
    pub must_touch_retrieved: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<DesignModelScore>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelSummary {
    pub model: String,
    pub validated_rate: f64,
    pub gold_cited_rate: f64,
    pub identifier_recall: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub design_validated_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub must_touch_named: Option<f64>,
    pub prompt_tokens_per_s: f64,
    pub generated_tokens_per_s: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub questions: usize,
    pub designs: usize,
    pub k: usize,
    pub hit_at_k: f64,
    pub recall_at_k: f64,
    pub mrr: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub must_touch_retrieved: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelSummary>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EvalReport {
    pub questions: Vec<QuestionResult>,
    pub designs: Vec<DesignResult>,
    pub summary: Summary,
}

/// Evaluates `cases`: retrieval always, each of `models` when given. `on_case(done, total)`
/// is called after each case (progress for long model runs).
pub fn evaluate(
    cases: &[EvalCase],
    retriever: &Retriever,
    models: &mut [ModelRun<'_>],
    options: &AnswerOptions,
    on_case: &mut dyn FnMut(usize, usize),
) -> acdp_model::Result<EvalReport> {
    let mut report = EvalReport::default();
    let exists = |name: &str| retriever.knows(name);
    for (done, case) in cases.iter().enumerate() {
        match &case.kind {
            CaseKind::Question(question) => {
                let ranked = retriever.search(&question.question, RANK_DEPTH.max(options.top_k));
                let mut result = score_retrieval(case.line, question, &ranked, options.top_k);
                let top: Vec<RetrievedChunk> = ranked.into_iter().take(options.top_k).collect();
                for run in models.iter_mut() {
                    let answer =
                        (run.answer)(Task::Question, &question.question, top.clone(), options)?;
                    result
                        .models
                        .push(score_answer(&run.label, question, &top, answer));
                }
                report.questions.push(result);
            }
            CaseKind::Design(design) => {
                let top = retriever.search(&design.requirement, options.top_k);
                let mut result = DesignResult {
                    line: case.line,
                    requirement: design.requirement.clone(),
                    must_touch_retrieved: share_named(
                        design,
                        &top.iter()
                            .map(|c| format!("{} {}", c.path, c.symbol))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                    models: Vec::new(),
                };
                for run in models.iter_mut() {
                    let answer = (run.answer)(
                        Task::Design { exists: &exists },
                        &design.requirement,
                        top.clone(),
                        options,
                    )?;
                    result.models.push(DesignModelScore {
                        model: run.label.clone(),
                        validated: answer.validated,
                        must_touch_named: if answer.validated {
                            share_named(design, &answer.answer)
                        } else {
                            0.0
                        },
                        answer: answer.answer,
                        problems: answer.problems,
                    });
                }
                report.designs.push(result);
            }
        }
        on_case(done + 1, cases.len());
    }
    report.summary = summarise(&report, options.top_k, models);
    Ok(report)
}

/// The retrieval figures of one question over `ranked` (best first).
pub fn score_retrieval(
    line: usize,
    case: &QuestionCase,
    ranked: &[RetrievedChunk],
    k: usize,
) -> QuestionResult {
    let is_gold = |c: &RetrievedChunk| case.evidence.iter().any(|g| g.matches(&c.path, &c.symbol));
    let first_gold_rank = ranked
        .iter()
        .take(RANK_DEPTH)
        .position(is_gold)
        .map(|i| i + 1);
    let top = &ranked[..k.min(ranked.len())];
    let found = case
        .evidence
        .iter()
        .filter(|g| top.iter().any(|c| g.matches(&c.path, &c.symbol)))
        .count();
    QuestionResult {
        line,
        question: case.question.clone(),
        first_gold_rank,
        hit: top.iter().any(is_gold),
        recall: found as f64 / case.evidence.len() as f64,
        retrieved: top.iter().map(|c| c.chunk_id.clone()).collect(),
        models: Vec::new(),
    }
}

fn score_answer(
    label: &str,
    case: &QuestionCase,
    given: &[RetrievedChunk],
    answer: GroundedAnswer,
) -> ModelAnswerScore {
    let gold_cited = answer.validated
        && answer.citations.iter().any(|c| {
            given
                .iter()
                .find(|g| g.chunk_id == c.chunk_id)
                .is_some_and(|chunk| {
                    case.evidence
                        .iter()
                        .any(|g| g.matches(&chunk.path, &chunk.symbol))
                })
        });
    ModelAnswerScore {
        model: label.to_string(),
        validated: answer.validated,
        gold_cited,
        identifier_recall: case
            .answer
            .as_deref()
            .and_then(|reference| identifier_recall(reference, &answer.answer)),
        prompt_tokens_per_s: answer.stats.prompt_tokens_per_s,
        generated_tokens_per_s: answer.stats.generated_tokens_per_s,
        answer: answer.answer,
        problems: answer.problems,
    }
}

/// Share of the identifiers in backticks of `reference` that `answer` names as words.
pub fn identifier_recall(reference: &str, answer: &str) -> Option<f64> {
    let mut wanted: Vec<&str> = backticked(reference).flat_map(identifiers).collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return None;
    }
    let said: HashSet<&str> = identifiers(answer).collect();
    let named = wanted.iter().filter(|w| said.contains(**w)).count();
    Some(named as f64 / wanted.len() as f64)
}

/// Share of `design.must_touch` that `text` names as a whole word (case-insensitive):
/// `OmsOrder` is not named by `OmsOrderServiceImpl`.
fn share_named(design: &DesignCase, text: &str) -> f64 {
    let text = text.to_lowercase();
    let word_char = |c: char| c.is_alphanumeric() || c == '_';
    let named = design
        .must_touch
        .iter()
        .filter(|name| {
            let name = name.to_lowercase();
            text.match_indices(&name).any(|(at, _)| {
                let before = text[..at].chars().next_back();
                let after = text[at + name.len()..].chars().next();
                !before.is_some_and(word_char) && !after.is_some_and(word_char)
            })
        })
        .count();
    named as f64 / design.must_touch.len() as f64
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

fn summarise(report: &EvalReport, k: usize, models: &[ModelRun<'_>]) -> Summary {
    let q = &report.questions;
    let d = &report.designs;
    let rate = |b: bool| if b { 1.0 } else { 0.0 };
    Summary {
        questions: q.len(),
        designs: d.len(),
        k,
        hit_at_k: mean(q.iter().map(|r| rate(r.hit))),
        recall_at_k: mean(q.iter().map(|r| r.recall)),
        mrr: mean(
            q.iter()
                .map(|r| r.first_gold_rank.map_or(0.0, |rank| 1.0 / rank as f64)),
        ),
        must_touch_retrieved: (!d.is_empty())
            .then(|| mean(d.iter().map(|r| r.must_touch_retrieved))),
        models: models
            .iter()
            .enumerate()
            .map(|(m, run)| {
                let answers: Vec<&ModelAnswerScore> = q.iter().map(|r| &r.models[m]).collect();
                let designs: Vec<&DesignModelScore> = d.iter().map(|r| &r.models[m]).collect();
                ModelSummary {
                    model: run.label.clone(),
                    validated_rate: mean(answers.iter().map(|a| rate(a.validated))),
                    gold_cited_rate: mean(answers.iter().map(|a| rate(a.gold_cited))),
                    identifier_recall: mean(answers.iter().filter_map(|a| a.identifier_recall)),
                    design_validated_rate: (!designs.is_empty())
                        .then(|| mean(designs.iter().map(|a| rate(a.validated)))),
                    must_touch_named: (!designs.is_empty())
                        .then(|| mean(designs.iter().map(|a| a.must_touch_named))),
                    prompt_tokens_per_s: mean(answers.iter().map(|a| a.prompt_tokens_per_s)),
                    generated_tokens_per_s: mean(answers.iter().map(|a| a.generated_tokens_per_s)),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_touch_names_count_as_whole_words() {
        let design = DesignCase {
            requirement: "r".into(),
            must_touch: vec!["OmsOrder".into(), "SkuStockDao.xml".into()],
        };
        assert_eq!(share_named(&design, "change `OmsOrderServiceImpl`"), 0.0);
        assert_eq!(
            share_named(&design, "change `OmsOrder` and skustockdao.xml"),
            1.0
        );
    }

    #[test]
    fn identifier_recall_counts_backticked_names_the_answer_says() {
        let reference = "`lockStock` calls `SkuStockDao.lockStock` and fails";
        assert_eq!(
            identifier_recall(reference, "It calls lockStock [c0123456789ab]."),
            Some(1.0 / 2.0)
        );
        assert_eq!(identifier_recall("no code here", "x"), None);
    }
}
