//! Writing a finished [`Dataset`] to a folder, every file atomically and `manifest.json` last
//! (its presence says the output is complete), and naming the repository samples come from.
//! Shared by `acdp pipeline` and the language server's `acdp.exportDataset`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::sample::RepoInfo;
use super::{Dataset, SCHEMA_VERSION, export, stats};
use crate::index::write_atomic;

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
    let write = |relative: &str, content: &[u8]| -> Result<(), WriteError> {
        let path = out.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        write_atomic(&path, content).map_err(|source| WriteError::Write { path, source })
    };
    let json = |what: &'static str| move |source| WriteError::Json { what, source };
    let mut names = Vec::new();
    let mut samples = String::new();
    for sample in &dataset.samples {
        samples.push_str(&serde_json::to_string(sample).map_err(json("a sample"))?);
        samples.push('\n');
    }
    write("samples.jsonl", samples.as_bytes())?;
    names.push("samples.jsonl".to_owned());
    let mut rejected = String::new();
    for report in &dataset.rejected {
        rejected.push_str(&serde_json::to_string(report).map_err(json("a rejection"))?);
        rejected.push('\n');
    }
    write("rejected.jsonl", rejected.as_bytes())?;
    names.push("rejected.jsonl".to_owned());
    for file in export::export_all(&dataset.samples, &dataset.assignment) {
        write(&file.path, file.content.as_bytes())?;
        names.push(file.path);
    }
    let stats_json = serde_json::to_string_pretty(&dataset.stats).map_err(json("the stats"))?;
    write("stats.json", (stats_json + "\n").as_bytes())?;
    write(
        "stats.md",
        stats::render_markdown(&dataset.stats).as_bytes(),
    )?;
    names.extend(["stats.json".to_owned(), "stats.md".to_owned()]);
    let manifest = json!({
        "schema_version": SCHEMA_VERSION,
        "repo": repo_root.display().to_string(),
        "generator": env!("CARGO_PKG_VERSION"),
        "samples": dataset.samples.len(),
        "files": names,
    });
    let manifest = serde_json::to_string_pretty(&manifest).map_err(json("the manifest"))?;
    write("manifest.json", (manifest + "\n").as_bytes())?;
    Ok(names.len() + 1)
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
