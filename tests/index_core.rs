//! The index as a library, without the binary: chunk ids that survive edits and do not depend
//! on the checkout folder or file order, the incremental document store against a fresh parse,
//! UTF-16 positions, and chunking on small stacks. Built with the index crate alone (no model,
//! no async runtime): `cargo test -p acdp-index`.

use std::path::{Path, PathBuf};

use acdp_index::{
    Chunk, ChunkKind, DocumentStore, IndexOptions, Language, Position, Range, TextChange,
    index_workspace,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

fn no_cache() -> IndexOptions {
    IndexOptions {
        use_cache: false,
        ..IndexOptions::default()
    }
}

// ---- stable ids ---------------------------------------------------------------------------

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
