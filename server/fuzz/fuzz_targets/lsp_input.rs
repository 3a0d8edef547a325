//! Fuzz target: see `lsp_input` in tests/support/fuzz_checks.rs, which `cargo test` also replays
//! on every input kept under fixtures/fuzz-regressions/lsp_input/.
#![no_main]

#[path = "../../../tests/support/fuzz_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::lsp_input(data);
});
