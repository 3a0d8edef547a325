//! The review of the editor's samples (`.acdp/samples.jsonl`): `acdp.reviewSample` accepts
//! or rejects one, `acdp.editSample` writes it to `.acdp/review/<sample_id>.json` for the
//! editor to open, and opening or saving that file checks it
//! ([`acdp_sample::edit::check_edit`]): problems become diagnostics on the file, a clean save
//! records the sample as edited. `acdp.regenerateSample` lives in the server (it generates
//! like the code actions do) and ends in [`WorkspaceSamples::replace`].
//!
//! What the verdicts mean for the export is decided in `acdp_dataset::review`; the file
//! format in `acdp_dataset::workspace_samples`. Here: find the sample, check, record, convert.

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticSeverity, NumberOrString, Position, PublishDiagnosticsParams, Range, Uri,
};

use crate::convert::line_length_utf16;
use crate::error_codes::{SAMPLES_NOT_WRITABLE, error};
use crate::session::Session;
use crate::stale_evidence::SOURCE;
use acdp_dataset::workspace_samples::WorkspaceSamples;
use acdp_sample::edit::{EditProblem, check_edit, edit_text};
use acdp_sample::{Review, ReviewVerdict, Sample, ValidationOptions, validate_sample};

pub const REVIEW_SAMPLE: &str = "acdp.reviewSample";
pub const EDIT_SAMPLE: &str = "acdp.editSample";
pub const REGENERATE_SAMPLE: &str = "acdp.regenerateSample";

/// The argument of `acdp.reviewSample`.
#[derive(Clone, Debug, Deserialize)]
pub struct ReviewArgument {
    pub sample_id: String,
    pub verdict: Verdict,
}

/// What `acdp.reviewSample` records; an edit is recorded by saving the edit file.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    Rejected,
}

/// The argument of `acdp.editSample` and `acdp.regenerateSample`.
#[derive(Clone, Debug, Deserialize)]
pub struct SampleArgument {
    pub sample_id: String,
}

/// The result of `acdp.editSample`: the file to open.
#[derive(Clone, Debug, Serialize)]
pub struct EditFile {
    pub uri: Uri,
    pub path: String,
}

/// Now, as the review's time.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The folder holding the sample `id`, and the sample. Call [`Session::sync_samples`] first.
pub fn find_sample<'s>(session: &'s Session, id: &str) -> jsonrpc::Result<(usize, &'s Sample)> {
    (0..session.workspace_count())
        .find_map(|i| Some((i, session.workspace(i)?.samples.get(id)?)))
        .ok_or_else(|| {
            jsonrpc::Error::invalid_params(format!(
                "no sample {id} in the workspace's .acdp/samples.jsonl: it may have been \
                 removed; list the samples again"
            ))
        })
}

/// `acdp.reviewSample`. An accepted sample must still pass validation against the analysed
/// code (a stale one is regenerated or edited first); a rejected one is recorded as it is.
pub fn review_sample(
    session: &mut Session,
    argument: &ReviewArgument,
    at: String,
) -> jsonrpc::Result<Sample> {
    let (workspace, sample) = find_sample(session, &argument.sample_id)?;
    let verdict = match argument.verdict {
        Verdict::Accepted => {
            let snapshot = session
                .snapshot(workspace)
                .ok_or_else(super::sample_commands::not_analysed)?;
            let report = validate_sample(sample, &snapshot.index, &ValidationOptions::default());
            if !report.passed {
                let failed: Vec<String> = report
                    .checks
                    .iter()
                    .filter(|c| !c.passed)
                    .map(|c| format!("{}: {}", c.check, c.problems.join("; ")))
                    .collect();
                return Err(jsonrpc::Error::invalid_params(format!(
                    "{} does not pass validation against the code now ({}); regenerate or \
                     edit it before accepting it",
                    argument.sample_id,
                    failed.join(" | ")
                )));
            }
            ReviewVerdict::Accepted
        }
        Verdict::Rejected => ReviewVerdict::Rejected,
    };
    let review = Review {
        verdict,
        at,
        reviewer: session.settings().options.settings.reviewer.clone(),
    };
    record(session, workspace, &argument.sample_id, review, None)
}

/// `acdp.editSample`: writes the sample's edit text to its file and says where it is.
pub fn write_edit_file(session: &mut Session, id: &str) -> jsonrpc::Result<EditFile> {
    let (workspace, sample) = find_sample(session, id)?;
    let text = edit_text(sample);
    let samples = &session
        .workspace(workspace)
        .expect("find_sample returned this folder")
        .samples;
    let path = samples.edit_path(id);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| acdp_durable::write_atomic(&path, text.as_bytes()));
    if let Err(err) = written {
        return Err(error(
            SAMPLES_NOT_WRITABLE,
            format!(
                "acdp: cannot write {}: {err} (check that the folder is writable)",
                path.display()
            ),
        ));
    }
    let uri = Uri::from_file_path(&path).ok_or_else(|| {
        jsonrpc::Error::invalid_params(format!("{} has no file URI", path.display()))
    })?;
    Ok(EditFile {
        uri,
        path: path.display().to_string(),
    })
}

/// What checking an edit file gave: its diagnostics (none when clean), and on a clean save
/// that changed the sample, the sample as recorded.
pub struct EditCheck {
    pub diagnostics: PublishDiagnosticsParams,
    pub recorded: Option<Sample>,
}

/// Checks the edit file at `uri` holding `text` (on open and on save). `None` when `uri` is
/// not an edit file. With `save`, a clean edit that changes the sample is recorded as edited.
pub fn check_edit_file(
    session: &mut Session,
    uri: &Uri,
    text: &str,
    save: bool,
    at: String,
) -> Option<jsonrpc::Result<EditCheck>> {
    let path = uri.to_file_path()?.into_owned();
    let (workspace, id) = (0..session.workspace_count()).find_map(|i| {
        let samples: &WorkspaceSamples = &session.workspace(i)?.samples;
        Some((i, samples.edited_sample_id(&path)?))
    })?;
    let diagnostics = |problems: Vec<EditProblem>| PublishDiagnosticsParams {
        uri: uri.clone(),
        diagnostics: problems.into_iter().map(|p| diagnostic(p, text)).collect(),
        version: None,
    };
    let Some(original) = session.workspace(workspace)?.samples.get(&id).cloned() else {
        return Some(Ok(EditCheck {
            diagnostics: diagnostics(vec![EditProblem {
                line: 0,
                check: acdp_sample::edit::EDIT_SHAPE,
                message: format!(
                    "no sample {id} in .acdp/samples.jsonl any more: it was regenerated or \
                     removed; this edit is not used"
                ),
            }]),
            recorded: None,
        }));
    };
    let Some(snapshot) = session.snapshot(workspace).cloned() else {
        return Some(Err(super::sample_commands::not_analysed()));
    };
    let checked = check_edit(
        &original,
        text,
        &snapshot.index,
        &ValidationOptions::default(),
    );
    Some(match checked {
        Err(problems) => Ok(EditCheck {
            diagnostics: diagnostics(problems),
            recorded: None,
        }),
        Ok(edited) if !save || (edited.body == original.body && edited.trace == original.trace) => {
            Ok(EditCheck {
                diagnostics: diagnostics(Vec::new()),
                recorded: None,
            })
        }
        Ok(edited) => {
            let review = Review {
                verdict: ReviewVerdict::Edited,
                at,
                reviewer: session.settings().options.settings.reviewer.clone(),
            };
            record(session, workspace, &id, review, Some(edited)).map(|sample| EditCheck {
                diagnostics: diagnostics(Vec::new()),
                recorded: Some(sample),
            })
        }
    })
}

fn record(
    session: &mut Session,
    workspace: usize,
    id: &str,
    review: Review,
    edited: Option<Sample>,
) -> jsonrpc::Result<Sample> {
    let samples = &mut session
        .workspace_mut(workspace)
        .ok_or_else(|| jsonrpc::Error::invalid_params("the workspace folder is gone"))?
        .samples;
    samples
        .record_review(id, review, edited)
        .cloned()
        .map_err(|err| error(SAMPLES_NOT_WRITABLE, format!("acdp: {err}")))
}

/// An Error on the whole line of the problem.
fn diagnostic(problem: EditProblem, text: &str) -> Diagnostic {
    Diagnostic {
        range: Range::new(
            Position::new(problem.line, 0),
            Position::new(problem.line, line_length_utf16(text, problem.line)),
        ),
        severity: Some(DiagnosticSeverity::ERROR),
        code: Some(NumberOrString::String(problem.check.to_owned())),
        source: Some(SOURCE.to_owned()),
        message: problem.message,
        ..Diagnostic::default()
    }
}
