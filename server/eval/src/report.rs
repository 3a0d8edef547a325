//! `acdp eval`'s output: a markdown table per case and a summary, or JSON lines (one per case,
//! then `{"summary": ...}`).

use std::fmt::Write;

use super::{EvalReport, Summary};

/// One JSON object per question and design case, then a last line `{"summary": ...}`.
pub fn json_lines(report: &EvalReport) -> serde_json::Result<String> {
    let mut out = String::new();
    for question in &report.questions {
        out.push_str(&serde_json::to_string(question)?);
        out.push('\n');
    }
    for design in &report.designs {
        out.push_str(&serde_json::to_string(design)?);
        out.push('\n');
    }
    out.push_str(&serde_json::to_string(&serde_json::json!({
        "summary": report.summary
    }))?);
    out.push('\n');
    Ok(out)
}

/// Markdown tables: questions (rank of the first gold chunk, hit, recall, then per model
/// validated and gold cited), designs, and the summary with each model side by side.
pub fn markdown(report: &EvalReport) -> String {
    let s = &report.summary;
    let labels: Vec<&str> = s.models.iter().map(|m| m.model.as_str()).collect();
    let mut out = String::new();
    if !report.questions.is_empty() {
        let _ = write!(
            out,
            "| line | question | first gold rank | hit@{} | recall@{} |",
            s.k, s.k
        );
        for label in &labels {
            let _ = write!(out, " {label}: validated | {label}: gold cited |");
        }
        out.push('\n');
        out.push_str(&"|---".repeat(5 + 2 * labels.len()));
        out.push_str("|\n");
        for q in &report.questions {
            let _ = write!(
                out,
                "| {} | {} | {} | {} | {:.2} |",
                q.line,
                cell(&q.question),
                q.first_gold_rank.map_or("-".to_string(), |r| r.to_string()),
                yes_no(q.hit),
                q.recall
            );
            for m in &q.models {
                let _ = write!(out, " {} | {} |", yes_no(m.validated), yes_no(m.gold_cited));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    if !report.designs.is_empty() {
        let _ = write!(out, "| line | requirement | must-touch retrieved |");
        for label in &labels {
            let _ = write!(out, " {label}: validated | {label}: must-touch named |");
        }
        out.push('\n');
        out.push_str(&"|---".repeat(3 + 2 * labels.len()));
        out.push_str("|\n");
        for d in &report.designs {
            let _ = write!(
                out,
                "| {} | {} | {:.2} |",
                d.line,
                cell(&d.requirement),
                d.must_touch_retrieved
            );
            for m in &d.models {
                let _ = write!(
                    out,
                    " {} | {:.2} |",
                    yes_no(m.validated),
                    m.must_touch_named
                );
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&summary_table(s));
    out
}

fn summary_table(s: &Summary) -> String {
    let mut out = String::from("| figure | value |\n|---|---|\n");
    if s.questions > 0 {
        let _ = writeln!(out, "| questions | {} |", s.questions);
        let _ = writeln!(out, "| hit@{} | {:.3} |", s.k, s.hit_at_k);
        let _ = writeln!(out, "| recall@{} | {:.3} |", s.k, s.recall_at_k);
        let _ = writeln!(out, "| MRR | {:.3} |", s.mrr);
    }
    if let Some(share) = s.must_touch_retrieved {
        let _ = writeln!(out, "| designs | {} |", s.designs);
        let _ = writeln!(out, "| must-touch retrieved | {share:.3} |");
    }
    if !s.models.is_empty() {
        out.push('\n');
        let mut header = String::from("| model figure |");
        let mut rule = String::from("|---|");
        for m in &s.models {
            let _ = write!(header, " {} |", m.model);
            rule.push_str("---|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        let mut row = |name: &str, value: &dyn Fn(&super::ModelSummary) -> String| {
            let _ = write!(out, "| {name} |");
            for m in &s.models {
                let _ = write!(out, " {} |", value(m));
            }
            out.push('\n');
        };
        row("validated", &|m| format!("{:.3}", m.validated_rate));
        row("gold cited", &|m| format!("{:.3}", m.gold_cited_rate));
        row("identifier recall", &|m| {
            format!("{:.3}", m.identifier_recall)
        });
        if s.designs > 0 {
            row("designs validated", &|m| {
                format!("{:.3}", m.design_validated_rate.unwrap_or_default())
            });
            row("must-touch named", &|m| {
                format!("{:.3}", m.must_touch_named.unwrap_or_default())
            });
        }
        row("prompt tok/s", &|m| format!("{:.1}", m.prompt_tokens_per_s));
        row("generated tok/s", &|m| {
            format!("{:.1}", m.generated_tokens_per_s)
        });
    }
    out
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Text fit for a table cell: pipes escaped, newlines flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
