//! The samples made and reviewed in the editor: `<workspace>/<state dir>/samples.jsonl` (state
//! dir `.acdp` by default), one [`Sample`] per line, read back when the file changes on disk.
//! The language server appends to it and records reviews in it; the pipeline reads it and
//! merges it into the export ([`crate::review`]).
//!
//! Every change rewrites the whole file to a temporary file beside it and renames it over the
//! old one ([`write_atomic`]), so a reader never sees a torn line. Lines that do not parse are
//! kept as they are and counted, so a hand-edited file is never silently truncated.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use acdp_durable::write_atomic;
use acdp_index::IndexOptions;
use acdp_sample::{Review, Sample};

pub const SAMPLES_FILE: &str = "samples.jsonl";
/// The folder beside `samples.jsonl` where a sample being edited is written
/// (`review/<sample_id>.json`, [`acdp_sample::edit::edit_text`]).
pub const EDITS_DIR: &str = "review";

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
    #[error(
        "no sample {id} in {path}: it may have been regenerated or removed; list the samples \
         again"
    )]
    UnknownSample { id: String, path: PathBuf },
}

impl WorkspaceSamples {
    pub fn new(root: &Path, options: Option<&IndexOptions>) -> WorkspaceSamples {
        WorkspaceSamples {
            path: samples_path(root, options),
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
        let ids = fresh.iter().map(|s| s.sample_id.clone()).collect();
        self.samples.extend(fresh);
        self.write()?;
        Ok(ids)
    }

    /// The sample with this id, as last read.
    pub fn get(&self, id: &str) -> Option<&Sample> {
        self.samples.iter().find(|s| s.sample_id == id)
    }

    /// Records a review of the sample `id` (an edit also brings its corrected text:
    /// `edited`, checked by [`acdp_sample::edit::check_edit`]); returns the sample as stored.
    pub fn record_review(
        &mut self,
        id: &str,
        review: Review,
        edited: Option<Sample>,
    ) -> Result<&Sample, SamplesFileError> {
        let _ = self.sync();
        let slot = self.slot(id)?;
        if let Some(edited) = edited {
            self.samples[slot] = edited;
        }
        self.samples[slot].review = Some(review);
        self.write()?;
        Ok(&self.samples[slot])
    }

    /// Puts `fresh` (regenerated, not reviewed) in place of the sample with its id.
    pub fn replace(&mut self, fresh: Sample) -> Result<(), SamplesFileError> {
        let _ = self.sync();
        let slot = self.slot(&fresh.sample_id)?;
        self.samples[slot] = fresh;
        self.write()
    }

    /// Where the sample `id` is edited: `<state dir>/review/<id>.json`.
    pub fn edit_path(&self, id: &str) -> PathBuf {
        self.edits_dir().join(format!("{id}.json"))
    }

    /// The sample id an edit file at `path` is for, when `path` is one.
    pub fn edited_sample_id(&self, path: &Path) -> Option<String> {
        if path.parent()? != self.edits_dir() || path.extension()? != "json" {
            return None;
        }
        Some(path.file_stem()?.to_str()?.to_owned())
    }

    fn edits_dir(&self) -> PathBuf {
        self.path.with_file_name(EDITS_DIR)
    }

    fn slot(&self, id: &str) -> Result<usize, SamplesFileError> {
        self.samples
            .iter()
            .position(|s| s.sample_id == id)
            .ok_or_else(|| SamplesFileError::UnknownSample {
                id: id.to_owned(),
                path: self.path.clone(),
            })
    }

    fn write(&mut self) -> Result<(), SamplesFileError> {
        let mut text = String::new();
        for line in &self.unreadable {
            text.push_str(line);
            text.push('\n');
        }
        for sample in &self.samples {
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
        let written = match self.path.parent() {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
        .and_then(|()| write_atomic(&self.path, text.as_bytes()));
        if let Err(source) = written {
            // What is in memory is not on disk: read the file again before the next use.
            self.read_once = false;
            return Err(write_error(source));
        }
        self.stamp = self.stamp_on_disk();
        Ok(())
    }
}

/// `<root>/<state dir>/samples.jsonl`, the state dir from `options` (`.acdp` without).
pub fn samples_path(root: &Path, options: Option<&IndexOptions>) -> PathBuf {
    let state_dir = options.map_or_else(
        || IndexOptions::default().settings.state_dir,
        |o| o.settings.state_dir.clone(),
    );
    root.join(state_dir).join(SAMPLES_FILE)
}

/// The samples of the file at `path` for a one-off reader (the pipeline): none when the file
/// does not exist; a problem line when some lines are not samples (they are left out).
pub fn read_samples_file(path: &Path) -> (Vec<Sample>, Option<String>) {
    let mut file = WorkspaceSamples {
        path: path.to_owned(),
        stamp: None,
        read_once: false,
        samples: Vec::new(),
        unreadable: Vec::new(),
    };
    let problem = file.sync().err();
    (file.samples, problem)
}
