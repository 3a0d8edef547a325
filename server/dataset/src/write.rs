//! Writing a finished [`Dataset`] to a folder, and naming the repository samples come from.
//! Shared by `acdp pipeline` and the language server's `acdp.exportDataset`.
//!
//! Crash safety (`kill -9` at any moment): every file, the manifest included, is first written
//! and fsynced under a hidden staging name (`.acdp-staging-*`) next to its final name, so while
//! the slow part runs the previous dataset stays whole. Then `manifest.json` is removed, the
//! staged files are renamed over the final names, the new `manifest.json` is renamed last, and
//! the folders are fsynced. A folder with a `manifest.json` holds one complete dataset; no final
//! name ever holds a torn file; a run killed during the renames leaves a folder without
//! `manifest.json` (incomplete, and said so) that the next run completes. Staged files left by
//! a killed run are removed by the next write.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Dataset, Split, export, stats};
use acdp_durable::sync_dir;
use acdp_sample::RepoInfo;
use acdp_sample::SCHEMA_VERSION;

/// Prefix of the hidden files a write stages its output in before renaming them into place.
pub const STAGING_PREFIX: &str = ".acdp-staging-";
/// Written last; its presence says the folder holds one complete dataset.
const MANIFEST: &str = "manifest.json";

/// Why the dataset could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot create {path}: {source} (check the output folder)")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialise {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

/// Writes `samples.jsonl`, `rejected.jsonl`, the exports, `stats.json`, `stats.md` and
/// `manifest.json` under `out`; returns how many files were written.
pub fn write_dataset(out: &Path, repo_root: &Path, dataset: &Dataset) -> Result<usize, WriteError> {
    let (files, manifest) = render_dataset(repo_root, dataset)?;
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| WriteError::Write { path, source }
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    let subdirs = files.iter().filter_map(|(relative, _)| {
        let dir = out.join(relative).parent()?.to_owned();
        Some(dir)
    });
    for dir in std::iter::once(out.to_owned()).chain(subdirs) {
        if !dirs.contains(&dir) {
            std::fs::create_dir_all(&dir).map_err(|source| WriteError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            remove_staged(&dir);
            dirs.push(dir);
        }
    }
    let mut staged = Vec::with_capacity(files.len() + 1);
    for (relative, content) in &files {
        let path = out.join(relative);
        let tmp = stage(&path, content).map_err(write_error(&path))?;
        staged.push((path, tmp));
    }
    let manifest_path = out.join(MANIFEST);
    let manifest = stage(&manifest_path, &manifest).map_err(write_error(&manifest_path))?;
    // From here on only renames: the folder is without a manifest for as long as they take.
    match std::fs::remove_file(&manifest_path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(write_error(&manifest_path)(err)),
    }
    staged.push((manifest_path, manifest));
    for (path, tmp) in staged {
        tmp.persist(&path)
            .map_err(|err| write_error(&path)(err.error))?;
    }
    for dir in dirs.iter().rev() {
        sync_dir(dir).map_err(write_error(dir))?;
    }
    Ok(files.len() + 1)
}

/// A dataset file: its path relative to the output folder and its bytes.
type RenderedFile = (String, Vec<u8>);

/// Every file of the dataset, then the manifest that lists them.
fn render_dataset(
    repo_root: &Path,
    dataset: &Dataset,
) -> Result<(Vec<RenderedFile>, Vec<u8>), WriteError> {
    let json = |what: &'static str| move |source| WriteError::Json { what, source };
    let mut files: Vec<RenderedFile> = Vec::new();
    let mut samples = String::new();
    for sample in &dataset.samples {
        samples.push_str(&serde_json::to_string(sample).map_err(json("a sample"))?);
        samples.push('\n');
    }
    files.push(("samples.jsonl".to_owned(), samples.into_bytes()));
    let mut rejected = String::new();
    for report in &dataset.rejected {
        rejected.push_str(&serde_json::to_string(report).map_err(json("a rejection"))?);
        rejected.push('\n');
    }
    files.push(("rejected.jsonl".to_owned(), rejected.into_bytes()));
    for file in export::export_all(&dataset.samples, &dataset.assignment) {
        files.push((file.path, file.content.into_bytes()));
    }
    let held_out = dataset
        .samples
        .iter()
        .zip(&dataset.assignment)
        .filter(|(_, split)| **split == Split::Test)
        .map(|(sample, _)| sample);
    files.push((
        "eval.jsonl".to_owned(),
        super::eval_cases::from_samples(held_out).into_bytes(),
    ));
    let stats_json = serde_json::to_string_pretty(&dataset.stats).map_err(json("the stats"))?;
    files.push(("stats.json".to_owned(), (stats_json + "\n").into_bytes()));
    files.push((
        "stats.md".to_owned(),
        stats::render_markdown(&dataset.stats).into_bytes(),
    ));
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    let manifest = json!({
        "schema_version": SCHEMA_VERSION,
        "repo": repo_root.display().to_string(),
        "generator": env!("CARGO_PKG_VERSION"),
        "samples": dataset.samples.len(),
        "files": names,
    });
    let manifest = serde_json::to_string_pretty(&manifest).map_err(json("the manifest"))?;
    Ok((files, (manifest + "\n").into_bytes()))
}

/// Writes `content` to a hidden file beside `path` and fsyncs it; renaming it is the caller's.
fn stage(path: &Path, content: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = acdp_durable::staging_file(dir, STAGING_PREFIX)?;
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    Ok(tmp)
}

/// Removes staged files a killed write left in `dir` (best effort: they are hidden leftovers).
fn remove_staged(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(STAGING_PREFIX)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The repository's folder name and git revision (read from `.git` without running git).
pub fn repo_info(root: &Path) -> RepoInfo {
    let name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| root.display().to_string());
    RepoInfo {
        name,
        revision: git_revision(root),
    }
}

fn git_revision(root: &Path) -> Option<String> {
    let git = root.join(".git");
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return Some(head.to_owned());
    };
    if let Ok(id) = std::fs::read_to_string(git.join(reference)) {
        return Some(id.trim().to_owned());
    }
    let packed = std::fs::read_to_string(git.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (id, name) = line.split_once(' ')?;
        (name == reference).then(|| id.to_owned())
    })
}
