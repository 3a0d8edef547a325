//! The repository's fixtures and private copies of them, for tests that write state
//! (`.acdp/`, datasets) and so must never run inside fixtures/.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

/// `fixtures/<name>` of this checkout.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// Copies a fixture into a fresh temporary folder.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture(name), dir.path());
    dir
}

/// Copies a folder recursively, leaving out stored index state (`.acdp/`) that a developer's
/// own runs may have left in the source.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".acdp" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
