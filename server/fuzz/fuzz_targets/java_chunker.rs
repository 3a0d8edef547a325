//! Fuzz target: see `java_chunker` in tests/support/fuzz_checks.rs, which `cargo test` also replays
//! on every input kept under fixtures/fuzz-regressions/java_chunker/.
#![no_main]

#[path = "../../../tests/support/fuzz_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::java_chunker(data));
