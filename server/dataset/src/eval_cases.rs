//! Evaluation files: JSON Lines of questions with the evidence that answers them, and of
//! requirements with the components a design must touch. `acdp eval` reads them; `acdp
//! pipeline` writes one from each dataset's test split ([`from_samples`]), so every dataset
//! comes with its held-out questions.
//!
//! ```text
//! {"question": "...", "answer": "...", "evidence": [{"path": "...", "method": "pay"}]}
//! {"requirement": "...", "must_touch": ["OmsPortalOrderServiceImpl", "SkuStockDao.xml"]}
//! ```
//!
//! An evidence entry `{path, method}` matches every chunk of that file whose symbol's member is
//! that method (all overloads; a mapper statement's id counts as its member); `{path, symbol}`
//! matches the chunk with exactly that symbol.

use serde::{Deserialize, Serialize};

use acdp_index::{WorkspaceIndex, symbol_head, symbol_member as member};
use acdp_sample::{ComponentAction, Sample, SampleBody};

/// One piece of the code that answers a question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldEvidence {
    /// Repository-relative path with `/` separators.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

impl GoldEvidence {
    /// Whether the chunk at `path` with `symbol` is this evidence.
    pub fn matches(&self, path: &str, symbol: &str) -> bool {
        if path != self.path {
            return false;
        }
        match (&self.symbol, &self.method) {
            (Some(s), _) => s == symbol,
            (None, Some(m)) => member(symbol) == m,
            (None, None) => false,
        }
    }

    pub fn describe(&self) -> String {
        match (&self.symbol, &self.method) {
            (Some(s), _) => format!("{} {s}", self.path),
            (None, Some(m)) => format!("{} method {m}", self.path),
            (None, None) => self.path.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionCase {
    pub question: String,
    /// A reference answer: its identifiers in backticks are what a model's answer should name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    pub evidence: Vec<GoldEvidence>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignCase {
    pub requirement: String,
    /// Components or paths a good design names (matched case-insensitively in its text).
    pub must_touch: Vec<String>,
}

#[derive(Clone, Debug)]
pub enum CaseKind {
    Question(QuestionCase),
    Design(DesignCase),
}

/// A case with the line it was read from.
#[derive(Clone, Debug)]
pub struct EvalCase {
    pub line: usize,
    pub kind: CaseKind,
}

/// A problem with an evaluation file, at its line.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CaseError {
    pub line: usize,
    pub message: String,
}

/// Reads an evaluation file; blank lines are skipped.
pub fn parse_cases(text: &str) -> Result<Vec<EvalCase>, CaseError> {
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let error = |message: String| CaseError { line, message };
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| error(format!("not JSON: {e}")))?;
        let kind = if value.get("requirement").is_some() {
            let case: DesignCase = serde_json::from_value(value).map_err(|e| {
                error(format!(
                    "a design case is {{\"requirement\", \"must_touch\": [names]}}: {e}"
                ))
            })?;
            if case.must_touch.is_empty() {
                return Err(error(
                    "must_touch is empty: name what a design must touch".into(),
                ));
            }
            CaseKind::Design(case)
        } else {
            let case: QuestionCase = serde_json::from_value(value).map_err(|e| {
                error(format!(
                    "a question case is {{\"question\", \"answer\"?, \"evidence\": [{{\"path\", \"method\" or \"symbol\"}}]}}: {e}"
                ))
            })?;
            if case.evidence.is_empty() {
                return Err(error(
                    "evidence is empty: name the code that answers".into(),
                ));
            }
            if let Some(bad) = case
                .evidence
                .iter()
                .find(|e| e.symbol.is_none() && e.method.is_none())
            {
                return Err(error(format!(
                    "evidence {} names neither a method nor a symbol",
                    bad.path
                )));
            }
            CaseKind::Question(case)
        };
        cases.push(EvalCase { line, kind });
    }
    Ok(cases)
}

/// The evaluation cases of `samples`: a question with its evidence chunks named by path and
/// symbol, a requirement with the existing components its design changes or reuses (designs
/// that touch none are left out). One JSON object per line.
pub fn from_samples<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> String {
    let mut out = String::new();
    for sample in samples {
        let line = match &sample.body {
            SampleBody::Qa {
                question, answer, ..
            } => serde_json::to_string(&QuestionCase {
                question: question.clone(),
                answer: Some(answer.clone()),
                evidence: sample
                    .evidence
                    .iter()
                    .map(|e| GoldEvidence {
                        path: e.path.clone(),
                        symbol: Some(e.symbol.clone()),
                        method: None,
                    })
                    .collect(),
            }),
            SampleBody::Design {
                requirement,
                design,
                ..
            } => {
                let mut must_touch: Vec<String> = design
                    .components
                    .iter()
                    .filter(|c| c.action == ComponentAction::Modify)
                    .map(|c| short_name(&c.component))
                    .chain(design.reused.iter().map(|r| short_name(&r.symbol)))
                    .collect();
                must_touch.sort();
                must_touch.dedup();
                if must_touch.is_empty() {
                    continue;
                }
                serde_json::to_string(&DesignCase {
                    requirement: requirement.clone(),
                    must_touch,
                })
            }
        };
        out.push_str(&line.expect("cases serialize"));
        out.push('\n');
    }
    out
}

/// `pkg.Type.method(A)` -> `Type.method`; `pkg.Type` -> `Type`: what a design names.
fn short_name(symbol: &str) -> String {
    let head = symbol_head(symbol);
    let parts: Vec<&str> = head.split('.').collect();
    let type_at = parts
        .iter()
        .rposition(|p| p.chars().next().is_some_and(char::is_uppercase))
        .unwrap_or(parts.len().saturating_sub(1));
    parts[type_at..].join(".")
}

/// Evidence entries of the cases that match no chunk of `index`: a typo in the file, or code
/// that moved. Each as (line, description).
pub fn unmatched_evidence(cases: &[EvalCase], index: &WorkspaceIndex) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for case in cases {
        let CaseKind::Question(question) = &case.kind else {
            continue;
        };
        for gold in &question.evidence {
            let found = index
                .files
                .iter()
                .filter(|f| f.path == gold.path)
                .flat_map(|f| &f.chunks)
                .any(|c| gold.matches(&c.path, &c.symbol));
            if !found {
                out.push((case.line, gold.describe()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse_by_shape_and_errors_name_the_line() {
        let text = r#"{"question": "q", "evidence": [{"path": "A.java", "method": "pay"}]}

{"requirement": "r", "must_touch": ["A"]}"#;
        let cases = parse_cases(text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[1].line, 3);
        assert!(matches!(cases[1].kind, CaseKind::Design(_)));
        let err = parse_cases("{\"question\": \"q\", \"evidence\": [{\"path\": \"A.java\"}]}")
            .unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("neither a method nor a symbol"));
        assert!(parse_cases("{\"question\": \"q\", \"evidence\": [], \"x\": 1}").is_err());
    }

    #[test]
    fn design_names_are_cut_to_type_and_member() {
        assert_eq!(
            short_name("com.acme.OrderService.cancel(Long)"),
            "OrderService.cancel"
        );
        assert_eq!(short_name("com.acme.OrderService"), "OrderService");
        assert_eq!(short_name("com.acme.Dao.lockStock"), "Dao.lockStock");
    }

    #[test]
    fn method_evidence_matches_every_overload_and_mapper_ids() {
        let gold = GoldEvidence {
            path: "A.java".into(),
            symbol: None,
            method: Some("pay".into()),
        };
        assert!(gold.matches("A.java", "p.A.pay(Long)"));
        assert!(gold.matches("A.java", "p.A.pay(Long,Integer)"));
        assert!(!gold.matches("A.java", "p.A.payAll(Long)"));
        assert!(!gold.matches("B.java", "p.A.pay(Long)"));
        let statement = GoldEvidence {
            path: "m.xml".into(),
            symbol: None,
            method: Some("lockStock".into()),
        };
        assert!(statement.matches("m.xml", "p.SkuStockDao.lockStock"));
    }
}
