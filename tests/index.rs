//! The index as users and later stages rely on it: the `acdp index` contract, stable chunk ids,
//! the stored state, bad input, and the incremental document store.

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::copy_fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use acdp_index::{
    Chunk, ChunkKind, DocumentStore, IndexOptions, Language, Position, Range, TextChange,
    index_workspace,
};
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("fixtures").join(name)
}

struct Run {
    chunks: Vec<Value>,
    stderr: String,
}

fn acdp_index(repo: &Path, extra: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_acdp"))
        .arg("index")
        .arg(repo)
        .args(["--format", "jsonl"])
        .args(extra)
        .output()
        .expect("run acdp");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "acdp index failed: {stderr}");
    let chunks = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is one JSON object"))
        .collect();
    Run { chunks, stderr }
}

fn no_cache() -> IndexOptions {
    IndexOptions {
        use_cache: false,
        ..IndexOptions::default()
    }
}

// ---- the CLI contract -------------------------------------------------------------------

#[test]
fn index_prints_one_json_object_per_chunk_with_the_contract_fields() {
    let repo = copy_fixture("shop");
    let run = acdp_index(repo.path(), &[]);
    assert!(
        run.chunks.len() > 300,
        "shop has hundreds of chunks, got {}",
        run.chunks.len()
    );
    for chunk in &run.chunks {
        for field in [
            "chunk_id",
            "kind",
            "path",
            "symbol",
            "start_line",
            "end_line",
            "content_hash",
        ] {
            assert!(chunk.get(field).is_some(), "missing {field} in {chunk}");
        }
        let path = chunk["path"].as_str().unwrap();
        assert!(!path.contains('\\') && !path.starts_with('/'), "{path}");
        assert!(chunk["start_line"].as_u64() <= chunk["end_line"].as_u64());
    }
    let kinds: std::collections::BTreeSet<_> = run
        .chunks
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["constructor", "mapper_statement", "method", "type_header"]
    );
    // The mapper statement that locks stock is a chunk named namespace.id, with its SQL.
    let run = acdp_index(repo.path(), &["--with-text"]);
    let lock = run
        .chunks
        .iter()
        .find(|c| c["symbol"] == "com.acme.shop.inventory.dao.SkuStockDao.lockStock")
        .expect("lockStock statement");
    assert_eq!(lock["kind"], "mapper_statement");
    assert!(
        lock["code"].as_str().unwrap().contains("lock_stock"),
        "{lock}"
    );
    // The summary goes to stderr, with files, chunks and time.
    assert!(
        run.stderr.contains("files") && run.stderr.contains("chunks"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(" ms"), "{}", run.stderr);
}

#[test]
fn textkit_chunks_match_the_hand_written_list() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("textkit").join("expected/chunks.json")).unwrap(),
    )
    .unwrap();
    let index = index_workspace(&fixture("textkit"), &no_cache()).unwrap();
    let found: std::collections::HashMap<(String, String, String), (u32, u32)> = index
        .chunks()
        .map(|(_, c)| {
            (
                (c.path.clone(), c.kind.to_string(), c.symbol.clone()),
                (c.start_line, c.end_line),
            )
        })
        .collect();
    let broken: Vec<&str> = expected["broken_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["path"].as_str().unwrap())
        .collect();
    let mut expected_keys = std::collections::HashSet::new();
    for chunk in expected["chunks"].as_array().unwrap() {
        let key = (
            chunk["path"].as_str().unwrap().to_owned(),
            chunk["kind"].as_str().unwrap().to_owned(),
            chunk["symbol"].as_str().unwrap().to_owned(),
        );
        let lines = (
            chunk["start_line"].as_u64().unwrap() as u32,
            chunk["end_line"].as_u64().unwrap() as u32,
        );
        assert_eq!(
            found.get(&key),
            Some(&lines),
            "expected chunk {key:?} at lines {lines:?}"
        );
        expected_keys.insert(key);
    }
    // Anything more may only come from the files broken on purpose.
    for key in found.keys().filter(|k| !expected_keys.contains(*k)) {
        assert!(broken.contains(&key.0.as_str()), "unexpected chunk {key:?}");
    }
}

#[test]
fn bad_files_are_skipped_or_warned_with_file_and_line() {
    let repo = copy_fixture("textkit");
    let run = acdp_index(repo.path(), &[]);
    let paths: Vec<&str> = run
        .chunks
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    // .gitignore is honoured (the fixture has its own).
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("build/") || p.ends_with(".generated.java"))
    );
    // Non-UTF-8 is skipped with the reason; syntax errors are warnings with file:line.
    assert!(!paths.iter().any(|p| p.ends_with("Latin1.java")));
    assert!(
        run.stderr
            .contains("src/main/java/org/textkit/Latin1.java: not valid UTF-8"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("broken/StrayToken.java:17: syntax error"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("broken/BrokenNormalizer.java:"),
        "{}",
        run.stderr
    );

    // Over-size files are skipped with the limit named.
    let run = acdp_index(repo.path(), &["--max-file-size", "2000", "--no-cache"]);
    assert!(
        run.stderr.contains("over the 2000-byte limit"),
        "{}",
        run.stderr
    );
}

#[test]
fn include_and_exclude_globs_select_files() {
    let repo = copy_fixture("shop");
    let only_xml = acdp_index(repo.path(), &["--include", "*.xml", "--no-cache"]);
    assert!(!only_xml.chunks.is_empty());
    assert!(
        only_xml
            .chunks
            .iter()
            .all(|c| c["kind"] == "mapper_statement")
    );
    let no_order = acdp_index(repo.path(), &["--exclude", "**/order/**", "--no-cache"]);
    assert!(!no_order.chunks.is_empty());
    assert!(
        no_order
            .chunks
            .iter()
            .all(|c| !c["path"].as_str().unwrap().contains("/order/"))
    );
}

#[test]
fn missing_repository_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_acdp"))
        .args(["index", "/no/such/repo"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/no/such/repo is not a directory"),
        "{stderr}"
    );
}

// ---- stable ids ---------------------------------------------------------------------------

fn ids_by_symbol(run: &Run) -> Vec<(String, String, String)> {
    let mut ids: Vec<_> = run
        .chunks
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_owned(),
                c["symbol"].as_str().unwrap().to_owned(),
                c["chunk_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn ids_are_identical_across_runs_and_checkout_folders() {
    let a = copy_fixture("shop");
    let b = copy_fixture("shop");
    let first = acdp_index(a.path(), &[]);
    let second = acdp_index(b.path(), &[]);
    let again = acdp_index(a.path(), &[]); // from stored state this time
    assert_eq!(ids_by_symbol(&first), ids_by_symbol(&second));
    assert_eq!(
        first.chunks, again.chunks,
        "stored state must give the same chunks"
    );
    let ids: std::collections::HashSet<_> = first
        .chunks
        .iter()
        .map(|c| c["chunk_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), first.chunks.len(), "chunk ids are unique");
}

const ORDER_SERVICE: &str = "package shop;

public class OrderService {
    private int count;

    /** Cancels an order. */
    public void cancel(Long id) {
        if (id == null) {
            throw new IllegalArgumentException(\"id\");
        }
    }

    public void cancel(Long id, String reason) {
        cancel(id);
    }

    public int total(java.util.List<Integer> items, int... extra) {
        return items.size();
    }
}
";

fn chunks_of(text: &str) -> Vec<Chunk> {
    let mut store = DocumentStore::default();
    store.open(
        "src/shop/OrderService.java",
        Language::Java,
        1,
        text.to_owned(),
    );
    store
        .get("src/shop/OrderService.java")
        .unwrap()
        .chunks
        .clone()
}

fn find<'a>(chunks: &'a [Chunk], symbol: &str) -> &'a Chunk {
    chunks
        .iter()
        .find(|c| c.symbol == symbol)
        .unwrap_or_else(|| {
            panic!(
                "{symbol} not in {:?}",
                chunks.iter().map(|c| &c.symbol).collect::<Vec<_>>()
            )
        })
}

#[test]
fn edits_above_and_below_keep_ids_and_hashes() {
    let before = chunks_of(ORDER_SERVICE);
    let above = ORDER_SERVICE.replace(
        "    private int count;\n",
        "    private int count;\n    private int added;\n\n    public void ping() {}\n",
    );
    let below = ORDER_SERVICE.replace("}\n}\n", "}\n\n    public void pong() {}\n}\n");
    for edited in [above, below] {
        let after = chunks_of(&edited);
        for symbol in [
            "shop.OrderService.cancel(Long)",
            "shop.OrderService.total(java.util.List,int...)",
        ] {
            let (old, new) = (find(&before, symbol), find(&after, symbol));
            assert_eq!(old.chunk_id, new.chunk_id, "{symbol}");
            assert_eq!(old.content_hash, new.content_hash, "{symbol}");
        }
    }
}

#[test]
fn edit_inside_a_method_keeps_its_id_and_changes_its_hash() {
    let before = chunks_of(ORDER_SERVICE);
    let after = chunks_of(&ORDER_SERVICE.replace("\"id\"", "\"id must not be null\""));
    let (old, new) = (
        find(&before, "shop.OrderService.cancel(Long)"),
        find(&after, "shop.OrderService.cancel(Long)"),
    );
    assert_eq!(old.chunk_id, new.chunk_id);
    assert_ne!(old.content_hash, new.content_hash);
    // The other overload is untouched.
    let other = "shop.OrderService.cancel(Long,String)";
    assert_eq!(
        find(&before, other).content_hash,
        find(&after, other).content_hash
    );
}

#[test]
fn overloads_get_distinct_ids_and_a_rename_gives_a_new_id() {
    let chunks = chunks_of(ORDER_SERVICE);
    let one = find(&chunks, "shop.OrderService.cancel(Long)");
    let two = find(&chunks, "shop.OrderService.cancel(Long,String)");
    assert_ne!(one.chunk_id, two.chunk_id);
    assert_eq!(one.doc.as_deref(), Some("Cancels an order."));
    let renamed =
        chunks_of(&ORDER_SERVICE.replace("void cancel(Long id) {", "void revoke(Long id) {"));
    let revoke = find(&renamed, "shop.OrderService.revoke(Long)");
    assert!(renamed.iter().all(|c| c.chunk_id != one.chunk_id));
    assert_ne!(revoke.chunk_id, one.chunk_id);
    let header = find(&chunks, "shop.OrderService");
    assert_eq!(header.kind, ChunkKind::TypeHeader);
    assert_eq!(
        (header.start_line, header.end_line),
        (3, 4),
        "declaration and fields"
    );
}

// ---- the document store --------------------------------------------------------------------

fn at(line: u32, character: u32) -> Position {
    Position { line, character }
}

#[test]
fn document_store_reports_changed_added_removed_and_moved_chunks() {
    let path = "src/shop/OrderService.java";
    let mut store = DocumentStore::default();
    let opened = store.open(path, Language::Java, 1, ORDER_SERVICE.to_owned());
    assert_eq!(
        opened.added.len(),
        4,
        "header, two overloads of cancel, total"
    );
    let cancel = find(
        &store.get(path).unwrap().chunks,
        "shop.OrderService.cancel(Long)",
    )
    .clone();

    // Type inside cancel(Long), in the string `"id"` on line 8 (0-based).
    let line = ORDER_SERVICE.lines().nth(8).unwrap();
    let col = line.find("\"id\"").unwrap() as u32;
    let delta = store
        .apply_changes(
            path,
            2,
            &[TextChange {
                range: Some(Range {
                    start: at(8, col + 1),
                    end: at(8, col + 3),
                }),
                text: "order id".into(),
            }],
        )
        .unwrap();
    assert_eq!(delta.changed, std::slice::from_ref(&cancel.chunk_id));
    assert!(delta.added.is_empty() && delta.removed.is_empty());
    // The edit stayed on one line, so nothing after it moved.
    assert!(delta.moved.is_empty(), "{delta:?}");

    // A blank line above everything moves every chunk but changes none.
    let delta = store
        .apply_changes(
            path,
            3,
            &[TextChange {
                range: Some(Range {
                    start: at(1, 0),
                    end: at(1, 0),
                }),
                text: "\n".into(),
            }],
        )
        .unwrap();
    assert!(delta.changed.is_empty() && delta.added.is_empty() && delta.removed.is_empty());
    assert_eq!(delta.moved.len(), 4);

    // Renaming a method removes one id and adds another.
    let text = store.get(path).unwrap().text.clone();
    let (line_no, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("int total("))
        .unwrap();
    let col = line.find("total").unwrap() as u32;
    let delta = store
        .apply_changes(
            path,
            4,
            &[TextChange {
                range: Some(Range {
                    start: at(line_no as u32, col),
                    end: at(line_no as u32, col + 5),
                }),
                text: "sum".into(),
            }],
        )
        .unwrap();
    assert_eq!(delta.added.len(), 1);
    assert_eq!(delta.removed.len(), 1);

    // Old versions are refused and change nothing.
    let err = store.apply_changes(
        path,
        4,
        &[TextChange {
            range: None,
            text: String::new(),
        }],
    );
    assert!(err.is_err());
    assert!(store.get(path).unwrap().text.contains("int sum("));
}

#[test]
fn utf16_positions_are_honoured_for_non_ascii_text() {
    let path = "src/shop/Msg.java";
    let text = "class Msg {\n    // 订单😀 note\n    void a() { String s = \"取消\"; }\n}\n";
    let mut store = DocumentStore::default();
    store.open(path, Language::Java, 1, text.to_owned());
    // Replace `取消` (UTF-16 columns 27..29 on line 2) with `ok`.
    let line = text.lines().nth(2).unwrap();
    let col = line[..line.find("取消").unwrap()].encode_utf16().count() as u32;
    store
        .apply_changes(
            path,
            2,
            &[TextChange {
                range: Some(Range {
                    start: at(2, col),
                    end: at(2, col + 2),
                }),
                text: "ok".into(),
            }],
        )
        .unwrap();
    assert!(store.get(path).unwrap().text.contains("String s = \"ok\";"));
    // After the emoji (two UTF-16 units) on line 1.
    let line = text.lines().nth(1).unwrap();
    let col = line[..line.find(" note").unwrap()].encode_utf16().count() as u32;
    store
        .apply_changes(
            path,
            3,
            &[TextChange {
                range: Some(Range {
                    start: at(1, col),
                    end: at(1, col + 5),
                }),
                text: String::new(),
            }],
        )
        .unwrap();
    assert!(store.get(path).unwrap().text.contains("// 订单😀\n"));
}

/// Lines end at `\n`; the `\r` of a `\r\n` belongs to the break (a column past the content
/// stops before it), a lone `\r` is a character like any other (the fuzzer found a text ending
/// in one whose last character could not be deleted).
#[test]
fn positions_past_a_line_end_stop_before_crlf_but_not_before_a_lone_cr() {
    let path = "src/shop/Cr.java";
    let mut store = DocumentStore::default();
    store.open(path, Language::Java, 1, "class A {}\r\nclass B {}\r".into());
    let replace = |store: &mut DocumentStore, version, range, text: &str| {
        store
            .apply_changes(
                path,
                version,
                &[TextChange {
                    range: Some(range),
                    text: text.into(),
                }],
            )
            .unwrap();
    };
    // Line 0 is `class A {}` + CRLF: column 99 clamps to before the `\r`.
    let range = Range {
        start: at(0, 10),
        end: at(0, 99),
    };
    replace(&mut store, 2, range, " // a");
    // Line 1 is `class B {}\r`: its 11th character is the lone `\r`, which can be deleted.
    let range = Range {
        start: at(1, 10),
        end: at(1, 11),
    };
    replace(&mut store, 3, range, "");
    assert_eq!(
        store.get(path).unwrap().text,
        "class A {} // a\r\nclass B {}"
    );
}

// ---- property: incremental == fresh -------------------------------------------------------

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

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

const SNIPPETS: &[&str] = &[
    "",
    "x",
    "\n",
    "}",
    "{",
    "(",
    "// 注释 😀\n",
    "    public void added(int a) { return; }\n",
    "class Inner { void m() {} }",
    "@Transactional\n",
    "\"str\"",
    "/** doc */",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn random_edit_sequences_end_in_the_chunks_of_a_fresh_parse(
        edits in proptest::collection::vec(
            (0.0f64..1.0, 0usize..40, 0usize..SNIPPETS.len(), proptest::bool::ANY),
            1..40,
        )
    ) {
        let path = "src/shop/OrderService.java";
        let mut store = DocumentStore::default();
        let mut expected = ORDER_SERVICE.to_owned();
        store.open(path, Language::Java, 0, expected.clone());
        let mut version = 0;
        let mut batch: Vec<TextChange> = Vec::new();
        // The store's view while a batch is pending: positions refer to the text after the
        // earlier changes of the same batch, as in LSP.
        for (at_fraction, len, snippet, flush) in edits {
            let start = floor_char_boundary(&expected, (at_fraction * expected.len() as f64) as usize);
            let end = floor_char_boundary(&expected, start + len).max(start);
            let range = Range { start: position_of(&expected, start), end: position_of(&expected, end) };
            expected.replace_range(start..end, SNIPPETS[snippet]);
            batch.push(TextChange { range: Some(range), text: SNIPPETS[snippet].to_owned() });
            if flush {
                version += 1;
                store.apply_changes(path, version, &batch).unwrap();
                batch.clear();
            }
        }
        if !batch.is_empty() {
            store.apply_changes(path, version + 1, &batch).unwrap();
        }
        let fresh = chunks_of(&expected);
        let live = store.get(path).unwrap();
        proptest::prop_assert_eq!(&live.text, &expected);
        // A document the last parse found valid is exact at once; a broken one after settling.
        if !store.is_unsettled(path) {
            proptest::prop_assert_eq!(&live.chunks, &fresh);
        }
        store.settle(path);
        proptest::prop_assert!(!store.is_unsettled(path));
        proptest::prop_assert_eq!(&store.get(path).unwrap().chunks, &fresh);
    }
}

#[cfg(unix)]
#[test]
fn symlink_loops_terminate_and_are_reported() {
    let repo = tempfile::tempdir().unwrap();
    let src = repo.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("A.java"), "class A { void f() {} }\n").unwrap();
    std::os::unix::fs::symlink(repo.path(), src.join("loop")).unwrap();
    let run = acdp_index(repo.path(), &["--follow", "--no-cache"]);
    let symbols: Vec<_> = run
        .chunks
        .iter()
        .map(|c| c["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["A", "A.f()"]);
    assert!(
        run.stderr.contains("src/loop") && run.stderr.contains("loop"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_repository_and_repository_without_java_index_to_nothing() {
    let empty = tempfile::tempdir().unwrap();
    let run = acdp_index(empty.path(), &["--no-cache"]);
    assert!(run.chunks.is_empty());
    assert!(run.stderr.contains("indexed 0 files"), "{}", run.stderr);

    let no_java = tempfile::tempdir().unwrap();
    std::fs::write(
        no_java.path().join("pom.xml"),
        "<project><artifactId>x</artifactId></project>",
    )
    .unwrap();
    std::fs::write(no_java.path().join("README.md"), "# nothing here").unwrap();
    let run = acdp_index(no_java.path(), &["--no-cache"]);
    assert!(run.chunks.is_empty());
    assert!(run.stderr.contains("indexed 0 files"), "{}", run.stderr);
}

#[test]
fn stored_state_is_reused_and_refreshed_for_changed_files() {
    let repo = copy_fixture("shop");
    let first = acdp_index(repo.path(), &[]);
    assert!(
        first.stderr.contains("(0 from stored state)"),
        "{}",
        first.stderr
    );
    assert!(repo.path().join(".acdp/index.bin").is_file());
    let warm = acdp_index(repo.path(), &[]);
    let files = first
        .chunks
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert!(
        warm.stderr
            .contains(&format!("({files} from stored state)")),
        "{}",
        warm.stderr
    );

    // Change one method: only that file is parsed again and only its chunk's hash moves.
    let path = repo
        .path()
        .join("src/main/java/com/acme/shop/common/exception/Asserts.java");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("throw new ApiException", "throw  new ApiException", 1),
    )
    .unwrap();
    let after = acdp_index(repo.path(), &[]);
    assert!(
        after
            .stderr
            .contains(&format!("({} from stored state)", files - 1)),
        "{}",
        after.stderr
    );
    assert_eq!(ids_by_symbol(&first), ids_by_symbol(&after));
    let changed: Vec<_> = first
        .chunks
        .iter()
        .zip(&after.chunks)
        .filter(|(a, b)| a["content_hash"] != b["content_hash"])
        .map(|(a, _)| a["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(
        changed[0].starts_with("com.acme.shop.common.exception.Asserts."),
        "{changed:?}"
    );

    // A torn state file is rebuilt, not an error.
    std::fs::write(repo.path().join(".acdp/index.bin"), b"acdpidx\0garbage").unwrap();
    let rebuilt = acdp_index(repo.path(), &[]);
    assert!(
        rebuilt.stderr.contains("(0 from stored state)"),
        "{}",
        rebuilt.stderr
    );
    assert_eq!(rebuilt.chunks, after.chunks);
}

// ---- property: ids do not depend on where or in which order files are found ----------------

/// Cases for the property tests: modest by default, `PROPTEST_CASES=1000` for a longer run.
fn proptest_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

/// Every file of a fixture (relative path, bytes), `.acdp` left out.
fn fixture_files(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".acdp") {
                continue;
            }
            if path.is_dir() {
                visit(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let root = fixture(name);
    let mut files = Vec::new();
    visit(&root, &root, &mut files);
    files.sort();
    files
}

/// What a chunk is, independent of where the repository lives: everything but nothing else.
fn chunk_facts(root: &Path, threads: usize) -> Vec<Chunk> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let index = pool.install(|| index_workspace(root, &no_cache()).unwrap());
    index.chunks().map(|(_, chunk)| chunk.clone()).collect()
}

/// A shuffled order of textkit's files.
fn file_order() -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
    use proptest::strategy::Strategy;
    let n = fixture_files("textkit").len();
    proptest::strategy::Just((0..n).collect::<Vec<_>>()).prop_shuffle()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(proptest_cases()))]

    /// The same tree, written file by file in two shuffled orders under two differently named
    /// (and differently deep) folders, indexed on 1 and on 3 threads, gives the same chunks:
    /// ids, hashes, lines and byte ranges.
    #[test]
    fn chunk_ids_do_not_depend_on_checkout_folder_or_file_order(
        order_a in file_order(),
        order_b in file_order(),
        name_a in "[a-zA-Z0-9 ._-]{1,12}",
        name_b in "[a-zA-Z0-9_\u{4e00}-\u{4e20}]{1,12}",
        depth in 0usize..3,
    ) {
        let files = fixture_files("textkit");
        let temp = tempfile::tempdir().unwrap();
        // `.` and `..` are not folder names.
        let name_a = if name_a.trim_matches('.').is_empty() { "dots".to_owned() } else { name_a };
        let root_a = temp.path().join("a").join(&name_a);
        let mut root_b = temp.path().join("b");
        for level in 0..depth {
            root_b = root_b.join(format!("level{level}"));
        }
        let root_b = root_b.join(&name_b);
        for (root, order) in [(&root_a, &order_a), (&root_b, &order_b)] {
            for &i in order {
                let (rel, bytes) = &files[i];
                let path = root.join(rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
        }
        let a = chunk_facts(&root_a, 1);
        let b = chunk_facts(&root_b, 3);
        proptest::prop_assert!(a.len() > 20, "textkit has dozens of chunks, got {}", a.len());
        proptest::prop_assert_eq!(a, b);
    }
}

// ---- hostile repositories ------------------------------------------------------------------

/// A temporary repository with the given files.
fn repo_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    for (path, bytes) in files {
        let path = repo.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    repo
}

/// 5,000 nested blocks, parentheses, `if`s and a 5,000-term concatenation (tree depth 5,000),
/// and 1,000 nested classes: generated and minified code look like this.
fn deeply_nested_java() -> String {
    const DEPTH: usize = 5000;
    let mut java = String::from("package deep;\n\npublic class Deep {\n");
    java.push_str("    public void blocks() {\n");
    java.push_str(&"{".repeat(DEPTH));
    java.push_str("int x = 1;");
    java.push_str(&"}".repeat(DEPTH));
    java.push_str("\n    }\n\n    public int parens(int a) {\n        return ");
    java.push_str(&"(".repeat(DEPTH));
    java.push('a');
    java.push_str(&")".repeat(DEPTH));
    java.push_str(";\n    }\n\n    public void ifs(int a) {\n");
    java.push_str(&"if (a > 0) { ".repeat(DEPTH));
    java.push_str("throw new IllegalStateException(\"deep\");");
    java.push_str(&" }".repeat(DEPTH));
    java.push_str("\n    }\n\n    public String concat(String s) {\n        return s");
    java.push_str(&" + s".repeat(DEPTH));
    java.push_str(";\n    }\n");
    for i in 0..1000 {
        java.push_str(&format!("class N{i} {{ void m{i}() {{}} "));
    }
    java.push_str(&"}".repeat(1000));
    java.push_str("\n}\n");
    java
}

#[test]
fn deeply_nested_code_is_indexed_and_analysed_without_overflowing_the_stack() {
    let java = deeply_nested_java();
    let repo = repo_with(&[("src/deep/Deep.java", java.as_bytes())]);
    let run = acdp_index(repo.path(), &["--no-cache"]);
    let symbols: Vec<&str> = run
        .chunks
        .iter()
        .map(|c| c["symbol"].as_str().unwrap())
        .collect();
    for symbol in [
        "deep.Deep",
        "deep.Deep.blocks()",
        "deep.Deep.parens(int)",
        "deep.Deep.ifs(int)",
        "deep.Deep.concat(String)",
    ] {
        assert!(symbols.contains(&symbol), "{symbol} missing");
    }
    // Nested classes are chunks all the way down.
    let innermost = format!(
        "deep.Deep{}.m999()",
        (0..1000).map(|i| format!(".N{i}")).collect::<String>()
    );
    assert!(
        symbols.contains(&innermost.as_str()),
        "innermost method missing"
    );

    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_acdp"))
        .arg("pipeline")
        .arg(repo.path())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Nothing to ask about is left, so the run ends with exit status 1 and says so, rather
    // than with a crash or an empty dataset.
    assert_eq!(
        output.status.code(),
        Some(1),
        "acdp pipeline crashed: {stderr}"
    );
    assert!(stderr.contains("no sample passed validation"), "{stderr}");
    // The analysis leaves the file out with a warning instead of overflowing its stack.
    assert!(
        stderr.contains(
            "src/deep/Deep.java: code nested more than 1000 levels deep was not analysed"
        ),
        "{stderr}"
    );
}

/// Generated code nests types thousands deep; indexing runs on worker threads with 2 MB
/// stacks (rayon's, the language server's), where recursive walks over 5,000 nested classes
/// or a 20,000-segment qualified type name overflowed and aborted the process.
#[test]
fn deeply_nested_types_are_chunked_on_a_two_megabyte_stack() {
    const DEPTH: usize = 5000;
    let mut java = String::from("package p;\nclass D {\n");
    for i in 0..DEPTH {
        java.push_str(&format!(
            "class N{i} {{ void m{i}(java.util.List<int[]> a) {{}} "
        ));
    }
    java.push_str(&"}".repeat(DEPTH));
    java.push_str("\n}\n");
    let chunks = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || chunks_of(&java))
        .unwrap()
        .join()
        .expect("the chunker ran out of stack");
    // A header and a method per class, plus the outer class.
    assert_eq!(chunks.len(), 1 + 2 * DEPTH);
    let innermost = chunks.last().unwrap();
    assert!(
        innermost.symbol.ends_with(".N4999.m4999(java.util.List)"),
        "{}",
        innermost.symbol
    );

    // A parameter type qualified 20,000 segments deep nests as deep in the syntax tree.
    let qualified: Vec<String> = (0..20_000).map(|i| format!("a{i}")).collect();
    let qualified = qualified.join(".");
    let java = format!("package q; class Q {{ void m({qualified} x) {{}} }}\n");
    let chunks = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || chunks_of(&java))
        .unwrap()
        .join()
        .expect("the chunker ran out of stack");
    assert_eq!(chunks[1].symbol, format!("q.Q.m({qualified})"));
}

#[test]
fn a_ten_megabyte_one_line_file_is_skipped_with_the_limit_or_indexed_when_allowed() {
    let mut big = String::from("package big; public class Big { void f() { String s = \"");
    big.push_str(&"x".repeat(10 * 1024 * 1024));
    big.push_str("\"; } int g(int a) { return a; } }");
    let repo = repo_with(&[
        ("src/big/Big.java", big.as_bytes()),
        (
            "src/big/Small.java",
            b"package big; class Small { void h() {} }\n",
        ),
    ]);
    let run = acdp_index(repo.path(), &["--no-cache"]);
    let symbols: Vec<&str> = run
        .chunks
        .iter()
        .map(|c| c["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["big.Small", "big.Small.h()"]);
    assert!(
        run.stderr.contains(&format!(
            "src/big/Big.java: {} bytes is over the 1048576-byte limit",
            big.len()
        )),
        "{}",
        run.stderr
    );

    let run = acdp_index(repo.path(), &["--no-cache", "--max-file-size", "20000000"]);
    let big_chunks: Vec<(&str, u64, u64)> = run
        .chunks
        .iter()
        .filter(|c| c["path"] == "src/big/Big.java")
        .map(|c| {
            (
                c["symbol"].as_str().unwrap(),
                c["start_line"].as_u64().unwrap(),
                c["end_line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        big_chunks,
        [
            ("big.Big", 1, 1),
            ("big.Big.f()", 1, 1),
            ("big.Big.g(int)", 1, 1)
        ]
    );
}

#[test]
fn crlf_and_bom_files_get_the_ids_lines_and_hashes_of_their_lf_twin() {
    let lf = "package p;\n\n/** Doc. */\npublic class A {\n    int x;\n\n    void f() {\n        x++;\n    }\n}\n";
    let crlf = lf.replace('\n', "\r\n");
    let bom_crlf = format!("\u{feff}{crlf}");
    let old_mac = lf.replace('\n', "\r");
    let index_one = |text: &str| {
        let repo = repo_with(&[("src/p/A.java", text.as_bytes())]);
        acdp_index(repo.path(), &["--no-cache"]).chunks
    };
    let facts = |chunks: &[Value]| -> Vec<Value> {
        chunks
            .iter()
            .map(|c| {
                serde_json::json!([
                    c["chunk_id"],
                    c["symbol"],
                    c["start_line"],
                    c["end_line"],
                    c["content_hash"],
                    c["doc"]
                ])
            })
            .collect()
    };
    let expected = facts(&index_one(lf));
    assert_eq!(expected.len(), 2, "{expected:?}");
    assert_eq!(facts(&index_one(&crlf)), expected, "CRLF");
    assert_eq!(facts(&index_one(&bom_crlf)), expected, "BOM + CRLF");
    // A lone `\r` is not a line break for tree-sitter, so lines differ, but the same
    // declarations are found under the same ids.
    let mac = index_one(&old_mac);
    let ids =
        |chunks: &[Value]| -> Vec<Value> { chunks.iter().map(|c| c["chunk_id"].clone()).collect() };
    assert_eq!(ids(&mac), ids(&index_one(lf)), "CR only");
}

/// `setpriv` arguments that drop root's power to read any file, when they work here.
#[cfg(unix)]
fn without_read_override(probe: &Path) -> Option<Vec<&'static str>> {
    let args = vec!["--bounding-set", "-dac_override,-dac_read_search"];
    let output = Command::new("setpriv")
        .args(&args)
        .arg("cat")
        .arg(probe)
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    (!output.status.success() && stderr.contains("Permission denied")).then_some(args)
}

#[cfg(unix)]
#[test]
fn unreadable_files_and_folders_are_skipped_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let repo = repo_with(&[
        ("src/A.java", b"class A { void f() {} }\n"),
        ("src/Locked.java", b"class Locked { void g() {} }\n"),
        ("src/private/B.java", b"class B { void h() {} }\n"),
    ]);
    let locked = repo.path().join("src/Locked.java");
    let private = repo.path().join("src/private");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads files whatever their mode; drop that power for the run when possible.
    let mut command = if std::fs::read(&locked).is_err() {
        Command::new(env!("CARGO_BIN_EXE_acdp"))
    } else if let Some(args) = without_read_override(&locked) {
        let mut command = Command::new("setpriv");
        command.args(args).arg(env!("CARGO_BIN_EXE_acdp"));
        command
    } else {
        println!(
            "note: running as root without setpriv's capability dropping, so chmod 000 does not \
             stop reads; the unreadable-file case is not exercised here"
        );
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
        return;
    };
    let output = command
        .arg("index")
        .arg(repo.path())
        .args(["--format", "jsonl", "--no-cache"])
        .output()
        .unwrap();
    // Let the temporary folder be removed.
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let symbols: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["symbol"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(symbols, ["A", "A.f()"]);
    assert!(
        stderr.contains("src/Locked.java: cannot be read: Permission denied"),
        "{stderr}"
    );
    assert!(stderr.contains("src/private"), "{stderr}");
}

#[test]
fn pipeline_on_an_empty_repository_or_one_without_java_fails_saying_why() {
    let empty = tempfile::tempdir().unwrap();
    let no_java = repo_with(&[("README.md", b"# nothing here"), ("pom.xml", b"<project/>")]);
    for repo in [empty.path(), no_java.path()] {
        let out = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_acdp"))
            .arg("pipeline")
            .arg(repo)
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        // Nothing useful was produced: exit status 1, what happened, no dataset written.
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("no sample passed validation")
                && stderr.contains("nothing to ask about"),
            "{stderr}"
        );
        assert!(!out.path().join("manifest.json").exists(), "{stderr}");
    }
}
