//! Fuzz target: see `mapper_xml` in tests/support/fuzz_checks.rs, which `cargo test` also replays
//! on every input kept under fixtures/fuzz-regressions/mapper_xml/.
#![no_main]

#[path = "../../../tests/support/fuzz_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mapper_xml(data));
