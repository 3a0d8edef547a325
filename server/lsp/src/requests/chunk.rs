//! `acdp/chunk`: the chunk at a position, with its id, range, hash and text.

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{self, Uri};

use crate::convert;
use crate::session::{FileKey, FileView, Session};
use acdp_index::{Chunk, ChunkId, ChunkKind, ContentHash};

pub const METHOD: &str = "acdp/chunk";

/// Params of `acdp/chunk` (and of `acdp.showChunk` by position): the document as LSP's usual
/// `textDocument: {uri}` or as a bare `uri`, and a position. Unknown fields are ignored, as
/// LSP clients expect.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "PositionParamsWire")]
pub struct ChunkParams {
    pub uri: Uri,
    pub position: ls_types::Position,
}

/// What a client may send for [`ChunkParams`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionParamsWire {
    uri: Option<Uri>,
    text_document: Option<ls_types::TextDocumentIdentifier>,
    position: ls_types::Position,
}

impl TryFrom<PositionParamsWire> for ChunkParams {
    type Error = &'static str;

    fn try_from(wire: PositionParamsWire) -> Result<ChunkParams, Self::Error> {
        let uri = wire
            .text_document
            .map(|document| document.uri)
            .or(wire.uri)
            .ok_or("missing the document: send `textDocument: {uri}` (or `uri`)")?;
        Ok(ChunkParams {
            uri,
            position: wire.position,
        })
    }
}

/// A chunk as the editor sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkInfo {
    pub chunk_id: ChunkId,
    pub kind: ChunkKind,
    pub symbol: String,
    pub uri: Uri,
    pub range: ls_types::Range,
    pub content_hash: ContentHash,
    pub text: String,
    /// The document version the chunk was cut from; `null` for files that are not open.
    pub version: Option<i32>,
}

/// The chunk at `params.position`, or `None` outside every chunk and for unknown files.
pub fn chunk(session: &Session, params: &ChunkParams) -> jsonrpc::Result<Option<ChunkInfo>> {
    let Some(key) = session.locate(&params.uri) else {
        return Ok(None);
    };
    let Some(view) = session.file(&key) else {
        return Ok(None);
    };
    let position = convert::position_from_lsp(params.position);
    Ok(view
        .chunk_at(position)
        .and_then(|chunk| chunk_info(session, &key, view, chunk)))
}

/// The chunk with this id, wherever it is.
pub fn chunk_by_id(session: &Session, id: &ChunkId) -> Option<ChunkInfo> {
    let (key, view, chunk) = session.find_chunk(id)?;
    chunk_info(session, &key, view, chunk)
}

pub fn chunk_info(
    session: &Session,
    key: &FileKey,
    view: FileView<'_>,
    chunk: &Chunk,
) -> Option<ChunkInfo> {
    Some(ChunkInfo {
        chunk_id: chunk.chunk_id.clone(),
        kind: chunk.kind,
        symbol: chunk.symbol.clone(),
        uri: session.uri_of(key)?,
        range: convert::range_to_lsp(view.range_of(chunk)?),
        content_hash: chunk.content_hash.clone(),
        text: chunk.text(view.text()).to_owned(),
        version: view.version(),
    })
}
