//! The samples made in the editor: `<workspace>/<state dir>/samples.jsonl` (state dir `.acdp`
//! by default), one [`Sample`] per line, read back when the file changes on disk.
//!
//! Appending rewrites the whole file to a temporary file beside it and renames it over the old
//! one ([`write_atomic`]), so a reader never sees a torn line. Lines that do not parse are kept
//! as they are and counted, so a hand-edited file is never silently truncated.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use acdp_durable::write_atomic;
use acdp_index::IndexOptions;
use acdp_sample::Sample;

pub const SAMPLES_FILE: &str = "samples.jsonl";

pub struct WorkspaceSamples {
    pub path: PathBuf,
    /// (modified, length) of the file when read; `None` when it did not exist.
    stamp: Option<(SystemTime, u64)>,
    read_once: bool,
    pub samples: Vec<Sample>,
    /// Lines that are not samples (kept when appending).
    pub unreadable: Vec<String>,
}

/// Why `samples.jsonl` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SamplesFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source} (check that the folder is writable)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WorkspaceSamples {
    pub fn new(root: &Path, options: Option<&IndexOptions>) -> WorkspaceSamples {
        let state_dir = options.map_or_else(
            || IndexOptions::default().settings.state_dir,
            |o| o.settings.state_dir.clone(),
        );
        WorkspaceSamples {
            path: root.join(state_dir).join(SAMPLES_FILE),
            stamp: None,
            read_once: false,
            samples: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    fn stamp_on_disk(&self) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Rereads the file when it changed since it was last read (one `stat` otherwise).
    pub fn sync(&mut self) -> Result<(), String> {
        let stamp = self.stamp_on_disk();
        if self.read_once && stamp == self.stamp {
            return Ok(());
        }
        self.read_once = true;
        self.stamp = stamp;
        self.samples.clear();
        self.unreadable.clear();
        if stamp.is_none() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.path).map_err(|source| {
            SamplesFileError::Read {
                path: self.path.clone(),
                source,
            }
            .to_string()
        })?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Sample>(line) {
                Ok(sample) => self.samples.push(sample),
                Err(_) => self.unreadable.push(line.to_owned()),
            }
        }
        if self.unreadable.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: {} line(s) are not samples of schema version {}; they are kept but ignored",
                self.path.display(),
                self.unreadable.len(),
                acdp_sample::SCHEMA_VERSION
            ))
        }
    }

    /// Appends the samples whose id is not in the file yet; returns their ids, in order.
    pub fn append(&mut self, new: Vec<Sample>) -> Result<Vec<String>, SamplesFileError> {
        // Another process (or a `git checkout`) may have changed the file since it was read.
        let _ = self.sync();
        let known: HashSet<&str> = self.samples.iter().map(|s| s.sample_id.as_str()).collect();
        let mut seen = HashSet::new();
        let fresh: Vec<Sample> = new
            .into_iter()
            .filter(|s| !known.contains(s.sample_id.as_str()) && seen.insert(s.sample_id.clone()))
            .collect();
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let mut text = String::new();
        for line in &self.unreadable {
            text.push_str(line);
            text.push('\n');
        }
        for sample in self.samples.iter().chain(&fresh) {
            // Samples are plain data: serialising them cannot fail.
            if let Ok(line) = serde_json::to_string(sample) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        let write_error = |source| SamplesFileError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        write_atomic(&self.path, text.as_bytes()).map_err(write_error)?;
        let ids = fresh.iter().map(|s| s.sample_id.clone()).collect();
        self.samples.extend(fresh);
        self.stamp = self.stamp_on_disk();
        Ok(ids)
    }
}
