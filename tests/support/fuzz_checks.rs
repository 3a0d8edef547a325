//! The bodies of the fuzz targets in `server/fuzz`, shared with `tests/regressions.rs` so that
//! every input a fuzzer once crashed on is replayed by `cargo test` through exactly the code
//! and the checks that found it.
//!
//! Each function takes raw fuzzer bytes and panics when an invariant breaks:
//! - [`java_chunker`]: chunk ranges, lines, ids and hashes agree with the text; deterministic;
//! - [`mapper_xml`]: the same for MyBatis mapper files;
//! - [`document_edits`]: any sequence of LSP edits (valid, out of range, stale) leaves the
//!   document store with the text an editor would have and, once settled, the chunks of a
//!   fresh parse; the reported deltas match the chunk lists;
//! - [`lsp_input`]: any bytes a client sends after `initialize` are answered or ignored without
//!   a panic, whatever the framing, JSON or params.
//!
//! The bytes are decoded by a small reader of our own (no `arbitrary`), so the replays need no
//! dependency the main crate does not already have.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;

use acdp_index::{
    Chunk, ChunkId, ContentHash, DocumentError, DocumentStore, Language, Position, Range,
    TextChange, java, mapper_xml as mapper,
};

/// Reads fuzzer bytes as a stream of small values; runs dry as zeros.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks what every chunk of one file must satisfy, whatever the input.
pub fn check_chunks(path: &str, text: &str, chunks: &[Chunk]) {
    let mut ids = HashSet::new();
    for chunk in chunks {
        let what = format!("{} {:?}", chunk.symbol, chunk.kind);
        assert!(
            chunk.start_byte <= chunk.end_byte && chunk.end_byte <= text.len(),
            "{what}: range {}..{} outside the text of {} bytes",
            chunk.start_byte,
            chunk.end_byte,
            text.len()
        );
        assert!(
            text.is_char_boundary(chunk.start_byte) && text.is_char_boundary(chunk.end_byte),
            "{what}: range is not on character boundaries"
        );
        assert_eq!(chunk.path, path);
        let line_at = |offset: usize| text[..offset].matches('\n').count() as u32 + 1;
        assert_eq!(
            chunk.start_line,
            line_at(chunk.start_byte),
            "{what}: start line"
        );
        assert!(chunk.start_line <= chunk.end_line, "{what}: lines reversed");
        assert!(
            chunk.end_line <= line_at(chunk.end_byte),
            "{what}: end line {} past the end byte's line",
            chunk.end_line
        );
        assert_eq!(
            chunk.chunk_id,
            ChunkId::compute(path, chunk.kind, &chunk.symbol),
            "{what}: id is not derived from path, kind and symbol"
        );
        assert!(
            chunk.chunk_id.is_well_formed(),
            "{what}: {}",
            chunk.chunk_id
        );
        assert_eq!(
            chunk.content_hash,
            ContentHash::of(chunk.text(text)),
            "{what}: content hash"
        );
        if let Some(parent) = &chunk.parent {
            assert!(
                ids.contains(parent),
                "{what}: parent {parent} is not an earlier chunk"
            );
        }
        assert!(
            ids.insert(chunk.chunk_id.clone()),
            "{what}: duplicate id {}",
            chunk.chunk_id
        );
    }
}

/// Parses and chunks the bytes as a Java file (invalid UTF-8 replaced, as nothing else reaches
/// the chunker), twice, and checks the chunks.
pub fn java_chunker(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = "src/main/java/Fuzz.java";
    let mut parser = java::new_parser();
    let tree = java::parse(&mut parser, &text, None);
    let (chunks, warnings) = java::chunk_java(path, &text, &tree);
    check_chunks(path, &text, &chunks);
    let lines = text.matches('\n').count() as u32 + 1;
    for warning in &warnings {
        assert!(
            (1..=lines).contains(&warning.line),
            "warning outside the file: {warning}"
        );
    }
    let tree = java::parse(&mut parser, &text, None);
    assert_eq!(
        java::chunk_java(path, &text, &tree),
        (chunks, warnings),
        "chunking is not deterministic"
    );
}

/// Reads the bytes as a MyBatis mapper file and checks the chunks.
pub fn mapper_xml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = "src/main/resources/mapper/FuzzMapper.xml";
    let _ = mapper::is_mapper_xml(&text);
    let (chunks, warnings) = mapper::chunk_mapper_xml(path, &text);
    check_chunks(path, &text, &chunks);
    for chunk in &chunks {
        assert!(chunk.text(&text).starts_with('<'), "{}", chunk.symbol);
    }
    let lines = text.matches('\n').count() as u32 + 1;
    for warning in &warnings {
        assert!(
            (1..=lines).contains(&warning.line),
            "warning outside the file: {warning}"
        );
    }
}

/// Text pieces that change the shape of a Java or mapper file, for the edit target.
const SNIPPETS: &[&str] = &[
    "",
    "}",
    "{",
    "(",
    ")",
    ";",
    "\n",
    "\r\n",
    "\u{feff}",
    "// 注释 😀\n",
    "/*",
    "*/",
    "\"",
    "class C { void m() {} }\n",
    "    public void added(int a, String... b) { return; }\n",
    "interface I { int f(); }",
    "enum E { A, B; void g() {} }",
    "record R(int x) { R { } }",
    "@interface N { int v() default 1; }",
    "package p.q;\n",
    "@Transactional\n",
    "<select id=\"s\">select 1</select>",
    "<mapper namespace=\"m.M\">",
    "</mapper>",
    "<!-- doc -->",
    "<sql id=\"c\"/>",
];

const JAVA_START: &str = "package shop;\n\nclass A {\n    int x;\n    /** doc */\n    void f(int a) { if (a > 0) { g(); } }\n    A() {}\n}\n";
const MAPPER_START: &str = "<mapper namespace=\"shop.M\">\n  <!-- one -->\n  <select id=\"a\">select 1</select>\n  <update id=\"b\">update t</update>\n</mapper>\n";

/// LSP position of a byte offset, computed independently of the store.
fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line,
        character: before[line_start..].encode_utf16().count() as u32,
    }
}

/// The nearest offset at or before `offset` that an LSP position can name: on a character
/// boundary and not between the `\r` and `\n` of a line break (the first fuzz finding was
/// this harness asking for that).
fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    if offset > 0 && text[..offset].ends_with('\r') && text[offset..].starts_with('\n') {
        offset -= 1;
    }
    offset
}

/// Drives one document through edits decoded from the bytes and checks it against a fresh
/// parse of the text an editor would hold.
pub fn document_edits(data: &[u8]) {
    let mut bytes = Bytes(data);
    let path = "src/shop/A.java";
    let language = if bytes.u8() % 2 == 0 {
        Language::Java
    } else {
        Language::MapperXml
    };
    let start = match language {
        Language::Java => JAVA_START,
        Language::MapperXml => MAPPER_START,
    };
    let mut store = DocumentStore::default();
    let mut expected = start.to_owned();
    let mut version = 0;
    let opened = store.open(path, language, version, expected.clone());
    assert!(opened.removed.is_empty() && opened.changed.is_empty());
    let mut batch: Vec<TextChange> = Vec::new();
    let mut steps = 0;
    while !bytes.is_empty() && steps < 64 {
        steps += 1;
        match bytes.u8() % 8 {
            // A valid range edit, positions computed here.
            0..=3 => {
                let at =
                    floor_char_boundary(&expected, bytes.u16() as usize * expected.len() / 65535);
                let end = floor_char_boundary(&expected, at + bytes.u8() as usize % 48).max(at);
                let text = if bytes.u8() % 4 == 0 {
                    let n = bytes.u8() as usize % 16;
                    String::from_utf8_lossy(bytes.take(n)).into_owned()
                } else {
                    SNIPPETS[bytes.u8() as usize % SNIPPETS.len()].to_owned()
                };
                let (start_pos, end_pos) =
                    (position_of(&expected, at), position_of(&expected, end));
                // Either direction: LSP clients do not send reversed ranges, but the store
                // accepts them.
                let range = if bytes.u8() % 8 == 0 {
                    Range {
                        start: end_pos,
                        end: start_pos,
                    }
                } else {
                    Range {
                        start: start_pos,
                        end: end_pos,
                    }
                };
                expected.replace_range(at..end, &text);
                batch.push(TextChange {
                    range: Some(range),
                    text,
                });
            }
            // A whole-document replacement.
            4 => {
                let text = SNIPPETS[bytes.u8() as usize % SNIPPETS.len()]
                    .repeat(1 + bytes.u8() as usize % 3);
                expected = text.clone();
                batch.push(TextChange { range: None, text });
            }
            // A raw position from the bytes, perhaps outside the document: sent on its own.
            5 => {
                flush(&mut store, path, &mut version, &mut batch, &expected);
                let range = Range {
                    start: Position {
                        line: (bytes.u8() % 16) as u32,
                        character: bytes.u16() as u32,
                    },
                    end: Position {
                        line: (bytes.u8() % 16) as u32,
                        character: bytes.u16() as u32,
                    },
                };
                let text = SNIPPETS[bytes.u8() as usize % SNIPPETS.len()].to_owned();
                version += 1;
                let old = store.get(path).expect("open").chunks.clone();
                match store.apply_changes(
                    path,
                    version,
                    &[TextChange {
                        range: Some(range),
                        text,
                    }],
                ) {
                    Ok(delta) => {
                        expected = store.get(path).expect("open").text.clone();
                        check_delta(&old, &store.get(path).expect("open").chunks, &delta);
                    }
                    Err(DocumentError::BadPosition { .. }) => {
                        assert_eq!(store.get(path).expect("open").text, expected);
                    }
                    Err(err) => panic!("unexpected error: {err}"),
                }
            }
            // A stale version is refused and changes nothing.
            6 => {
                flush(&mut store, path, &mut version, &mut batch, &expected);
                let before = store.get(path).expect("open").chunks.clone();
                let stale = version - (bytes.u8() % 3) as i32;
                let result = store.apply_changes(
                    path,
                    stale,
                    &[TextChange {
                        range: None,
                        text: "x".into(),
                    }],
                );
                assert!(matches!(result, Err(DocumentError::StaleVersion { .. })));
                let document = store.get(path).expect("open");
                assert_eq!(document.text, expected);
                assert_eq!(document.chunks, before);
            }
            // Send the pending changes as one didChange; sometimes settle, as a pause would.
            _ => {
                flush(&mut store, path, &mut version, &mut batch, &expected);
                if bytes.u8() % 2 == 0 {
                    store.settle(path);
                }
            }
        }
    }
    flush(&mut store, path, &mut version, &mut batch, &expected);
    store.settle(path);
    assert!(!store.is_unsettled(path));
    let live = store.get(path).expect("open");
    assert_eq!(live.text, expected);
    let mut fresh = DocumentStore::default();
    fresh.open(path, language, 0, expected.clone());
    let fresh = fresh.get(path).expect("open");
    assert_eq!(live.chunks, fresh.chunks, "incremental != fresh parse");
    assert_eq!(live.warnings, fresh.warnings, "incremental != fresh parse");
    check_chunks(path, &live.text, &live.chunks);
}

fn flush(
    store: &mut DocumentStore,
    path: &str,
    version: &mut i32,
    batch: &mut Vec<TextChange>,
    expected: &str,
) {
    if batch.is_empty() {
        return;
    }
    *version += 1;
    let old = store.get(path).expect("open").chunks.clone();
    let delta = store
        .apply_changes(path, *version, batch)
        .unwrap_or_else(|err| panic!("valid edits refused: {err}"));
    batch.clear();
    let document = store.get(path).expect("open");
    assert_eq!(
        document.text, expected,
        "the store's text differs from the editor's"
    );
    check_delta(&old, &document.chunks, &delta);
}

/// A delta must say exactly which ids came and went, and which stayed but changed.
fn check_delta(old: &[Chunk], new: &[Chunk], delta: &acdp_index::ChunkDelta) {
    let old_ids: HashSet<_> = old.iter().map(|c| &c.chunk_id).collect();
    let new_ids: HashSet<_> = new.iter().map(|c| &c.chunk_id).collect();
    let added: HashSet<_> = delta.added.iter().collect();
    let removed: HashSet<_> = delta.removed.iter().collect();
    assert_eq!(added, new_ids.difference(&old_ids).copied().collect());
    assert_eq!(removed, old_ids.difference(&new_ids).copied().collect());
    for id in delta.changed.iter().chain(&delta.moved) {
        assert!(old_ids.contains(id) && new_ids.contains(id), "{id}");
    }
}

/// A small workspace for the server to index: one service, one mapper.
fn write_workspace(root: &Path) {
    let java = root.join("src/main/java/shop");
    let xml = root.join("src/main/resources/mapper");
    std::fs::create_dir_all(&java).expect("temp dir");
    std::fs::create_dir_all(&xml).expect("temp dir");
    std::fs::write(
        java.join("OrderService.java"),
        "package shop;\n\npublic class OrderService {\n    private OrderDao dao;\n\n    /** Cancels an order. */\n    public void cancel(Long id) {\n        if (id == null) {\n            throw new IllegalArgumentException(\"id\");\n        }\n        dao.updateStatus(id, 4);\n    }\n}\n",
    )
    .expect("temp dir");
    std::fs::write(
        xml.join("OrderDao.xml"),
        "<mapper namespace=\"shop.OrderDao\">\n  <update id=\"updateStatus\">update orders set status = #{status} where id = #{id}</update>\n</mapper>\n",
    )
    .expect("temp dir");
}

fn frame(out: &mut Vec<u8>, body: &str) {
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body.as_bytes());
}

/// The folder name that inputs use for the workspace root: `file:///tmp/acdp-fuzz-000000/...`.
const ROOT_PLACEHOLDER: &[u8] = b"acdp-fuzz-000000";

/// Replaces the placeholder folder name with the real one, which has the same length, so that
/// inputs can name the workspace's files without changing any `Content-Length`.
fn with_root_name(data: &[u8], root: &Path) -> Vec<u8> {
    let name = root
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or_default();
    if name.len() != ROOT_PLACEHOLDER.len() {
        return data.to_vec();
    }
    let mut out = data.to_vec();
    let mut i = 0;
    while i + name.len() <= out.len() {
        if &out[i..i + name.len()] == ROOT_PLACEHOLDER {
            out[i..i + name.len()].copy_from_slice(name);
            i += name.len();
        } else {
            i += 1;
        }
    }
    out
}

/// Id of the warm-up request whose answer says the workspace is indexed and analysed.
const WARM_UP_ID: &str = "\"id\":\"acdp-fuzz-warm-up\"";

/// Feeds `data` to an in-process server (see `acdp_lsp::serve`) after `initialize`,
/// `initialized` and a finished `acdp.reindex`, so that requests reach analysed code.
///
/// Inputs naming `acdp.exportDataset` are not sent: that command writes a dataset wherever its
/// `out` argument points, and a fuzzer must not write outside its temporary folder.
///
/// Returns what the server wrote after the warm-up.
pub fn lsp_input(data: &[u8]) -> Vec<u8> {
    if data
        .windows(b"exportDataset".len())
        .any(|w| w == b"exportDataset")
    {
        return Vec::new();
    }
    let root = tempfile::Builder::new()
        .prefix("acdp-fuzz-")
        .rand_bytes(6)
        .tempdir()
        .expect("temp dir");
    write_workspace(root.path());
    let data = with_root_name(data, root.path());
    let root_uri = format!("file://{}", root.path().display());
    let mut warm_up = Vec::new();
    frame(
        &mut warm_up,
        &format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"processId":null,"rootUri":"{root_uri}","capabilities":{{}},"initializationOptions":{{"logFile":"{}/lsp.log"}}}}}}"#,
            root.path().display()
        ),
    );
    frame(
        &mut warm_up,
        r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
    );
    frame(
        &mut warm_up,
        &format!(
            r#"{{"jsonrpc":"2.0",{WARM_UP_ID},"method":"workspace/executeCommand","params":{{"command":"acdp.reindex","arguments":[]}}}}"#
        ),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let output = runtime.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client_out, server_in) = tokio::io::duplex(1 << 16);
        let (server_out, mut client_in) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(acdp_lsp::serve(
            server_in,
            server_out,
            acdp_lsp::ServeOptions::default(),
        ));
        client_out.write_all(&warm_up).await.expect("server reads");
        // Read until the warm-up answer, then keep draining so the server never blocks on
        // output.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let drain = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut ready = Some(ready_tx);
            let mut buf = vec![0; 1 << 14];
            loop {
                match client_in.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        seen.extend_from_slice(&buf[..n]);
                        if ready.is_some()
                            && let Some(at) = seen
                                .windows(WARM_UP_ID.len())
                                .position(|w| w == WARM_UP_ID.as_bytes())
                            && let Some(ready) = ready.take()
                        {
                            seen.drain(..at + WARM_UP_ID.len());
                            let _ = ready.send(());
                        }
                    }
                }
            }
            seen
        });
        let ready = tokio::time::timeout(std::time::Duration::from_secs(20), ready_rx).await;
        assert!(
            matches!(ready, Ok(Ok(()))),
            "the server did not answer the warm-up acdp.reindex"
        );
        let _ = client_out.write_all(&data).await;
        drop(client_out);
        // The server ends at `exit` or at the end of input; a handler that waits for a client
        // answer that will never come is not a server bug, so give up after a while.
        let finished = tokio::time::timeout(std::time::Duration::from_secs(20), server).await;
        if let Ok(Err(err)) = finished
            && err.is_panic()
        {
            std::panic::resume_unwind(err.into_panic());
        }
        // The output ends with the server; after a timeout, take what came so far.
        match tokio::time::timeout(std::time::Duration::from_secs(1), drain).await {
            Ok(Ok(seen)) => seen,
            _ => Vec::new(),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    output
}
