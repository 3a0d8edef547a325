//! The index as users rely on it through the binary: the `acdp index` contract, ids across
//! runs and checkouts, the stored state, bad and hostile input. The library's own properties
//! (ids under edits, the document store, positions) are in index_core.rs.

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::copy_fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use acdp_index::{IndexOptions, index_workspace};
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
