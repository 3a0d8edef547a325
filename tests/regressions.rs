//! Inputs the fuzz targets in `server/fuzz` once failed on, replayed through the same checks
//! (tests/support/fuzz_checks.rs) on every `cargo test`, so a fixed crash stays fixed without
//! nightly or libFuzzer. Each target has a folder under fixtures/fuzz-regressions/; a new
//! crash file goes there under a name that says what it provoked.

#[path = "support/fuzz_checks.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/fuzz-regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("readable folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable input");
            (path, bytes)
        })
        .collect()
}

/// Replays every kept input of `target`, naming the file that fails.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let inputs = inputs(target);
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| check(bytes));
        assert!(outcome.is_ok(), "{target}: {} fails again", path.display());
    }
    inputs.len()
}

#[test]
fn java_chunker_inputs() {
    replay("java_chunker", checks::java_chunker);
}

#[test]
fn mapper_xml_inputs() {
    replay("mapper_xml", checks::mapper_xml);
}

#[test]
fn document_edits_inputs() {
    replay("document_edits", checks::document_edits);
}

/// Panics anywhere in the process, server threads included: the server catches a handler's
/// panic and answers with an error, which would otherwise hide it from this test.
static PANICS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn lsp_input_inputs() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    for (path, bytes) in inputs("lsp_input") {
        let before = PANICS.load(Ordering::SeqCst);
        let output = std::panic::catch_unwind(|| checks::lsp_input(&bytes)).unwrap_or_default();
        // The harness really reaches the handlers: this session's hover and shutdown answer.
        if path.ends_with("open-edit-hover-shutdown") {
            let output = String::from_utf8_lossy(&output);
            assert!(
                output.contains("\"id\":2") && output.contains("\"id\":8"),
                "{output}"
            );
        }
        assert_eq!(
            PANICS.load(Ordering::SeqCst),
            before,
            "lsp_input: {} panics again",
            path.display()
        );
    }
}
