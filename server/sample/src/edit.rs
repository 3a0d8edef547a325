//! A sample edited by hand: the text a person edits ([`edit_text`]) and the check that reads
//! it back ([`check_edit`]), so that a corrected sample passes the same validation as a
//! generated one before it counts as reviewed.
//!
//! The text is JSON (every editor can edit and highlight it) holding what a reviewer may
//! correct: the answer or the design and the trace. The question (or requirement) and the
//! evidence say which sample this is (`sample_id` is their hash): changing them would make
//! another sample, so the check refuses it and says to generate that sample instead. Problems
//! come back with the line they are about, for the editor to show as diagnostics.
//! No IO: the shells read and write the file.

use serde::{Deserialize, Serialize};

use crate::validate::{ValidationOptions, check, validate_sample};
use crate::{Sample, SampleBody, TraceStep};
use acdp_index::{ChunkId, WorkspaceIndex};

/// Name of the pseudo-check for text that is not a sample edit (JSON syntax, wrong fields).
pub const EDIT_SHAPE: &str = "edit_shape";

/// The fields of an edit, in the order a reviewer reads them.
#[derive(Serialize, Deserialize)]
struct SampleEdit {
    /// Read-only: which sample of `samples.jsonl` this edits.
    sample_id: String,
    /// A reminder of the rules, ignored when read.
    #[serde(default, rename = "_help", skip_deserializing)]
    help: &'static str,
    #[serde(flatten)]
    body: SampleBody,
    trace: Vec<TraceStep>,
    /// Read-only: the chunks the sample quotes, for the trace to cite.
    evidence: Vec<ChunkId>,
}

const HELP: &str = "Correct the answer (or design) and the trace, then save: the sample is \
                    checked against the code and kept as edited when it passes. The question \
                    and evidence say which sample this is; for another question, generate a \
                    new sample.";

/// One thing wrong with an edit, on a 0-based line of its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EditProblem {
    pub line: u32,
    /// The validation check that failed, or [`EDIT_SHAPE`].
    pub check: &'static str,
    pub message: String,
}

/// The text a reviewer edits for `sample`, ending with a newline.
pub fn edit_text(sample: &Sample) -> String {
    let edit = SampleEdit {
        sample_id: sample.sample_id.clone(),
        help: HELP,
        body: sample.body.clone(),
        trace: sample.trace.clone(),
        evidence: sample.evidence.iter().map(|e| e.chunk_id.clone()).collect(),
    };
    serde_json::to_string_pretty(&edit).expect("a sample edit serialises") + "\n"
}

/// Reads an edit of `original` back and validates the result against `index`: the edited
/// sample (its id unchanged), or every problem found, each on its line.
pub fn check_edit(
    original: &Sample,
    text: &str,
    index: &WorkspaceIndex,
    options: &ValidationOptions<'_>,
) -> Result<Sample, Vec<EditProblem>> {
    let edit: SampleEdit = serde_json::from_str(text).map_err(|err| {
        vec![EditProblem {
            line: err.line().saturating_sub(1) as u32,
            check: EDIT_SHAPE,
            message: format!("not a sample edit: {err}"),
        }]
    })?;
    let mut problems = Vec::new();
    let mut shape = |field: &str, message: String| {
        problems.push(EditProblem {
            line: line_of_field(text, field),
            check: EDIT_SHAPE,
            message,
        });
    };
    if edit.sample_id != original.sample_id {
        shape(
            "sample_id",
            format!(
                "this edits {}; sample_id is not for editing",
                original.sample_id
            ),
        );
    }
    if edit.body.task() != original.body.task() {
        shape(
            "task",
            format!("the task is {}", original.body.task().as_str()),
        );
    } else if edit.body.prompt() != original.body.prompt() {
        let field = match original.body {
            SampleBody::Qa { .. } => "question",
            SampleBody::Design { .. } => "requirement",
        };
        shape(
            field,
            format!(
                "the {field} says which sample this is; change the answer instead, or generate \
                 a sample for the new {field}"
            ),
        );
    }
    let quoted: Vec<&ChunkId> = original.evidence.iter().map(|e| &e.chunk_id).collect();
    if edit.evidence.iter().collect::<Vec<_>>() != quoted {
        shape(
            "evidence",
            "the evidence is the code the sample quotes and is not for editing; cite it from \
             the trace"
                .to_owned(),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut edited = original.clone();
    edited.body = edit.body;
    edited.trace = edit.trace;
    let report = validate_sample(&edited, index, options);
    if report.passed {
        return Ok(edited);
    }
    Err(report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .flat_map(|c| {
            c.problems.iter().map(|message| EditProblem {
                line: line_of_problem(text, c.check, message),
                check: c.check,
                message: message.clone(),
            })
        })
        .collect())
}

/// The line of `"field":` at the edit's top level (two spaces in), or 0.
fn line_of_field(text: &str, field: &str) -> u32 {
    let key = format!("  \"{field}\":");
    text.lines()
        .position(|line| line.starts_with(&key))
        .unwrap_or(0) as u32
}

/// Where a validation problem belongs: the trace step it names, else the first line after
/// the sample id that holds what it quotes (an identifier in backticks, a chunk id, a
/// number), else the field the check reads.
fn line_of_problem(text: &str, check: &str, message: &str) -> u32 {
    if let Some(step) = message
        .strip_prefix("step ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        && let Some(line) = text
            .lines()
            .enumerate()
            .filter(|(_, line)| line.trim_start().starts_with("\"claim\":"))
            .nth(step.saturating_sub(1))
    {
        return line.0 as u32;
    }
    let quoted = message
        .split('`')
        .nth(1)
        .filter(|_| message.contains('`'))
        .unwrap_or_else(|| message.split([' ', ':']).next().unwrap_or(""));
    let about_evidence = matches!(check, check::EVIDENCE_CURRENT | check::EVIDENCE_USED);
    if !quoted.is_empty() {
        let start = if about_evidence {
            line_of_field(text, "evidence")
        } else {
            line_of_field(text, "_help") + 1
        } as usize;
        if let Some(line) = text
            .lines()
            .enumerate()
            .skip(start)
            .find(|(_, line)| line.contains(quoted))
        {
            return line.0 as u32;
        }
    }
    match check {
        _ if about_evidence => line_of_field(text, "evidence"),
        check::TRACE_CITES_EVIDENCE => line_of_field(text, "trace"),
        _ => line_of_field(text, "answer").max(line_of_field(text, "design")),
    }
}
