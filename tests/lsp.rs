//! The language server as an editor sees it: the real `acdp lsp` binary driven over stdio on a
//! copy of fixtures/shop. Answers are checked against the library (`acdp_index`), so a
//! chunk the server reports is the chunk `acdp index` would cut from the same text.

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{copy_dir, fixture};

#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/lsp_client.rs"]
mod lsp_client;
#[path = "support/tiny_model.rs"]
mod tiny_model;

use std::path::{Path, PathBuf};

use acdp_index::{Chunk, ChunkKind, IndexOptions, Language, chunk_source, index_workspace, java};
use lsp_client::{LspClient, offset_of, position_of};
use serde_json::{Value, json};

const SERVICE: &str =
    "src/main/java/com/acme/shop/order/service/impl/OmsPortalOrderServiceImpl.java";
const UTIL: &str = "src/main/java/com/acme/shop/common/util/AmountUtil.java";

/// A copy of fixtures/shop without its stored state, so tests never write into fixtures/.
fn copy_shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture("shop"), dir.path());
    dir
}

fn uri(root: &Path, rel: &str) -> String {
    format!("file://{}/{rel}", root.display())
}

fn start(root: &Path) -> LspClient {
    LspClient::start(
        env!("CARGO_BIN_EXE_acdp"),
        root,
        &root.join("acdp-lsp.stderr"),
    )
}

/// `initialize` + `initialized` with a client that supports progress and dynamic file
/// watching; returns the initialize result.
fn initialize(client: &mut LspClient, root: &Path, options: Value) -> Value {
    let result = client.call(
        "initialize",
        json!({
            "processId": null,
            "rootUri": format!("file://{}", root.display()),
            "workspaceFolders": [{"uri": format!("file://{}", root.display()), "name": "shop"}],
            "initializationOptions": options,
            "capabilities": {
                "window": {"workDoneProgress": true},
                "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}},
                "textDocument": {"hover": {"contentFormat": ["markdown"]}}
            }
        }),
    );
    client.notify("initialized", json!({}));
    result
}

/// Waits for the `$/progress` end of the next indexing run that has not been waited for yet.
fn wait_for_indexing_end(client: &mut LspClient, run: usize) -> (Value, Value) {
    let token = format!("acdp/index/{run}");
    let begin = client.wait_for(|m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == token
            && m["params"]["value"]["kind"] == "begin"
    });
    let end = client.wait_for(|m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == token
            && m["params"]["value"]["kind"] == "end"
    });
    (begin, end)
}

fn open(client: &mut LspClient, root: &Path, rel: &str) -> String {
    let text = std::fs::read_to_string(root.join(rel)).unwrap();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri(root, rel), "languageId": "java", "version": 1, "text": text}}),
    );
    text
}

fn cold_index(root: &Path) -> acdp_index::WorkspaceIndex {
    let options = IndexOptions {
        use_cache: false,
        ..IndexOptions::default()
    };
    index_workspace(root, &options).expect("index the copy")
}

fn method_chunk<'a>(index: &'a acdp_index::WorkspaceIndex, path: &str, name: &str) -> &'a Chunk {
    index
        .chunks()
        .map(|(_, chunk)| chunk)
        .find(|c| {
            c.path == path && c.kind == ChunkKind::Method && c.symbol.contains(&format!(".{name}("))
        })
        .unwrap_or_else(|| panic!("no method {name} in {path}"))
}

/// The position of the first occurrence of `needle` after `from`, plus `delta` bytes.
fn position_in(text: &str, needle: &str, delta: usize) -> Value {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"))
        + delta;
    position_of(text, offset)
}

/// What `acdp/chunk` must answer for a chunk cut from `text`.
fn expected_chunk(root: &Path, text: &str, chunk: &Chunk, version: Value) -> Value {
    json!({
        "chunk_id": chunk.chunk_id.as_str(),
        "kind": chunk.kind.as_str(),
        "symbol": chunk.symbol,
        "uri": uri(root, &chunk.path),
        "range": {"start": position_of(text, chunk.start_byte), "end": position_of(text, chunk.end_byte)},
        "content_hash": chunk.content_hash.as_str(),
        "text": chunk.text(text),
        "version": version,
    })
}

#[test]
fn initialize_advertises_capabilities_indexes_with_progress_and_exits_cleanly() {
    let repo = copy_shop();
    let root = repo.path();
    let mut client = start(root);
    let result = initialize(&mut client, root, Value::Null);

    let caps = &result["capabilities"];
    assert_eq!(
        caps["textDocumentSync"]["change"], 2,
        "incremental sync: {caps}"
    );
    assert_eq!(caps["textDocumentSync"]["openClose"], true);
    assert_eq!(caps["hoverProvider"], true);
    assert_eq!(
        caps["codeActionProvider"]["codeActionKinds"],
        json!(["acdp"])
    );
    let commands = caps["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap();
    assert!(commands.contains(&json!("acdp.reindex")), "{commands:?}");
    assert!(commands.contains(&json!("acdp.showChunk")), "{commands:?}");
    assert_eq!(result["serverInfo"]["name"], "acdp");

    // The token is created before it is used, and the run ends with a summary.
    client.wait_for(|m| m["method"] == "window/workDoneProgress/create");
    let (begin, end) = wait_for_indexing_end(&mut client, 1);
    assert_eq!(begin["params"]["value"]["percentage"], 0);
    let index = cold_index(root);
    let summary = end["params"]["value"]["message"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "{} files, {} chunks",
            index.stats.files, index.stats.chunks
        )),
        "{summary}"
    );
    let reports: Vec<&Value> = client
        .received
        .iter()
        .filter(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "report")
        .collect();
    assert_eq!(
        reports.last().unwrap()["params"]["value"]["percentage"],
        100
    );

    // Java and XML files are watched through a dynamic registration.
    let registration = client.wait_for(|m| m["method"] == "client/registerCapability");
    let registration = &registration["params"]["registrations"][0];
    assert_eq!(registration["method"], "workspace/didChangeWatchedFiles");
    let globs: Vec<&Value> = registration["registerOptions"]["watchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["globPattern"])
        .collect();
    assert_eq!(globs, [&json!("**/*.java"), &json!("**/*.xml")]);

    let status = client.shutdown_and_exit();
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(root.join(".acdp/lsp.log")).expect("the log file exists");
    assert!(log.contains("shutdown"), "{log}");
}

#[test]
fn hover_chunk_code_action_and_commands_answer_with_the_index_chunks() {
    let repo = copy_shop();
    let root = repo.path();
    let index = cold_index(root);
    let mut client = start(root);
    initialize(&mut client, root, Value::Null);
    wait_for_indexing_end(&mut client, 1);

    let text = open(&mut client, root, SERVICE);
    let opened = client.wait_for(|m| m["method"] == "acdp/chunksChanged");
    assert_eq!(opened["params"]["uri"], uri(root, SERVICE));
    assert_eq!(opened["params"]["version"], 1);
    let file_chunks = index
        .files
        .iter()
        .find(|f| f.path == SERVICE)
        .unwrap()
        .chunks
        .len();
    assert_eq!(
        opened["params"]["added"].as_array().unwrap().len(),
        file_chunks
    );

    // Hover on the method's name shows its chunk id, kind, symbol, lines and hash.
    let method = method_chunk(&index, SERVICE, "generateOrder");
    let on_name = position_in(&text, "generateOrder(OrderParam", 3);
    let hover = client.call(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(root, SERVICE)}, "position": on_name}),
    );
    let markdown = hover["contents"]["value"].as_str().unwrap();
    assert_eq!(hover["contents"]["kind"], "markdown");
    assert!(markdown.contains(method.chunk_id.as_str()), "{markdown}");
    assert!(markdown.contains(&method.symbol), "{markdown}");
    assert!(
        markdown.contains(method.content_hash.as_str()),
        "{markdown}"
    );
    assert!(
        markdown.contains(&format!("{}-{}", method.start_line, method.end_line)),
        "{markdown}"
    );

    // acdp/chunk gives the same chunk, with its text and range, for the open document ...
    let chunk = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, SERVICE), "position": on_name}),
    );
    assert_eq!(chunk, expected_chunk(root, &text, method, json!(1)));

    // ... and for a file that is not open, from the workspace index.
    let util_text = std::fs::read_to_string(root.join(UTIL)).unwrap();
    let util_file = index.files.iter().find(|f| f.path == UTIL).unwrap();
    let util_method = util_file
        .chunks
        .iter()
        .find(|c| c.kind == ChunkKind::Method)
        .unwrap();
    let inside = position_of(&util_text, util_method.start_byte + 1);
    let chunk_util = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, UTIL), "position": inside}),
    );
    assert_eq!(
        chunk_util,
        expected_chunk(root, &util_text, util_method, Value::Null)
    );
    // LSP's usual shape, `textDocument: {uri}`, with a field acdp does not know: the same chunk.
    let lsp_shaped = client.call(
        "acdp/chunk",
        json!({
            "textDocument": {"uri": uri(root, UTIL)},
            "position": inside,
            "workDoneToken": "t-1"
        }),
    );
    assert_eq!(lsp_shaped, chunk_util);
    let shown = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.showChunk", "arguments": [
            {"textDocument": {"uri": uri(root, UTIL)}, "position": inside}
        ]}),
    );
    assert_eq!(shown, chunk_util);

    // Outside every chunk (the package line) and outside the workspace: null.
    let nothing = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, SERVICE), "position": {"line": 0, "character": 0}}),
    );
    assert_eq!(nothing, Value::Null);
    let elsewhere = client.call(
        "acdp/chunk",
        json!({"uri": "file:///nowhere/A.java", "position": {"line": 0, "character": 0}}),
    );
    assert_eq!(elsewhere, Value::Null);

    // The code action points at acdp.showChunk, which answers like acdp/chunk.
    let actions = client.call(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": uri(root, SERVICE)},
            "range": {"start": on_name, "end": on_name},
            "context": {"diagnostics": []}
        }),
    );
    let action = &actions[0];
    assert_eq!(action["title"], format!("Show chunk for {}", method.symbol));
    assert_eq!(action["kind"], "acdp");
    assert_eq!(action["command"]["command"], "acdp.showChunk");
    let shown = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.showChunk", "arguments": action["command"]["arguments"]}),
    );
    assert_eq!(shown, chunk);
    let by_position = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.showChunk", "arguments": [{"uri": uri(root, SERVICE), "position": on_name}]}),
    );
    assert_eq!(by_position, chunk);
    let filtered = client.call(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": uri(root, SERVICE)},
            "range": {"start": on_name, "end": on_name},
            "context": {"diagnostics": [], "only": ["quickfix"]}
        }),
    );
    assert_eq!(filtered, Value::Null);

    // acdp.reindex runs again with progress and answers with what it indexed.
    let summary = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.reindex"}),
    );
    assert_eq!(summary["files"], index.stats.files);
    assert_eq!(summary["chunks"], index.stats.chunks);
    assert_eq!(summary["errors"], json!([]));
    wait_for_indexing_end(&mut client, 2);

    // A file changed on disk, not open: the watcher notification updates the index.
    let added = util_text.rfind('}').unwrap();
    let mut changed = util_text.clone();
    changed.insert_str(
        added,
        "\n    public static int watchedAddition(int a) {\n        return a;\n    }\n",
    );
    std::fs::write(root.join(UTIL), &changed).unwrap();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri(root, UTIL), "type": 2}]}),
    );
    let new_method = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, UTIL), "position": position_in(&changed, "watchedAddition", 2)}),
    );
    assert!(
        new_method["symbol"]
            .as_str()
            .unwrap()
            .ends_with(".watchedAddition(int)"),
        "{new_method}"
    );

    // The watcher admits files as a reindex does: one that a nested .gitignore covers stays
    // out, its neighbour comes in; and an indexed file the ignore file comes to cover leaves.
    let util_dir = Path::new(UTIL).parent().unwrap();
    std::fs::write(
        root.join(util_dir).join(".gitignore"),
        "Ignored*.java\nAmountUtil.java\n",
    )
    .unwrap();
    let class = |name: &str| {
        format!(
            "package com.acme.shop.common.util;\n\npublic class {name} {{\n    public int size() {{\n        return 1;\n    }}\n}}\n"
        )
    };
    for name in ["IgnoredHelper", "AdmittedHelper"] {
        std::fs::write(
            root.join(util_dir).join(format!("{name}.java")),
            class(name),
        )
        .unwrap();
    }
    let rel = |name: &str| format!("{}/{name}.java", util_dir.display());
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [
            {"uri": uri(root, &rel("IgnoredHelper")), "type": 1},
            {"uri": uri(root, &rel("AdmittedHelper")), "type": 1},
            {"uri": uri(root, UTIL), "type": 2},
        ]}),
    );
    let at_size = position_in(&class("X"), "size", 1);
    let admitted = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, &rel("AdmittedHelper")), "position": at_size}),
    );
    assert_eq!(
        admitted["symbol"], "com.acme.shop.common.util.AdmittedHelper.size()",
        "{admitted}"
    );
    for ignored in [rel("IgnoredHelper"), UTIL.to_owned()] {
        let chunk = client.call(
            "acdp/chunk",
            json!({"uri": uri(root, &ignored), "position": at_size}),
        );
        assert_eq!(chunk, Value::Null, "{ignored}");
    }
    let fresh = IndexOptions {
        use_cache: false,
        ..IndexOptions::default()
    };
    let walked = index_workspace(root, &fresh).unwrap();
    assert!(walked.files.iter().any(|f| f.path == rel("AdmittedHelper")));
    assert!(
        !walked
            .files
            .iter()
            .any(|f| f.path == rel("IgnoredHelper") || f.path == UTIL)
    );

    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

/// A deterministic stream of edits: statements, new methods, deletions, non-ASCII comments and
/// now and then broken syntax. Returns (range start, range end, new text) in bytes.
struct Edits {
    state: u64,
}

impl Edits {
    fn next_u32(&mut self, bound: usize) -> usize {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.state >> 33) as usize) % bound.max(1)
    }

    fn next(&mut self, text: &str, step: usize) -> (usize, usize, String) {
        // Lines strictly inside the class body, so most edits keep the file's shape.
        let body_start = text
            .find("public class")
            .and_then(|i| text[i..].find('\n').map(|j| i + j + 1))
            .unwrap();
        let body_end = text.rfind('}').unwrap();
        let lines: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .filter(|&i| i >= body_start && i < body_end)
            .collect();
        let line = lines[self.next_u32(lines.len())];
        let line_end = text[line..].find('\n').map_or(text.len(), |i| line + i);
        let line_text = &text[line..line_end];
        match self.next_u32(40) {
            0..=11 => (line, line, format!("        int v{step} = {step};\n")),
            12..=15 => (line, line, format!("    // 编辑 {step} ünïcode 🎉\n")),
            16..=21 => {
                let at = text.find("\n    public ").map_or(line, |i| i + 1);
                let body = format!(
                    "    public int added{step}(int a) {{\n        return a + {step};\n    }}\n\n"
                );
                (at, at, body)
            }
            22..=29
                if line_text.ends_with(';')
                    && !line_text.contains('"')
                    && !line_text.contains("/*") =>
            {
                // Delete a few characters of a statement, keeping its `;`.
                let indent = line_text.len() - line_text.trim_start().len();
                let len = line_text.len() - 1 - indent;
                let start = line + indent + self.next_u32(len);
                let mut end = (start + 1 + self.next_u32(6)).min(line_end - 1);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let mut start = start.min(end);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                (start, end, String::new())
            }
            // Broken syntax, inside method bodies: the store must settle to a cold parse.
            30 if line_text.starts_with("        ") => (line, line, "{ ".to_owned()),
            31 if line_text.starts_with("        ") => (line, line, "} ".to_owned()),
            _ => (line_end, line_end, format!(" /* {step} */")),
        }
    }
}

#[test]
fn a_burst_of_edits_ends_equal_to_a_fresh_parse() {
    let repo = copy_shop();
    let root = repo.path();
    let mut client = start(root);
    initialize(&mut client, root, Value::Null);
    let mut text = open(&mut client, root, SERVICE);

    let mut edits = Edits { state: 5 };
    for step in 0..200 {
        let (start, end, insert) = edits.next(&text, step);
        let range = json!({"start": position_of(&text, start), "end": position_of(&text, end)});
        // Positions must round-trip through UTF-16 for the edit to mean the same to both sides.
        assert_eq!(
            offset_of(
                &text,
                range["start"]["line"].as_u64().unwrap() as u32,
                range["start"]["character"].as_u64().unwrap() as u32
            ),
            start
        );
        text.replace_range(start..end, &insert);
        client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": {"uri": uri(root, SERVICE), "version": step + 2},
                "contentChanges": [{"range": range, "text": insert}]
            }),
        );
    }
    // A stale version is refused: the document keeps the text above.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(root, SERVICE), "version": 5},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "garbage"}]
        }),
    );

    let mut parser = java::new_parser();
    let (fresh, warnings) = chunk_source(&mut parser, Language::Java, SERVICE, &text);
    assert!(
        fresh.len() > 10,
        "the edited file still has its methods: {}",
        fresh.len()
    );
    // The seed leaves syntax errors in the final text, so the settle-to-cold-parse path runs.
    assert!(!warnings.is_empty(), "the final text is broken somewhere");
    let final_version = json!(201);
    let mut seen = std::collections::BTreeSet::new();
    for chunk in &fresh {
        let mut probe = chunk.start_byte + 1;
        while !text.is_char_boundary(probe) {
            probe += 1;
        }
        // The chunk a cold parse puts innermost at the probe, by the index's own rule.
        let expected = fresh
            .iter()
            .filter(|c| c.start_byte <= probe && probe <= c.end_byte)
            .min_by_key(|c| c.end_byte - c.start_byte)
            .unwrap();
        let answer = client.call(
            "acdp/chunk",
            json!({"uri": uri(root, SERVICE), "position": position_of(&text, probe)}),
        );
        assert_eq!(
            answer,
            expected_chunk(root, &text, expected, final_version.clone())
        );
        seen.insert(expected.chunk_id.clone());
    }
    assert_eq!(
        seen.len(),
        fresh.len(),
        "every chunk of the fresh parse was reached"
    );

    // Saved and closed: the index takes the file from disk, which now has the same text.
    std::fs::write(root.join(SERVICE), &text).unwrap();
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": uri(root, SERVICE)}}),
    );
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri(root, SERVICE)}}),
    );
    let first = &fresh[0];
    let after_close = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, SERVICE), "position": position_of(&text, first.start_byte + 1)}),
    );
    assert_eq!(after_close["chunk_id"], first.chunk_id.as_str());
    assert_eq!(after_close["version"], Value::Null);

    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn malformed_params_panics_and_cancellation_leave_the_server_serving() {
    let repo = copy_shop();
    let root = repo.path();
    let log_file = root.join("logs/server.log");
    let mut client = start(root);
    initialize(
        &mut client,
        root,
        json!({"enableDebugCommands": true, "logFile": log_file}),
    );
    let text = open(&mut client, root, SERVICE);
    let on_name = position_in(&text, "generateOrder(OrderParam", 3);
    let hover_params = json!({"textDocument": {"uri": uri(root, SERVICE)}, "position": on_name});
    let invalid_params = -32602;

    let bad_requests = [
        ("textDocument/hover", json!({"textDocument": 5})),
        ("acdp/chunk", json!({"uri": uri(root, SERVICE)})),
        (
            "acdp/chunk",
            json!({"uri": "::not a uri::", "position": on_name}),
        ),
        (
            "workspace/executeCommand",
            json!({"command": "acdp.noSuchCommand"}),
        ),
        (
            "workspace/executeCommand",
            json!({"command": "acdp.showChunk", "arguments": [42]}),
        ),
        (
            "workspace/executeCommand",
            json!({"command": "acdp.reindex", "arguments": [1]}),
        ),
    ];
    for (method, params) in bad_requests {
        let response = client.request(method, params.clone());
        assert_eq!(
            response["error"]["code"], invalid_params,
            "{method} {params}: {response}"
        );
    }
    // Malformed notifications have no response; they must not stop the server either.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": 1}}),
    );
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(root, SERVICE), "version": 2},
            "contentChanges": [{"range": {"start": {"line": 99999, "character": 0}, "end": {"line": 99999, "character": 1}}, "text": "x"}]
        }),
    );
    client.send_raw("{ this is not json");
    let warned = client.wait_for(|m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("malformed message"))
    });
    assert_eq!(warned["params"]["type"], 2);
    let hover = client.call("textDocument/hover", hover_params.clone());
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("generateOrder")
    );

    // A panic in a handler becomes an internal error, is logged, and the server goes on.
    let panicked = client.request(
        "workspace/executeCommand",
        json!({"command": "acdp.debug.panic"}),
    );
    assert_eq!(panicked["error"]["code"], -32603, "{panicked}");
    assert!(
        panicked["error"]["message"]
            .as_str()
            .unwrap()
            .contains("internal error"),
        "{panicked}"
    );
    let hover_again = client.call("textDocument/hover", hover_params);
    assert_eq!(hover_again, hover);
    let log = std::fs::read_to_string(&log_file).expect("log at initializationOptions.logFile");
    assert!(log.contains("panicked"), "{log}");

    // $/cancelRequest ends a long request with RequestCancelled.
    let slow = client.send_request(
        "workspace/executeCommand",
        json!({"command": "acdp.debug.sleep", "arguments": [{"ms": 600000}]}),
    );
    client.notify("$/cancelRequest", json!({"id": slow}));
    let cancelled = client.response(slow);
    assert_eq!(cancelled["error"]["code"], -32800, "{cancelled}");
    let still = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, SERVICE), "position": on_name}),
    );
    assert!(still["symbol"].as_str().unwrap().contains("generateOrder"));

    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn debug_commands_are_refused_unless_enabled_and_exit_without_shutdown_fails() {
    let repo = copy_shop();
    let root = repo.path();
    let mut client = start(root);
    initialize(&mut client, root, Value::Null);
    let refused = client.request(
        "workspace/executeCommand",
        json!({"command": "acdp.debug.panic"}),
    );
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    client.notify("exit", Value::Null);
    let status = client.wait_exit();
    assert_eq!(status.code(), Some(1));
}

/// The rules the library finds in a chunk, as the server should show them.
fn rules_citing(root: &Path, id: &acdp_index::ChunkId) -> Vec<acdp_analysis::Rule> {
    let index = cold_index(root);
    let config = acdp_config::ProjectConfig::load(root).expect("acdp.toml");
    let analysis = acdp_analysis::analyze(&index, &config.analysis);
    analysis
        .rules
        .into_iter()
        .filter(|r| r.chunk_ids.contains(id))
        .collect()
}

/// `.acdp/samples.jsonl` parsed, each sample checked against a fresh index of the folder.
fn read_workspace_samples(root: &Path) -> Vec<acdp_sample::Sample> {
    let text = std::fs::read_to_string(root.join(".acdp/samples.jsonl")).expect("samples file");
    let index = cold_index(root);
    text.lines()
        .map(|line| {
            let sample: acdp_sample::Sample = serde_json::from_str(line).expect("a sample");
            let report = acdp_sample::validate_sample(
                &sample,
                &index,
                &acdp_sample::ValidationOptions::default(),
            );
            assert!(report.passed, "{report:?}");
            sample
        })
        .collect()
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().or(v["sample_id"].as_str()).unwrap().to_owned())
        .collect()
}

#[test]
fn analysis_hover_sample_actions_stale_evidence_and_export() {
    let repo = copy_shop();
    let root = repo.path();
    let index = cold_index(root);
    let mut client = start(root);
    initialize(&mut client, root, Value::Null);
    // The first run ends once the folder is indexed and analysed.
    let (_, end) = wait_for_indexing_end(&mut client, 1);
    assert!(
        end["params"]["value"]["message"]
            .as_str()
            .unwrap()
            .contains(" rules, "),
        "{end}"
    );
    let text = open(&mut client, root, SERVICE);
    let method = method_chunk(&index, SERVICE, "cancelOrder");
    let rules = rules_citing(root, &method.chunk_id);
    assert!(!rules.is_empty(), "the fixture's cancelOrder has rules");

    // Hover: the domain and the rules' statements.
    let on_name = position_in(&text, "cancelOrder(Long orderId", 3);
    let hover = client.call(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(root, SERVICE)}, "position": on_name}),
    );
    let markdown = hover["contents"]["value"].as_str().unwrap();
    assert!(markdown.contains(method.chunk_id.as_str()), "{markdown}");
    assert!(
        markdown.contains(&format!("**Domain** `{}`", rules[0].domain)),
        "{markdown}"
    );
    let statement = rules[0].statement.split_whitespace().collect::<Vec<_>>();
    assert!(markdown.contains(&statement.join(" ")), "{markdown}");
    assert!(markdown.contains(rules[0].kind.as_str()), "{markdown}");

    // Code actions: show chunk first, then the sample actions.
    let actions = client.call(
        "textDocument/codeAction",
        json!({
            "textDocument": {"uri": uri(root, SERVICE)},
            "range": {"start": on_name, "end": on_name},
            "context": {"diagnostics": []}
        }),
    );
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    let qa_title = "Generate QA samples for OmsPortalOrderServiceImpl.cancelOrder(Long,Long)";
    assert!(titles.contains(&qa_title), "{titles:?}");
    assert!(
        titles.contains(&"Show rules in OmsPortalOrderServiceImpl.cancelOrder(Long,Long)"),
        "{titles:?}"
    );
    let qa = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == qa_title)
        .unwrap();
    assert_eq!(qa["command"]["command"], "acdp.generateQa");
    assert_eq!(
        qa["command"]["arguments"],
        json!([{"chunk_id": method.chunk_id.as_str()}])
    );

    // Executing it appends valid samples citing the method, and says so.
    let generated = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.generateQa", "arguments": qa["command"]["arguments"]}),
    );
    let added = ids(&generated["added"]);
    assert!(!added.is_empty(), "{generated}");
    client.wait_for(|m| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("added to .acdp/samples.jsonl"))
    });
    let stored = read_workspace_samples(root);
    let stored_ids: Vec<String> = stored.iter().map(|s| s.sample_id.clone()).collect();
    assert_eq!(stored_ids, added);
    for sample in &stored {
        assert!(
            sample
                .evidence
                .iter()
                .any(|e| e.chunk_id == method.chunk_id),
            "{}",
            sample.sample_id
        );
    }
    // Running it again adds nothing: the samples are there already.
    let again = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.generateQa", "arguments": qa["command"]["arguments"]}),
    );
    assert_eq!(again["added"], json!([]));
    assert_eq!(again["unchanged"], added.len());

    // A design anchored on the flow through the method, for a requirement the editor passes.
    let design = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.generateDesign", "arguments": [{
            "chunk_id": method.chunk_id.as_str(),
            "requirement": "Let members give a reason when they cancel an order"
        }]}),
    );
    let designs = ids(&design["added"]);
    assert!(!designs.is_empty(), "{design}");
    let no_requirement = client.request(
        "workspace/executeCommand",
        json!({"command": "acdp.generateDesign", "arguments": [{"chunk_id": method.chunk_id.as_str()}]}),
    );
    assert_eq!(no_requirement["error"]["code"], -32602, "{no_requirement}");
    read_workspace_samples(root);

    // acdp/samples filters by chunk, task and language.
    let by_chunk = client.call(
        "acdp/samples",
        json!({"filter": {"chunk_id": method.chunk_id.as_str(), "task": "qa"}}),
    );
    assert_eq!(ids(&by_chunk), added);
    let designs_only = client.call("acdp/samples", json!({"filter": {"task": "design"}}));
    assert_eq!(ids(&designs_only), designs);
    let util_method = index
        .files
        .iter()
        .find(|f| f.path == UTIL)
        .unwrap()
        .chunks
        .iter()
        .find(|c| c.kind == ChunkKind::Method)
        .unwrap();
    let unrelated = client.call(
        "acdp/samples",
        json!({"filter": {"chunk_id": util_method.chunk_id.as_str()}}),
    );
    assert_eq!(unrelated, json!([]));

    // acdp.showRules lists the rules the analysis found in the method.
    let shown = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.showRules", "arguments": [{"chunk_id": method.chunk_id.as_str()}]}),
    );
    let shown_ids: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule_id"].as_str().unwrap())
        .collect();
    let expected_ids: Vec<&str> = rules.iter().map(|r| r.rule_id.as_str()).collect();
    assert_eq!(shown_ids, expected_ids);

    // Editing the cited method makes its samples' evidence stale: a diagnostic on its range.
    let cited_by = client
        .call(
            "acdp/samples",
            json!({"filter": {"chunk_id": method.chunk_id.as_str()}}),
        )
        .as_array()
        .unwrap()
        .len();
    let inside = position_in(&text, "doCancel(order);\n    }", 0);
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(root, SERVICE), "version": 2},
            "contentChanges": [{"range": {"start": inside, "end": inside}, "text": "int audit = 1;\n        "}]
        }),
    );
    let published = client.wait_for(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["version"] == 2
            && !m["params"]["diagnostics"].as_array().unwrap().is_empty()
    });
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{published}");
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic["severity"], 3);
    assert_eq!(diagnostic["source"], "acdp");
    assert_eq!(
        diagnostic["message"],
        format!("{cited_by} samples cite this chunk; its content changed (stale evidence)")
    );
    assert_eq!(
        diagnostic["range"]["start"]["line"],
        method.start_line - 1,
        "{diagnostic}"
    );
    // Undoing the edit clears it.
    let end_of_insert = json!({"line": inside["line"].as_u64().unwrap() + 1, "character": 8});
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(root, SERVICE), "version": 3},
            "contentChanges": [{"range": {"start": inside, "end": end_of_insert}, "text": ""}]
        }),
    );
    client.wait_for(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["version"] == 3
            && m["params"]["diagnostics"] == json!([])
    });

    // acdp.exportDataset runs the pipeline's steps with progress and writes the dataset.
    let exported = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.exportDataset"}),
    );
    let out = root.join(".acdp/dataset");
    assert_eq!(exported["out"], out.display().to_string());
    assert!(exported["samples"].as_u64().unwrap() > 0, "{exported}");
    for file in [
        "train.jsonl",
        "dev.jsonl",
        "test.jsonl",
        "stats.json",
        "manifest.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing: {exported}");
    }
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["samples"], exported["samples"]);
    // Cancelled, an export stops before its next stage and writes nothing; a second one, asked
    // right after, runs to its end (and outlasts what is left of the first).
    let cancelled_out = root.join("cancelled-export");
    let id = client.send_request(
        "workspace/executeCommand",
        json!({"command": "acdp.exportDataset", "arguments": [{"out": cancelled_out}]}),
    );
    // Cancelled once the run is under way (its first stage reported), not before it starts.
    client.wait_for(|m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == "acdp/export/2"
            && m["params"]["value"]["message"] == "index"
    });
    client.notify("$/cancelRequest", json!({"id": id}));
    assert_eq!(client.response(id)["error"]["code"], -32800);
    let second_out = root.join("second-export");
    let second = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.exportDataset", "arguments": [{"out": second_out}]}),
    );
    assert_eq!(second["samples"], exported["samples"], "{second}");
    assert!(
        !cancelled_out.join("manifest.json").exists(),
        "the cancelled export wrote its dataset"
    );
    // One pipeline: `acdp pipeline` with its defaults writes the same dataset.
    let cli_out = tempfile::tempdir().unwrap();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"))
        .args(["pipeline", root.to_str().unwrap(), "--out"])
        .arg(cli_out.path())
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");
    for file in [
        "samples.jsonl",
        "train.jsonl",
        "dev.jsonl",
        "test.jsonl",
        "stats.json",
    ] {
        assert!(
            std::fs::read(out.join(file)).unwrap()
                == std::fs::read(cli_out.path().join(file)).unwrap(),
            "{file} differs between acdp.exportDataset and acdp pipeline"
        );
    }
    for kind in ["begin", "end"] {
        client.wait_for(|m| {
            m["method"] == "$/progress"
                && m["params"]["token"] == "acdp/export/1"
                && m["params"]["value"]["kind"] == kind
        });
    }

    // acdp.eval scores retrieval on the held-out questions the export wrote, with progress.
    assert!(out.join("eval.jsonl").is_file());
    let evaluated = client.call("workspace/executeCommand", json!({"command": "acdp.eval"}));
    let held_out = std::fs::read_to_string(out.join("eval.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"question\""))
        .count();
    assert_eq!(evaluated["summary"]["questions"], held_out, "{evaluated}");
    assert!(
        evaluated["summary"]["hit_at_k"].as_f64().is_some(),
        "{evaluated}"
    );
    assert!(
        evaluated["markdown"].as_str().unwrap().contains("| MRR |"),
        "{evaluated}"
    );
    for kind in ["begin", "end"] {
        client.wait_for(|m| {
            m["method"] == "$/progress"
                && m["params"]["token"] == "acdp/eval/1"
                && m["params"]["value"]["kind"] == kind
        });
    }
    let missing = client.request(
        "workspace/executeCommand",
        json!({"command": "acdp.eval", "arguments": [{"cases": "nope.jsonl"}]}),
    );
    assert_eq!(missing["error"]["code"], -32007, "{missing}");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope.jsonl"),
        "{missing}"
    );

    // Without a model: acdp.train says which setting to set; acdp/ask says there is no model
    // and cites the chunks that match the question best, at their places in the editor.
    let train = client.request("workspace/executeCommand", json!({"command": "acdp.train"}));
    assert_eq!(train["error"]["code"], -32001, "{train}");
    assert!(
        train["error"]["message"]
            .as_str()
            .unwrap()
            .contains("modelDir"),
        "{train}"
    );
    let asked = client.call(
        "acdp/ask",
        json!({"question": "How does cancelOrder cancel an order?"}),
    );
    assert_eq!(asked["validated"], false, "{asked}");
    assert!(
        asked["answer"]
            .as_str()
            .unwrap()
            .starts_with("no model configured"),
        "{asked}"
    );
    assert!(asked.get("stats").is_none(), "{asked}");
    let citations = asked["citations"].as_array().unwrap();
    assert_eq!(citations.len(), 6, "{asked}");
    assert_eq!(
        ids(&asked["retrieved"]),
        citations
            .iter()
            .map(|c| c["chunk_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    let cited = citations
        .iter()
        .find(|c| c["chunk_id"] == method.chunk_id.as_str())
        .unwrap_or_else(|| panic!("cancelOrder is not among the cited chunks: {asked}"));
    let live = client.call(
        "acdp/chunk",
        json!({"uri": uri(root, SERVICE), "position": on_name}),
    );
    assert_eq!(cited["uri"], live["uri"]);
    assert_eq!(cited["range"], live["range"]);
    let empty = client.request("acdp/ask", json!({"question": "  "}));
    assert_eq!(empty["error"]["code"], -32602, "{empty}");
    // A design request retrieves for the requirement; without a model it says so too.
    let design = client.call(
        "acdp/ask",
        json!({"question": "Refund the coupon when an order is cancelled", "task": "design"}),
    );
    assert_eq!(design["validated"], false, "{design}");
    assert!(
        !design["retrieved"].as_array().unwrap().is_empty(),
        "{design}"
    );
    let bad_task = client.request("acdp/ask", json!({"question": "q", "task": "poem"}));
    assert_eq!(bad_task["error"]["code"], -32602, "{bad_task}");

    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

/// Chat samples in the tiny model's vocabulary, as `acdp.exportDataset` writes `train.jsonl`.
fn write_tiny_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let lines: Vec<String> = [
        ("what does the order service do", "it locks the stock"),
        (
            "who refunds a return",
            "the return service refunds the member",
        ),
        (
            "when does a coupon expire",
            "a coupon expires after payment",
        ),
    ]
    .iter()
    .enumerate()
    .map(|(i, (q, a))| {
        json!({"sample_id": format!("s{i}"), "messages": [
            {"role": "system", "content": "you answer about the shop"},
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
        ]})
        .to_string()
    })
    .collect();
    std::fs::write(dir.join("train.jsonl"), lines.join("\n")).unwrap();
}

fn progress_of(client: &LspClient, token: &str) -> Vec<Value> {
    client
        .received
        .iter()
        .filter(|m| m["method"] == "$/progress" && m["params"]["token"] == token)
        .map(|m| m["params"]["value"].clone())
        .collect()
}

#[test]
fn a_configured_model_answers_asks_and_hovers_trains_with_progress_and_follows_settings() {
    let repo = copy_shop();
    let root = repo.path();
    let model = tempfile::tempdir().unwrap();
    tiny_model::write_tiny_model(model.path(), true, 7);
    tiny_model::set_context_length(model.path(), 8192);
    let mut client = start(root);
    initialize(
        &mut client,
        root,
        json!({"logFile": root.join("lsp.log"), "modelDir": model.path(), "adapter": "",
               "llm": {"baseUrl": "", "apiKeyEnv": "OPENAI_API_KEY"}, "sampleLanguage": "en"}),
    );
    wait_for_indexing_end(&mut client, 1);

    // acdp/ask runs the model: the tiny random model never cites, so the answer fails the
    // check and says so, citing the retrieved chunks where the editor shows them.
    let asked = client.call(
        "acdp/ask",
        json!({"question": "how does cancel order work"}),
    );
    assert_eq!(asked["validated"], false, "{asked}");
    assert_eq!(asked["answer"], "not enough evidence", "{asked}");
    assert!(
        asked["stats"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{asked}"
    );
    assert!(!asked["problems"].as_array().unwrap().is_empty(), "{asked}");
    let citations = asked["citations"].as_array().unwrap();
    assert_eq!(citations.len(), 6, "{asked}");
    let index = cold_index(root);
    for citation in citations {
        let id = citation["chunk_id"].as_str().unwrap();
        let (file, chunk) = index
            .chunks()
            .find(|(_, c)| c.chunk_id.as_str() == id)
            .unwrap_or_else(|| panic!("cited {id} is not a chunk of the index"));
        assert_eq!(citation["uri"], uri(root, &chunk.path));
        assert_eq!(
            citation["range"],
            json!({"start": position_of(&file.text, chunk.start_byte), "end": position_of(&file.text, chunk.end_byte)})
        );
    }

    // Hover adds the model's answer after the index's and the analysis' facts.
    let text = open(&mut client, root, SERVICE);
    let method = method_chunk(&index, SERVICE, "cancelOrder");
    let on_name = position_in(&text, "cancelOrder(Long orderId", 3);
    let hover_params = json!({"textDocument": {"uri": uri(root, SERVICE)}, "position": on_name});
    let hover = client.call("textDocument/hover", hover_params.clone());
    let markdown = hover["contents"]["value"].as_str().unwrap().to_owned();
    assert!(markdown.contains(method.chunk_id.as_str()), "{markdown}");
    assert!(markdown.contains("**Domain**"), "{markdown}");
    assert!(
        markdown.contains("**Answer** (acdp model): not enough evidence"),
        "{markdown}"
    );
    let again = client.call("textDocument/hover", hover_params.clone());
    assert_eq!(again["contents"]["value"], markdown.as_str());

    // acdp.train on .acdp/dataset with the configured base model: a report per step.
    write_tiny_dataset(&root.join(".acdp/dataset"));
    let trained = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.train", "arguments": [{"epochs": 2, "accum": 1, "checkpoint_every": 2, "warmup": 1}]}),
    );
    assert_eq!(trained["cancelled"], false, "{trained}");
    assert_eq!(trained["steps"], 6, "{trained}");
    let adapter = root.join(".acdp/adapter");
    assert_eq!(trained["adapter_dir"], adapter.display().to_string());
    assert!(adapter.join("adapter_config.json").is_file());
    assert!(adapter.join("adapter_model.safetensors").is_file());
    assert!(
        adapter
            .join("checkpoint-000006/trainer_state.json")
            .is_file()
    );
    let values = progress_of(&client, "acdp/train/1");
    assert_eq!(values[0]["kind"], "begin", "{values:?}");
    assert_eq!(values[0]["cancellable"], true, "{values:?}");
    let percentages: Vec<u64> = values
        .iter()
        .filter(|v| v["kind"] == "report")
        .map(|v| v["percentage"].as_u64().unwrap())
        .collect();
    assert_eq!(percentages, [16, 33, 50, 66, 83, 100], "{values:?}");
    let end = values.last().unwrap();
    assert_eq!(end["kind"], "end", "{values:?}");
    assert!(
        end["message"].as_str().unwrap().starts_with("6 steps"),
        "{end}"
    );

    // Cancelling through the progress token stops after the current step, checkpointed.
    let id = client.send_request(
        "workspace/executeCommand",
        json!({"command": "acdp.train", "arguments": [{"out": "adapter-long", "epochs": 400, "accum": 1, "checkpoint_every": 0}]}),
    );
    client.wait_for(|m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == "acdp/train/2"
            && m["params"]["value"]["kind"] == "report"
    });
    let busy = client.request("workspace/executeCommand", json!({"command": "acdp.train"}));
    assert_eq!(busy["error"]["code"], -32007, "{busy}");
    client.notify(
        "window/workDoneProgress/cancel",
        json!({"token": "acdp/train/2"}),
    );
    let stopped = client.response(id);
    let report = &stopped["result"];
    assert_eq!(report["cancelled"], true, "{stopped}");
    let steps = report["steps"].as_u64().unwrap();
    assert!((1..1200).contains(&steps), "{stopped}");
    let long = root.join("adapter-long");
    assert!(
        long.join(format!("checkpoint-{steps:06}/trainer_state.json"))
            .is_file()
    );
    assert!(!long.join("adapter_config.json").exists());
    let end = client.wait_for(|m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == "acdp/train/2"
            && m["params"]["value"]["kind"] == "end"
    });
    assert!(
        end["params"]["value"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cancelled after step {steps}")),
        "{end}"
    );

    // didChangeConfiguration switches the model: a directory that is not a model fails with a
    // message naming it; the trained adapter on top of the base answers again; no model at all
    // answers without one.
    let missing = root.join("no-such-model");
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"acdp": {"modelDir": missing, "adapter": ""}}}),
    );
    let failed = client.request(
        "acdp/ask",
        json!({"question": "how does cancel order work"}),
    );
    assert_eq!(failed["error"]["code"], -32006, "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&missing.display().to_string()),
        "{failed}"
    );
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"acdp": {"modelDir": model.path(), "adapter": ".acdp/adapter", "serverPath": "acdp"}}}),
    );
    let adapted = client.call(
        "acdp/ask",
        json!({"question": "how does cancel order work"}),
    );
    assert!(
        adapted["stats"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{adapted}"
    );
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"acdp": {"modelDir": "", "sampleLanguage": "fr"}}}),
    );
    client.wait_for(|m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|t| t.contains("sampleLanguage `fr`"))
    });
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"acdp": {"modelDir": ""}}}),
    );
    let unconfigured = client.call(
        "acdp/ask",
        json!({"question": "how does cancel order work"}),
    );
    assert!(
        unconfigured["answer"]
            .as_str()
            .unwrap()
            .starts_with("no model configured"),
        "{unconfigured}"
    );
    let plain = client.call("textDocument/hover", hover_params);
    let plain = plain["contents"]["value"].as_str().unwrap();
    assert!(!plain.contains("**Answer**"), "{plain}");
    assert!(markdown.starts_with(plain.trim_end()), "{plain}");

    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

/// A 128-line service: small enough that 1,000 edits stay quick in a debug build.
const LOAD_FILE: &str = "src/main/java/com/acme/shop/order/service/impl/OmsOrderServiceImpl.java";

/// Issue #8, point 5: 1,000 rapid incremental edits (`ACDP_LOAD_EDITS` raises it) with hovers
/// and code actions sent between them without waiting. Every request is answered, and every
/// hundred edits, and at the end for every chunk, the server's chunks equal a cold parse of the
/// text the test holds: no update is lost or reordered under load.
#[test]
fn a_thousand_edits_among_hovers_and_code_actions_lose_no_update() {
    let total: usize = std::env::var("ACDP_LOAD_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let repo = copy_shop();
    let root = repo.path();
    let mut client = start(root);
    initialize(&mut client, root, Value::Null);
    let doc = uri(root, LOAD_FILE);
    let mut text = open(&mut client, root, LOAD_FILE);
    let mut parser = java::new_parser();
    let mut edits = Edits { state: 17 };
    let mut pending = Vec::new();
    let mut checked = 0;

    for step in 0..total {
        let (start, end, insert) = edits.next(&text, step);
        let range = json!({"start": position_of(&text, start), "end": position_of(&text, end)});
        text.replace_range(start..end, &insert);
        client.notify(
            "textDocument/didChange",
            json!({
                "textDocument": {"uri": doc, "version": step + 2},
                "contentChanges": [{"range": range, "text": insert}]
            }),
        );
        // Requests at random places, not awaited: they race the edits that follow.
        let mut at = edits.next_u32(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let position = position_of(&text, at);
        if step % 10 == 0 {
            let id = client.send_request(
                "textDocument/hover",
                json!({"textDocument": {"uri": doc}, "position": position}),
            );
            pending.push((id, "hover"));
        }
        if step % 10 == 5 {
            let id = client.send_request(
                "textDocument/codeAction",
                json!({
                    "textDocument": {"uri": doc},
                    "range": {"start": position, "end": position},
                    "context": {"diagnostics": []}
                }),
            );
            pending.push((id, "codeAction"));
        }
        // Every hundred edits, wait: hover and acdp/chunk must see exactly this text.
        if step % 100 == 99 {
            let (fresh, _) = chunk_source(&mut parser, Language::Java, LOAD_FILE, &text);
            let expected = fresh
                .iter()
                .filter(|c| c.start_byte <= at && at <= c.end_byte)
                .min_by_key(|c| c.end_byte - c.start_byte);
            let answer = client.call(
                "acdp/chunk",
                json!({"uri": doc, "position": position_of(&text, at)}),
            );
            let hover = client.call(
                "textDocument/hover",
                json!({"textDocument": {"uri": doc}, "position": position_of(&text, at)}),
            );
            match expected {
                Some(chunk) => {
                    assert_eq!(
                        answer,
                        expected_chunk(root, &text, chunk, json!(step + 2)),
                        "after edit {step}"
                    );
                    let markdown = hover["contents"]["value"].as_str().unwrap_or_default();
                    assert!(
                        markdown.contains(chunk.chunk_id.as_str()),
                        "after edit {step}: hover {hover}"
                    );
                }
                None => assert_eq!(answer, Value::Null, "after edit {step}"),
            }
            checked += 1;
        }
    }

    // Every request got an answer, none an error.
    let (mut hovers, mut actions) = (0, 0);
    for (id, method) in pending {
        let response = client.response(id);
        assert!(
            response.get("error").is_none(),
            "{method} {id} failed: {response}"
        );
        let result = &response["result"];
        if method == "hover" {
            hovers += 1;
            assert!(
                result.is_null() || result["contents"]["value"].is_string(),
                "hover {id}: {result}"
            );
        } else {
            actions += 1;
            assert!(
                result.is_null() || result.is_array(),
                "codeAction {id}: {result}"
            );
        }
    }
    assert!(hovers >= total / 10 && actions >= total / 10 && checked == total / 100);

    // The final text: every chunk of a cold parse, as the server has it.
    let (fresh, _) = chunk_source(&mut parser, Language::Java, LOAD_FILE, &text);
    assert!(
        fresh.len() > 10,
        "the file kept its methods: {}",
        fresh.len()
    );
    for chunk in &fresh {
        let mut probe = chunk.start_byte + 1;
        while !text.is_char_boundary(probe) {
            probe += 1;
        }
        let innermost = fresh
            .iter()
            .filter(|c| c.start_byte <= probe && probe <= c.end_byte)
            .min_by_key(|c| c.end_byte - c.start_byte)
            .unwrap();
        let answer = client.call(
            "acdp/chunk",
            json!({"uri": doc, "position": position_of(&text, probe)}),
        );
        assert_eq!(
            answer,
            expected_chunk(root, &text, innermost, json!(total + 1))
        );
    }
    eprintln!(
        "load: {total} edits, {hovers} hovers and {actions} code actions in flight, \
         {checked} synchronous checks, {} chunks at the end",
        fresh.len()
    );
    assert_eq!(client.shutdown_and_exit().code(), Some(0));
}

#[test]
fn with_an_llm_endpoint_the_qa_action_asks_the_model_with_progress_and_a_cancel_button() {
    use fake_llm::{FakeServer, Reply, Script, grounded_reply};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let slow = Arc::new(AtomicBool::new(false));
    let slow_now = slow.clone();
    let script: Script = Arc::new(move |body, _| {
        let reply = grounded_reply(body);
        if slow_now.load(Ordering::SeqCst) {
            Reply {
                delay: std::time::Duration::from_secs(60),
                ..reply
            }
        } else {
            reply
        }
    });
    let server = runtime.block_on(FakeServer::start(script));
    let repo = copy_shop();
    let root = repo.path();
    std::fs::write(
        root.join("acdp.toml"),
        "[llm]\ntimeout_secs = 120\nquestions_per_topic = 1\n",
    )
    .unwrap();
    let index = cold_index(root);
    let mut client = start(root);
    initialize(
        &mut client,
        root,
        json!({"llm": {"baseUrl": server.base_url(), "model": "fake-model"}, "sampleLanguage": "en"}),
    );
    wait_for_indexing_end(&mut client, 1);
    let method = method_chunk(&index, SERVICE, "cancelOrder");

    let generated = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.generateQa", "arguments": [{"chunk_id": method.chunk_id.as_str()}]}),
    );
    let added = ids(&generated["added"]);
    assert!(!added.is_empty(), "{generated}");
    let stored = read_workspace_samples(root);
    assert_eq!(stored.len(), added.len());
    for sample in &stored {
        assert_eq!(sample.generator.name, "acdp-llm");
        assert_eq!(sample.generator.model.as_deref(), Some("fake-model"));
    }
    assert!(
        stored.iter().any(|s| s.source.kind == "llm-question"),
        "the model wrote questions about the topics including the method"
    );
    assert!(
        stored.iter().any(|s| s.source.kind != "llm-question"),
        "and answered the offline generator's questions"
    );
    assert_eq!(
        server.probes().len(),
        4,
        "probed once: json_schema obeyed, three seed probes"
    );
    let progress = progress_of(&client, "acdp/generate/1");
    assert_eq!(progress.first().unwrap()["kind"], "begin", "{progress:?}");
    assert_eq!(
        progress.first().unwrap()["cancellable"],
        true,
        "{progress:?}"
    );
    assert!(
        progress.iter().any(|p| p["kind"] == "report"
            && p["message"]
                .as_str()
                .is_some_and(|m| m.contains(" requests"))),
        "{progress:?}"
    );
    assert_eq!(progress.last().unwrap()["kind"], "end", "{progress:?}");

    // A slow endpoint: the cancel button stops the run and the command says so.
    slow.store(true, Ordering::SeqCst);
    let other = method_chunk(&index, SERVICE, "paySuccess");
    let id = client.send_request(
        "workspace/executeCommand",
        json!({"command": "acdp.generateQa", "arguments": [{"chunk_id": other.chunk_id.as_str()}]}),
    );
    client.wait_for(|m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == "acdp/generate/2"
            && m["params"]["value"]["kind"] == "begin"
    });
    client.notify(
        "window/workDoneProgress/cancel",
        json!({"token": "acdp/generate/2"}),
    );
    let response = client.response(id);
    assert_eq!(
        response["error"]["code"], -32800,
        "RequestCancelled: {response}"
    );
    assert!(
        response["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cancelled") && m.contains("llm-cache")),
        "{response}"
    );
    client.wait_for(|m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == "acdp/generate/2"
            && m["params"]["value"]["kind"] == "end"
    });
    assert_eq!(read_workspace_samples(root).len(), stored.len());
    assert!(client.shutdown_and_exit().success());
}

/// The dataset's samples (all splits), by id.
fn dataset_samples(out: &Path) -> std::collections::BTreeMap<String, Value> {
    std::fs::read_to_string(out.join("samples.jsonl"))
        .expect("the dataset's samples.jsonl")
        .lines()
        .map(|line| {
            let sample: Value = serde_json::from_str(line).expect("a sample");
            (sample["sample_id"].as_str().unwrap().to_owned(), sample)
        })
        .collect()
}

/// `acdp.reviewSample` with `verdict`; the answer, checked to record that verdict.
fn record_review(client: &mut LspClient, id: &str, verdict: &str) -> Value {
    let answer = execute(
        client,
        "acdp.reviewSample",
        json!({"sample_id": id, "verdict": verdict}),
    );
    assert_eq!(answer["result"]["review"]["verdict"], verdict, "{answer}");
    answer
}

fn execute(client: &mut LspClient, command: &str, argument: Value) -> Value {
    client.request(
        "workspace/executeCommand",
        json!({"command": command, "arguments": [argument]}),
    )
}

#[test]
fn reviewed_samples_replace_generated_ones_in_the_export() {
    let repo = copy_shop();
    let root = repo.path();
    let index = cold_index(root);
    let mut client = start(root);
    initialize(&mut client, root, json!({"reviewer": "ana"}));
    wait_for_indexing_end(&mut client, 1);
    let method = method_chunk(&index, SERVICE, "cancelOrder");
    let generated = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.generateQa", "arguments": [{"chunk_id": method.chunk_id.as_str()}]}),
    );
    let added = ids(&generated["added"]);
    // What `acdp pipeline` makes without the editor's file: the three samples reviewed below
    // are among them, so the export has a generated version to replace or keep out.
    let plain_out = tempfile::tempdir().unwrap();
    let plain = std::process::Command::new(env!("CARGO_BIN_EXE_acdp"))
        .args([
            "pipeline",
            root.to_str().unwrap(),
            "--no-editor-samples",
            "--out",
        ])
        .arg(plain_out.path())
        .output()
        .unwrap();
    assert!(plain.status.success(), "{plain:?}");
    let generated_only = dataset_samples(plain_out.path());
    let in_both: Vec<&String> = added
        .iter()
        .filter(|id| generated_only.contains_key(*id))
        .collect();
    assert!(
        in_both.len() >= 3,
        "{generated} / {:?}",
        generated_only.keys()
    );
    let (accepted, edited, rejected) = (in_both[0], in_both[1], in_both[2]);

    // Accept one: recorded with the time and the reviewer.
    let answer = record_review(&mut client, accepted, "accepted");
    assert_eq!(answer["result"]["review"]["reviewer"], "ana", "{answer}");
    assert!(
        answer["result"]["review"]["at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // Edit one: the edit file opens clean; a saved identifier the evidence does not hold is
    // an error on its line and records nothing; the fixed text is recorded as edited.
    let file = execute(&mut client, "acdp.editSample", json!({"sample_id": edited}));
    let edit_uri = file["result"]["uri"].as_str().unwrap().to_owned();
    let edit_path = PathBuf::from(file["result"]["path"].as_str().unwrap());
    assert_eq!(edit_path, root.join(format!(".acdp/review/{edited}.json")));
    let original_text = std::fs::read_to_string(&edit_path).unwrap();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": edit_uri, "languageId": "json", "version": 1, "text": original_text}}),
    );
    client.wait_for(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == edit_uri
            && m["params"]["diagnostics"] == json!([])
    });
    // Typing in it is no business of the index: no "not open" warning per keystroke.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": edit_uri, "version": 2},
            "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": " "}]
        }),
    );
    client.call("acdp/samples", json!({"filter": {}}));
    let warned = client.received.iter().any(|m| {
        m["method"] == "window/logMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("is not open"))
    });
    assert!(!warned, "a change of the edit file was warned about");
    let edit: Value = serde_json::from_str(&original_text).unwrap();
    let old_answer = edit["answer"].as_str().unwrap().to_owned();
    let answer_line = original_text
        .lines()
        .position(|l| l.starts_with("  \"answer\":"))
        .unwrap();
    // As a person edits: the answer's string in place, the rest of the file as it was.
    let save = |client: &mut LspClient, answer: &str| {
        let text = original_text.replacen(
            &json!(old_answer).to_string(),
            &json!(answer).to_string(),
            1,
        );
        assert_ne!(text, original_text);
        std::fs::write(&edit_path, &text).unwrap();
        client.notify(
            "textDocument/didSave",
            json!({"textDocument": {"uri": edit_uri}, "text": text}),
        );
    };
    save(
        &mut client,
        &format!("{old_answer} It calls `frobnicateOrder` first."),
    );
    let bad = client.wait_for(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == edit_uri
            && m["params"]["diagnostics"] != json!([])
    });
    let diagnostic = &bad["params"]["diagnostics"][0];
    assert_eq!(diagnostic["code"], "identifiers_grounded", "{bad}");
    assert_eq!(diagnostic["severity"], 1, "{bad}");
    assert!(
        diagnostic["message"]
            .as_str()
            .unwrap()
            .contains("frobnicateOrder"),
        "{bad}"
    );
    assert_eq!(diagnostic["range"]["start"]["line"], answer_line, "{bad}");
    let stored = |root: &Path, id: &str| {
        read_workspace_samples(root)
            .into_iter()
            .find(|s| s.sample_id == id)
            .unwrap()
    };
    assert!(
        stored(root, edited).review.is_none(),
        "a failed edit was recorded"
    );
    let fixed = format!("Reviewed: {old_answer}");
    save(&mut client, &fixed);
    client.wait_for(|m| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("{edited} saved as edited")))
    });
    // The diagnostics published for that save (before the message) are empty again.
    let last_diagnostics = client
        .received
        .iter()
        .rev()
        .find(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == edit_uri
        })
        .unwrap();
    assert_eq!(last_diagnostics["params"]["diagnostics"], json!([]));
    let edited_sample = stored(root, edited);
    let review = edited_sample.review.as_ref().unwrap();
    assert_eq!(review.verdict, acdp_sample::ReviewVerdict::Edited);
    match &edited_sample.body {
        acdp_sample::SampleBody::Qa { answer, .. } => assert_eq!(answer, &fixed),
        other => panic!("{other:?}"),
    }
    // The question says which sample it is: changing it is refused.
    let question = json!(edit["question"]).to_string();
    let renamed = original_text.replacen(&question, "\"Something else entirely?\"", 1);
    client.notify(
        "textDocument/didSave",
        json!({"textDocument": {"uri": edit_uri}, "text": renamed}),
    );
    let refused = client.wait_for(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == edit_uri
            && m["params"]["diagnostics"][0]["code"] == "edit_shape"
    });
    let question_line = original_text
        .lines()
        .position(|l| l.starts_with("  \"question\":"))
        .unwrap();
    assert_eq!(
        refused["params"]["diagnostics"][0]["range"]["start"]["line"], question_line,
        "{refused}"
    );

    // Reject one.
    record_review(&mut client, rejected, "rejected");
    let listed = client.call("acdp/samples", json!({"filter": {"review": "rejected"}}));
    assert_eq!(ids(&listed), vec![rejected.clone()]);
    let pending = client.call("acdp/samples", json!({"filter": {"review": "pending"}}));
    assert_eq!(ids(&pending).len(), added.len() - 3);
    assert!(!ids(&pending).contains(rejected));
    assert_eq!(listed[0]["stale"], false, "{listed}");

    // The export: the accepted and edited samples in place of their generated versions, the
    // rejected one out although the generator makes it on every run; counts in stats.md.
    let exported = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.exportDataset"}),
    );
    let out = root.join(".acdp/dataset");
    let dataset = dataset_samples(&out);
    assert_eq!(dataset[accepted]["review"]["verdict"], "accepted");
    assert_eq!(dataset[edited]["review"]["verdict"], "edited");
    assert_eq!(dataset[edited]["answer"], json!(fixed));
    assert!(
        !dataset.contains_key(rejected),
        "the rejected sample was exported"
    );
    // Every other generated sample is exported as generated; the rest of the export are the
    // editor's samples the pipeline does not make by itself.
    for (id, sample) in generated_only.iter().filter(|(id, _)| *id != rejected) {
        if id != accepted && id != edited {
            assert_eq!(dataset.get(id), Some(sample), "{id} changed or left out");
        }
    }
    for id in dataset
        .keys()
        .filter(|id| !generated_only.contains_key(*id))
    {
        assert!(added.contains(id), "{id} comes from neither: {exported}");
    }
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["review"]["accepted"], 1, "{stats}");
    assert_eq!(stats["review"]["edited"], 1, "{stats}");
    assert_eq!(stats["review"]["rejected"], 1, "{stats}");
    assert_eq!(stats["review"]["replaced_generated"], 2, "{stats}");
    assert_eq!(stats["review"]["rejected_generated"], 1, "{stats}");
    assert_eq!(
        stats["by_review"],
        json!({"accepted": 1, "edited": 1}),
        "{stats}"
    );
    let stats_md = std::fs::read_to_string(out.join("stats.md")).unwrap();
    assert!(stats_md.contains("## Review"), "{stats_md}");
    assert!(
        stats_md.contains("1 accepted, 1 edited, 1 rejected"),
        "{stats_md}"
    );

    // Generating again does not bring the rejected sample back into the file's pending ones.
    let again = client.call(
        "workspace/executeCommand",
        json!({"command": "acdp.generateQa", "arguments": [{"chunk_id": method.chunk_id.as_str()}]}),
    );
    assert_eq!(again["added"], json!([]), "{again}");
    assert_eq!(
        stored(root, rejected).review.unwrap().verdict,
        acdp_sample::ReviewVerdict::Rejected
    );

    // Stale: an edit of the method's code marks the samples citing it.
    let text = open(&mut client, root, SERVICE);
    let at = position_in(&text, "cancelOrder(Long orderId", 0);
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri(root, SERVICE), "version": 2},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": "/* changed */ "}]
        }),
    );
    let stale = client.call("acdp/samples", json!({"filter": {"stale": true}}));
    assert_eq!(ids(&stale).len(), added.len(), "{stale}");
    assert_eq!(stale[0]["stale_chunks"], json!([method.chunk_id.as_str()]));

    // Regenerating an accepted sample puts the generator's version back, not reviewed.
    let regenerated = execute(
        &mut client,
        "acdp.regenerateSample",
        json!({"sample_id": accepted}),
    );
    assert_eq!(
        regenerated["result"]["sample_id"],
        json!(accepted),
        "{regenerated}"
    );
    assert!(
        regenerated["result"].get("review").is_none(),
        "{regenerated}"
    );
    assert!(stored(root, accepted).review.is_none());
    assert!(client.shutdown_and_exit().success());
}
