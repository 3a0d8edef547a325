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
    let mut tmp = staging_file(dir, ".acdp-tmp-")?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|err| err.error)?;
    sync_dir(dir)
}

/// A hidden temporary file in `dir` that will be renamed into place. It gets the permissions
/// of any file a tool writes (0644 before the umask), not tempfile's private 0600: an adapter,
/// a dataset or a loss curve is read by other users and containers (a vLLM server, a web page).
pub fn staging_file(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    staging_builder(prefix, 0o644).tempfile_in(dir)
}

/// A hidden temporary folder in `dir` that will be renamed into place (a checkpoint), with the
/// permissions of any folder a tool makes (0755 before the umask), not tempfile's 0700.
pub fn staging_dir(dir: &Path, prefix: &str) -> std::io::Result<tempfile::TempDir> {
    staging_builder(prefix, 0o755).tempdir_in(dir)
}

/// A temporary-entry builder with `prefix` and, on Unix, `mode` (before the umask).
fn staging_builder(prefix: &str, mode: u32) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
    #[cfg(not(unix))]
    let _ = mode;
    builder
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Files and checkpoint folders come out readable by others as far as the umask lets
    /// them, like a file `File::create` makes beside them, not with tempfile's private modes.
    #[test]
    fn written_files_and_staged_folders_are_readable_as_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let file = dir.path().join("loss.svg");
        write_atomic(&file, b"<svg/>").unwrap();
        assert_eq!(
            mode(&file) & 0o644,
            mode(&plain) & 0o644,
            "{:o}",
            mode(&file)
        );
        let plain_dir = dir.path().join("plain-dir");
        std::fs::create_dir(&plain_dir).unwrap();
        let staged = staging_dir(dir.path(), ".stage-").unwrap();
        assert_eq!(
            mode(staged.path()) & 0o755,
            mode(&plain_dir) & 0o755,
            "{:o}",
            mode(staged.path())
        );
    }
}
