//! Index state kept between runs under `<root>/.acdp/index.bin`: per file, the hash of its
//! bytes and the chunks cut from them. A file whose hash did not change is not parsed again.
//!
//! The format is postcard behind a version header; anything unreadable (older version, a
//! torn file) is treated as "no cache" and rebuilt, never as an error. Writes go to a
//! temporary file that is renamed over the old one, so a crash leaves the old state intact.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SyntaxWarning;
use super::chunk::Chunk;
use super::indexed_file::IndexedFile;
use super::source::Language;
use acdp_durable::write_atomic;

const CACHE_FILE: &str = "index.bin";
/// Bumped whenever chunking or the stored layout changes, so old state is rebuilt.
const CACHE_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"acdpidx\0";

/// What is remembered of one file, as read back.
#[derive(Debug, Deserialize)]
pub struct CachedFile {
    pub path: String,
    pub file_hash: [u8; 32],
    pub language: Language,
    pub chunks: Vec<Chunk>,
    pub warnings: Vec<SyntaxWarning>,
}

/// The same layout, borrowed from the index, for writing without copying.
#[derive(Serialize)]
struct CachedFileRef<'a> {
    path: &'a str,
    file_hash: &'a [u8; 32],
    language: Language,
    chunks: &'a [Chunk],
    warnings: &'a [SyntaxWarning],
}

/// Stored state by path.
#[derive(Debug, Default)]
pub struct IndexCache {
    pub files: HashMap<String, CachedFile>,
}

impl IndexCache {
    /// Loads the cache from `state_dir`, or an empty one when there is none or it is unusable.
    pub fn load(state_dir: &Path) -> IndexCache {
        let Ok(bytes) = std::fs::read(state_dir.join(CACHE_FILE)) else {
            return IndexCache::default();
        };
        let Some(body) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return IndexCache::default();
        };
        let Some((version, body)) = body.split_first_chunk::<4>() else {
            return IndexCache::default();
        };
        if u32::from_le_bytes(*version) != CACHE_VERSION {
            return IndexCache::default();
        }
        let files: Vec<CachedFile> = postcard::from_bytes(body).unwrap_or_default();
        IndexCache {
            files: files.into_iter().map(|f| (f.path.clone(), f)).collect(),
        }
    }

    /// Writes the state of `files` atomically into `state_dir`, creating it (with a
    /// `.gitignore` that keeps the state out of the user's commits) when needed.
    pub fn save(files: &[IndexedFile], state_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let gitignore = state_dir.join(".gitignore");
        if !gitignore.exists() {
            write_atomic(&gitignore, b"# acdp state; safe to delete\n*\n")?;
        }
        let records: Vec<CachedFileRef<'_>> = files
            .iter()
            .map(|f| CachedFileRef {
                path: &f.path,
                file_hash: &f.file_hash,
                language: f.language,
                chunks: &f.chunks,
                warnings: &f.warnings,
            })
            .collect();
        let body = postcard::to_stdvec(&records).map_err(std::io::Error::other)?;
        let mut bytes = Vec::with_capacity(body.len() + 12);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&CACHE_VERSION.to_le_bytes());
        bytes.extend_from_slice(&body);
        write_atomic(&state_dir.join(CACHE_FILE), &bytes)
    }
}
