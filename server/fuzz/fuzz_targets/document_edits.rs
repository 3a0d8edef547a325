//! Fuzz target: see `document_edits` in tests/support/fuzz_checks.rs, which `cargo test` also replays
//! on every input kept under fixtures/fuzz-regressions/document_edits/.
#![no_main]

#[path = "../../../tests/support/fuzz_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::document_edits(data));
