//! Cold and warm indexing of a whole repository: walk, read, parse and chunk in parallel
//! (rayon, one parser per thread), reusing stored chunks for files whose bytes did not change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::cache::IndexCache;
use super::chunk::{Chunk, ChunkId};
use super::indexed_file::IndexedFile;
use super::source::{Language, SkipReason, candidate_language, decode};
use super::walk::{Candidate, WalkOptions, WalkResult, walk_workspace};
use super::{SyntaxWarning, java, mapper_xml};
use acdp_config::{ConfigError, IndexSettings, ProjectConfig};

/// How to index: the `[index]` settings plus whether stored state may be used.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub settings: IndexSettings,
    /// Read and write the state under `settings.state_dir`.
    pub use_cache: bool,
}

impl IndexOptions {
    /// Options from `<root>/acdp.toml` (defaults when absent), with the cache on.
    pub fn from_project(root: &Path) -> Result<IndexOptions, ConfigError> {
        Ok(IndexOptions {
            settings: ProjectConfig::load(root)?.index,
            use_cache: true,
        })
    }
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            settings: IndexSettings::default(),
            use_cache: true,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SkippedFile {
    pub path: String,
    #[serde(flatten)]
    pub reason: SkipReason,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexStats {
    /// Files indexed (Java and mapper XML).
    pub files: usize,
    /// Of those, how many were taken from the stored state without parsing.
    pub files_from_cache: usize,
    pub chunks: usize,
    pub bytes: u64,
    pub skipped: usize,
    pub warnings: usize,
    pub elapsed_ms: f64,
    /// Set when the state could not be written; the index itself is still complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_error: Option<String>,
}

/// The index of one repository, files sorted by path.
#[derive(Debug)]
pub struct WorkspaceIndex {
    pub root: PathBuf,
    pub files: Vec<IndexedFile>,
    pub skipped: Vec<SkippedFile>,
    pub stats: IndexStats,
    by_id: HashMap<ChunkId, (usize, usize)>,
}

impl WorkspaceIndex {
    /// Every chunk with its file, in path then source order.
    pub fn chunks(&self) -> impl Iterator<Item = (&IndexedFile, &Chunk)> {
        self.files
            .iter()
            .flat_map(|file| file.chunks.iter().map(move |chunk| (file, chunk)))
    }

    /// Looks a chunk up by id.
    pub fn chunk(&self, id: &ChunkId) -> Option<(&IndexedFile, &Chunk)> {
        let &(file, chunk) = self.by_id.get(id)?;
        let file = &self.files[file];
        Some((file, &file.chunks[chunk]))
    }

    /// Frees the syntax trees kept by [`index_workspace_with_trees`] once the analysis is done:
    /// they take several times the size of the source.
    pub fn drop_trees(&mut self) {
        for file in &mut self.files {
            file.tree = None;
        }
    }

    pub fn warnings(&self) -> impl Iterator<Item = &SyntaxWarning> {
        self.files.iter().flat_map(|file| file.warnings.iter())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0} is not a directory: give the root of a repository to index")]
    NotADirectory(PathBuf),
    #[error(transparent)]
    Glob(#[from] super::walk::GlobError),
}

enum Outcome {
    Indexed(IndexedFile),
    /// Unchanged since the stored state: chunks are moved out of the cache afterwards.
    Unchanged {
        path: String,
        file_hash: [u8; 32],
        text: Arc<str>,
    },
    NotOurs,
    Skipped(SkippedFile),
}

/// Indexes the repository at `root`.
pub fn index_workspace(root: &Path, options: &IndexOptions) -> Result<WorkspaceIndex, IndexError> {
    index_root(root, options, KeepTrees::No)
}

/// Indexes the repository at `root` and keeps the syntax tree of every Java file it parsed
/// (files unchanged since the stored state are not parsed and have none), for an analysis
/// that follows at once. Call [`WorkspaceIndex::drop_trees`] after it.
pub fn index_workspace_with_trees(
    root: &Path,
    options: &IndexOptions,
) -> Result<WorkspaceIndex, IndexError> {
    index_root(root, options, KeepTrees::Yes)
}

/// Reads, checks and chunks one file under `root` as [`index_workspace`] does (the same size
/// limit, binary and encoding checks, mapper detection, chunks and hash), without the walk or
/// the stored state: for a caller that learns of files one at a time and has admitted this
/// one with [`crate::FileAdmission`] (the language server's watcher). `Ok(None)`: the file
/// holds no language the index reads (an XML file that is not a MyBatis mapper, say).
pub fn index_file_at(
    parser: &mut tree_sitter::Parser,
    root: &Path,
    rel_path: &str,
    settings: &IndexSettings,
) -> Result<Option<IndexedFile>, SkipReason> {
    let abs_path = root.join(rel_path);
    let Some(language) = candidate_language(&abs_path) else {
        return Ok(None);
    };
    let candidate = Candidate {
        abs_path,
        rel_path: rel_path.to_owned(),
        language,
    };
    match index_file(
        parser,
        &candidate,
        settings.max_file_size,
        &IndexCache::default(),
        KeepTrees::No,
    ) {
        Outcome::Indexed(file) => Ok(Some(file)),
        Outcome::NotOurs => Ok(None),
        Outcome::Skipped(skipped) => Err(skipped.reason),
        Outcome::Unchanged { .. } => unreachable!("an empty cache holds no unchanged file"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeepTrees {
    No,
    Yes,
}

fn index_root(
    root: &Path,
    options: &IndexOptions,
    keep_trees: KeepTrees,
) -> Result<WorkspaceIndex, IndexError> {
    let started = Instant::now();
    if !root.is_dir() {
        return Err(IndexError::NotADirectory(root.to_path_buf()));
    }
    let walked = walk_workspace(root, &WalkOptions::from_settings(&options.settings))?;
    Ok(index_walked(root, options, walked, started, keep_trees))
}

/// Reads, parses and chunks what the walk found. Files can change or vanish after the walk;
/// each is then skipped with its reason or indexed as read (see the tests below).
fn index_walked(
    root: &Path,
    options: &IndexOptions,
    walked: WalkResult,
    started: Instant,
    keep_trees: KeepTrees,
) -> WorkspaceIndex {
    let settings = &options.settings;
    let state_dir = root.join(&settings.state_dir);
    let cache = if options.use_cache {
        IndexCache::load(&state_dir)
    } else {
        IndexCache::default()
    };

    let outcomes: Vec<Outcome> = walked
        .candidates
        .par_iter()
        .map_init(java::new_parser, |parser, candidate| {
            index_file(
                parser,
                candidate,
                settings.max_file_size,
                &cache,
                keep_trees,
            )
        })
        .collect();

    let stored_files = cache.files.len();
    let mut cache = cache;
    let mut files = Vec::new();
    let mut skipped: Vec<SkippedFile> = walked
        .errors
        .into_iter()
        .map(|(path, reason)| SkippedFile { path, reason })
        .collect();
    let mut stats = IndexStats::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Indexed(file) => files.push(file),
            Outcome::Unchanged {
                path,
                file_hash,
                text,
            } => {
                let cached = cache
                    .files
                    .remove(&path)
                    .expect("index_file saw it in the cache");
                stats.files_from_cache += 1;
                files.push(IndexedFile {
                    path,
                    language: cached.language,
                    file_hash,
                    text,
                    chunks: cached.chunks,
                    warnings: cached.warnings,
                    tree: None,
                });
            }
            Outcome::NotOurs => {}
            Outcome::Skipped(file) => skipped.push(file),
        }
    }

    let changed = stats.files_from_cache != files.len() || stored_files != files.len();
    if options.use_cache
        && changed
        && let Err(err) = IndexCache::save(&files, &state_dir)
    {
        stats.cache_error = Some(format!("cannot write {}: {err}", state_dir.display()));
    }

    let by_id = files
        .iter()
        .enumerate()
        .flat_map(|(f, file)| {
            file.chunks
                .iter()
                .enumerate()
                .map(move |(c, chunk)| (chunk.chunk_id.clone(), (f, c)))
        })
        .collect();
    stats.files = files.len();
    stats.chunks = files.iter().map(|f| f.chunks.len()).sum();
    stats.warnings = files.iter().map(|f| f.warnings.len()).sum();
    stats.bytes = files.iter().map(|f| f.text.len() as u64).sum();
    stats.skipped = skipped.len();
    stats.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    WorkspaceIndex {
        root: root.to_path_buf(),
        files,
        skipped,
        stats,
        by_id,
    }
}

fn index_file(
    parser: &mut tree_sitter::Parser,
    candidate: &Candidate,
    max_file_size: u64,
    cache: &IndexCache,
    keep_trees: KeepTrees,
) -> Outcome {
    let skip = |reason| {
        Outcome::Skipped(SkippedFile {
            path: candidate.rel_path.clone(),
            reason,
        })
    };
    let unreadable = |err: std::io::Error| {
        skip(SkipReason::Unreadable {
            error: err.to_string(),
        })
    };
    let size = match std::fs::metadata(&candidate.abs_path) {
        Ok(meta) => meta.len(),
        Err(err) => return unreadable(err),
    };
    if size > max_file_size {
        return skip(SkipReason::TooLarge {
            size,
            limit: max_file_size,
        });
    }
    let bytes = match std::fs::read(&candidate.abs_path) {
        Ok(bytes) => bytes,
        Err(err) => return unreadable(err),
    };
    // The file may have grown between metadata and read.
    if bytes.len() as u64 > max_file_size {
        return skip(SkipReason::TooLarge {
            size: bytes.len() as u64,
            limit: max_file_size,
        });
    }
    let file_hash = *blake3::hash(&bytes).as_bytes();
    // Same bytes as when the chunks were cut: they are valid UTF-8 and ours.
    if let Some(cached) = cache.files.get(&candidate.rel_path)
        && cached.file_hash == file_hash
        && let Ok(text) = std::str::from_utf8(&bytes)
    {
        return Outcome::Unchanged {
            path: candidate.rel_path.clone(),
            file_hash,
            text: Arc::from(text),
        };
    }
    let text = match decode(candidate.language, &bytes) {
        Ok(Some(text)) => text,
        Ok(None) => return Outcome::NotOurs,
        Err(reason) => return skip(reason),
    };
    let path = &candidate.rel_path;
    let (chunks, warnings, tree) = match candidate.language {
        Language::Java => {
            let tree = java::parse(parser, text, None);
            let (chunks, warnings) = java::chunk_java(path, text, &tree);
            (
                chunks,
                warnings,
                (keep_trees == KeepTrees::Yes).then_some(tree),
            )
        }
        Language::MapperXml => {
            let (chunks, warnings) = mapper_xml::chunk_mapper_xml(path, text);
            (chunks, warnings, None)
        }
    };
    Outcome::Indexed(IndexedFile {
        path: candidate.rel_path.clone(),
        language: candidate.language,
        file_hash,
        text: Arc::from(text),
        chunks,
        warnings,
        tree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> IndexOptions {
        IndexOptions {
            use_cache: false,
            ..IndexOptions::default()
        }
    }

    /// Files deleted, replaced or changed between the walk and the read, made deterministic by
    /// changing them after `walk_workspace` and before `index_walked`.
    #[test]
    fn files_changed_after_the_walk_are_skipped_with_a_reason_or_indexed_as_read() {
        let repo = tempfile::tempdir().unwrap();
        let src = repo.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        for name in ["Deleted", "Edited", "Grown", "Latin1", "Folder", "Kept"] {
            std::fs::write(
                src.join(format!("{name}.java")),
                format!("class {name} {{ void f() {{}} }}\n"),
            )
            .unwrap();
        }
        let mut options = options();
        options.settings.max_file_size = 10_000;
        let walked =
            walk_workspace(repo.path(), &WalkOptions::from_settings(&options.settings)).unwrap();
        assert_eq!(walked.candidates.len(), 6);

        std::fs::remove_file(src.join("Deleted.java")).unwrap();
        std::fs::write(src.join("Edited.java"), "class Edited { void g() {} }\n").unwrap();
        std::fs::write(src.join("Grown.java"), "x".repeat(20_000)).unwrap();
        std::fs::write(
            src.join("Latin1.java"),
            b"class Latin1 { String s = \"caf\xe9\"; }",
        )
        .unwrap();
        std::fs::remove_file(src.join("Folder.java")).unwrap();
        std::fs::create_dir(src.join("Folder.java")).unwrap();

        let index = index_walked(repo.path(), &options, walked, Instant::now(), KeepTrees::No);
        let symbols: Vec<_> = index.chunks().map(|(_, c)| c.symbol.as_str()).collect();
        assert_eq!(symbols, ["Edited", "Edited.g()", "Kept", "Kept.f()"]);
        let edited = &index.files[0];
        assert_eq!(edited.path, "src/Edited.java");
        assert_eq!(
            edited.file_hash,
            *blake3::hash(edited.text.as_bytes()).as_bytes(),
            "the hash is of the bytes that were chunked"
        );
        let reasons: Vec<(&str, String)> = index
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.to_string()))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        let reason = |path: &str| {
            reasons
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, r)| r.as_str())
                .unwrap_or_else(|| panic!("{path} not skipped: {reasons:?}"))
        };
        assert!(reason("src/Deleted.java").starts_with("cannot be read:"));
        assert!(reason("src/Folder.java").starts_with("cannot be read:"));
        assert!(reason("src/Grown.java").contains("over the 10000-byte limit"));
        assert!(reason("src/Latin1.java").starts_with("not valid UTF-8 at byte"));
        assert_eq!(index.stats.skipped, 4);
    }
}
