//! Durable file writes, shared by every stage: a file is replaced whole or not at all, and the
//! rename that replaces it survives a crash of the machine, not only of the process.
//!
//! Datasets take hours of generation and checkpoints hours of training; a reader must never
//! see a torn file, and an acknowledged write must not vanish with a power cut (a rename is
//! only durable once its folder is synced).

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a hidden temporary file in the same folder, fsynced, then
/// renamed over `path`; the folder is synced after the rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = folder_of(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".acdp-tmp-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|err| err.error)?;
    sync_dir(dir)
}

/// Makes the renames in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The folder `path` is written in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
