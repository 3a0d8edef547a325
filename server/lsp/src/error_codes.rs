//! acdp's JSON-RPC error codes, in one place (docs/lsp.md lists them with what a client should
//! do). They sit in JSON-RPC's server-defined range, -32000 to -32099; cancellation answers
//! LSP's own `-32800` (RequestCancelled).

use tower_lsp_server::jsonrpc::{Error, ErrorCode};

/// No base model configured (`acdp.train`): set `acdp.modelDir`.
pub const NO_MODEL: i64 = -32001;
/// `acdp.exportDataset` failed (bad `acdp.toml`, unwritable folder, nothing kept).
pub const EXPORT_FAILED: i64 = -32003;
/// `.acdp/samples.jsonl` could not be written.
pub const SAMPLES_NOT_WRITABLE: i64 = -32004;
/// No folder is analysed yet (indexing still running): ask again when its progress ends.
pub const NOT_ANALYSED: i64 = -32005;
/// The model could not be loaded or failed while answering.
pub const MODEL_FAILED: i64 = -32006;
/// A job could not run: `acdp.eval` (no file, bad file, model) or `acdp.train` (could not
/// start, failed, another run going).
pub const JOB_FAILED: i64 = -32007;
/// The LLM endpoint could not be used.
pub const LLM_FAILED: i64 = -32008;

/// An error with one of the codes above.
pub fn error(code: i64, message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(code),
        message: message.into().into(),
        data: None,
    }
}
