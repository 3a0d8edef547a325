//! `workspace/executeCommand`: parsing the commands acdp advertises, and the ones answered
//! from the session alone. `acdp.reindex` and `acdp.exportDataset` need the client for
//! progress, so the server runs them (see [`crate::indexing`], [`crate::export`],
//! [`crate::training`] for `acdp.train`, [`crate::evaluation`] for `acdp.eval`);
//! the sample commands are in [`super::sample_commands`], the review commands in
//! [`super::review_commands`].

use serde::Deserialize;
use serde_json::Value;
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::ExecuteCommandParams;

use super::chunk::{ChunkInfo, ChunkParams, chunk, chunk_by_id};
use super::review_commands::{
    EDIT_SAMPLE, REGENERATE_SAMPLE, REVIEW_SAMPLE, ReviewArgument, SampleArgument,
};
use super::sample_commands::{ChunkArgument, DesignArgument};
use crate::evaluation::EvalArgument;
use crate::session::Session;
use crate::training::TrainArgument;
use acdp_index::ChunkId;

pub const REINDEX: &str = "acdp.reindex";
pub const SHOW_CHUNK: &str = "acdp.showChunk";
pub const GENERATE_QA: &str = "acdp.generateQa";
pub const GENERATE_DESIGN: &str = "acdp.generateDesign";
pub const SHOW_RULES: &str = "acdp.showRules";
pub const EXPORT_DATASET: &str = "acdp.exportDataset";
pub const TRAIN: &str = "acdp.train";
pub const EVAL: &str = "acdp.eval";
/// Test-only commands, accepted with `initializationOptions.enableDebugCommands`.
pub const DEBUG_PANIC: &str = "acdp.debug.panic";
pub const DEBUG_SLEEP: &str = "acdp.debug.sleep";

/// The commands listed in `executeCommandProvider`.
pub const COMMANDS: &[&str] = &[
    REINDEX,
    SHOW_CHUNK,
    GENERATE_QA,
    GENERATE_DESIGN,
    SHOW_RULES,
    EXPORT_DATASET,
    TRAIN,
    EVAL,
    REVIEW_SAMPLE,
    EDIT_SAMPLE,
    REGENERATE_SAMPLE,
];

/// A parsed command.
#[derive(Debug)]
pub enum AcdpCommand {
    Reindex,
    ShowChunk(ShowChunkTarget),
    GenerateQa(ChunkArgument),
    GenerateDesign(DesignArgument),
    ShowRules(ChunkArgument),
    ExportDataset(ExportArgument),
    Train(TrainArgument),
    Eval(EvalArgument),
    ReviewSample(ReviewArgument),
    EditSample(SampleArgument),
    RegenerateSample(SampleArgument),
    DebugPanic,
    DebugSleep { ms: u64 },
}

/// The argument of `acdp.showChunk`: a chunk id, or a position in a document.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ShowChunkTarget {
    Id { chunk_id: ChunkId },
    Position(ChunkParams),
}

/// The optional argument of `acdp.exportDataset`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExportArgument {
    /// Output folder; default `<first workspace folder>/.acdp/dataset`. Relative paths are
    /// taken from the first workspace folder.
    pub out: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
struct SleepArgs {
    ms: u64,
}

pub fn parse_command(
    params: &ExecuteCommandParams,
    debug_commands: bool,
) -> jsonrpc::Result<AcdpCommand> {
    let args = &params.arguments;
    match params.command.as_str() {
        REINDEX if args.is_empty() => Ok(AcdpCommand::Reindex),
        REINDEX => Err(jsonrpc::Error::invalid_params(
            "acdp.reindex takes no arguments",
        )),
        SHOW_CHUNK => one_argument(
            args,
            SHOW_CHUNK,
            r#"{"chunk_id": "c…"} or {"uri": …, "position": …}"#,
        )
        .map(AcdpCommand::ShowChunk),
        GENERATE_QA => {
            one_argument(args, GENERATE_QA, r#"{"chunk_id": "c…"}"#).map(AcdpCommand::GenerateQa)
        }
        GENERATE_DESIGN => one_argument(
            args,
            GENERATE_DESIGN,
            r#"{"chunk_id": "c…", "requirement": "…"}"#,
        )
        .map(AcdpCommand::GenerateDesign),
        SHOW_RULES => {
            one_argument(args, SHOW_RULES, r#"{"chunk_id": "c…"}"#).map(AcdpCommand::ShowRules)
        }
        EXPORT_DATASET if args.is_empty() => {
            Ok(AcdpCommand::ExportDataset(ExportArgument::default()))
        }
        EXPORT_DATASET => one_argument(args, EXPORT_DATASET, r#"{"out": "/path/to/dir"}"#)
            .map(AcdpCommand::ExportDataset),
        TRAIN if args.is_empty() => Ok(AcdpCommand::Train(TrainArgument::default())),
        TRAIN => one_argument(
            args,
            TRAIN,
            r#"{"data": "dir", "out": "dir", "epochs": 1, "accum": 8, "resume": false, …}"#,
        )
        .map(AcdpCommand::Train),
        EVAL if args.is_empty() => Ok(AcdpCommand::Eval(EvalArgument::default())),
        EVAL => one_argument(args, EVAL, r#"{"cases": "eval.jsonl", "withModel": false}"#)
            .map(AcdpCommand::Eval),
        REVIEW_SAMPLE => one_argument(
            args,
            REVIEW_SAMPLE,
            r#"{"sample_id": "qa-…", "verdict": "accepted" | "rejected"}"#,
        )
        .map(AcdpCommand::ReviewSample),
        EDIT_SAMPLE => {
            one_argument(args, EDIT_SAMPLE, r#"{"sample_id": "qa-…"}"#).map(AcdpCommand::EditSample)
        }
        REGENERATE_SAMPLE => one_argument(args, REGENERATE_SAMPLE, r#"{"sample_id": "qa-…"}"#)
            .map(AcdpCommand::RegenerateSample),
        DEBUG_PANIC if debug_commands => Ok(AcdpCommand::DebugPanic),
        DEBUG_SLEEP if debug_commands => {
            one_argument::<SleepArgs>(args, DEBUG_SLEEP, r#"{"ms": 1000}"#)
                .map(|a| AcdpCommand::DebugSleep { ms: a.ms })
        }
        other => Err(jsonrpc::Error::invalid_params(format!(
            "unknown command `{other}`; acdp knows {}",
            COMMANDS.join(", ")
        ))),
    }
}

fn one_argument<T: for<'de> Deserialize<'de>>(
    args: &[Value],
    command: &str,
    shape: &str,
) -> jsonrpc::Result<T> {
    match args {
        [arg] => serde_json::from_value(arg.clone()).map_err(|err| {
            jsonrpc::Error::invalid_params(format!(
                "{command}: {err}; expected one argument {shape}"
            ))
        }),
        _ => Err(jsonrpc::Error::invalid_params(format!(
            "{command} takes one argument {shape}, got {}",
            args.len()
        ))),
    }
}

/// `acdp.showChunk`: the chunk, as `acdp/chunk` answers it, or `null`.
pub fn show_chunk(
    session: &Session,
    target: &ShowChunkTarget,
) -> jsonrpc::Result<Option<ChunkInfo>> {
    match target {
        ShowChunkTarget::Id { chunk_id } => Ok(chunk_by_id(session, chunk_id)),
        ShowChunkTarget::Position(params) => chunk(session, params),
    }
}
