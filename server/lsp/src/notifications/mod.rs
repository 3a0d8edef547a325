//! One file per notification. Each is a plain function over a mutable
//! [`super::session::Session`] that returns what the server should tell the client; the
//! server calls it under the session lock, before any `.await`.

pub mod did_change;
pub mod did_change_configuration;
pub mod did_change_watched_files;
pub mod did_close;
pub mod did_open;
pub mod did_save;

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::Uri;
use tower_lsp_server::ls_types::notification::Notification;

use acdp_index::{ChunkDelta, ChunkId};

/// `acdp/chunksChanged` (server -> client): the chunks an open document gained, lost or
/// changed with one `didOpen` or `didChange`. Samples citing a `changed` or `removed` chunk
/// have stale evidence.
pub enum ChunksChanged {}

impl Notification for ChunksChanged {
    type Params = ChunksChangedParams;
    const METHOD: &'static str = "acdp/chunksChanged";
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunksChangedParams {
    pub uri: Uri,
    pub version: i32,
    pub added: Vec<ChunkId>,
    pub removed: Vec<ChunkId>,
    /// New content hash: evidence citing these is stale.
    pub changed: Vec<ChunkId>,
    /// Same text, other lines.
    pub moved: Vec<ChunkId>,
}

impl ChunksChangedParams {
    pub fn new(uri: Uri, version: i32, delta: ChunkDelta) -> Self {
        ChunksChangedParams {
            uri,
            version,
            added: delta.added,
            removed: delta.removed,
            changed: delta.changed,
            moved: delta.moved,
        }
    }
}

/// What a notification handler asks the server to send.
#[derive(Debug, Default)]
pub struct Outcome {
    pub chunks_changed: Option<ChunksChangedParams>,
    /// Lines for `window/logMessage` (and the log file): (is_warning, message).
    pub log: Vec<(bool, String)>,
}

impl Outcome {
    pub fn warn(message: String) -> Self {
        Outcome {
            chunks_changed: None,
            log: vec![(true, message)],
        }
    }
}
