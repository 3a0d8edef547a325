//! `acdp index <repo>`: chunks as JSON lines on stdout, a summary on stderr.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use acdp_index::{Chunk, IndexOptions, WorkspaceIndex, index_workspace};
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

#[derive(Args)]
pub struct IndexArgs {
    /// Root of the repository to index.
    pub repo: PathBuf,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// Include each chunk's source text as `code`.
    #[arg(long)]
    pub with_text: bool,
    #[command(flatten)]
    pub selection: SelectionArgs,
}

/// Flags that override `[index]` in acdp.toml; shared by every command that indexes.
#[derive(Args, Clone, Default)]
pub struct SelectionArgs {
    /// Only index files matching this glob (gitignore syntax; repeatable).
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out files matching this glob (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Skip files larger than this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Index hidden files and directories.
    #[arg(long)]
    pub hidden: bool,
    /// Follow symbolic links.
    #[arg(long)]
    pub follow: bool,
    /// Where index state is kept (relative to the repository root).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Neither read nor write stored index state.
    #[arg(long)]
    pub no_cache: bool,
}

impl SelectionArgs {
    /// acdp.toml's settings with these flags applied on top.
    pub fn options(&self, repo: &std::path::Path) -> anyhow::Result<IndexOptions> {
        let mut options = IndexOptions::from_project(repo)?;
        let settings = &mut options.settings;
        settings.include.extend(self.include.iter().cloned());
        settings.exclude.extend(self.exclude.iter().cloned());
        if let Some(size) = self.max_file_size {
            settings.max_file_size = size;
        }
        settings.hidden |= self.hidden;
        settings.follow_links |= self.follow;
        if let Some(dir) = &self.state_dir {
            settings.state_dir.clone_from(dir);
        }
        options.use_cache = !self.no_cache;
        Ok(options)
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object per chunk.
    Jsonl,
    /// Nothing on stdout; only the summary on stderr.
    None,
}

#[derive(Serialize)]
struct ChunkRecord<'a> {
    #[serde(flatten)]
    chunk: &'a Chunk,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

pub fn run(args: IndexArgs) -> anyhow::Result<()> {
    let options = args.selection.options(&args.repo)?;
    let index = index_workspace(&args.repo, &options)?;
    if let Format::Jsonl = args.format {
        match print_chunks(&index, args.with_text) {
            // `acdp index . | head` is normal use, not an error.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            result => result.context("cannot write to stdout")?,
        }
    }
    print_summary(&index);
    Ok(())
}

fn print_chunks(index: &WorkspaceIndex, with_text: bool) -> std::io::Result<()> {
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    for (file, chunk) in index.chunks() {
        let record = ChunkRecord {
            chunk,
            code: with_text.then(|| chunk.text(&file.text)),
        };
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn print_summary(index: &WorkspaceIndex) {
    let stats = &index.stats;
    eprintln!(
        "indexed {} files ({} from stored state), {} chunks, {:.1} KB in {:.1} ms",
        stats.files,
        stats.files_from_cache,
        stats.chunks,
        stats.bytes as f64 / 1024.0,
        stats.elapsed_ms
    );
    if !index.skipped.is_empty() {
        eprintln!("skipped {} files:", index.skipped.len());
        for file in &index.skipped {
            eprintln!("  {}: {}", file.path, file.reason);
        }
    }
    let warnings: Vec<_> = index.warnings().collect();
    if !warnings.is_empty() {
        eprintln!("{} warnings:", warnings.len());
        for warning in warnings {
            eprintln!("  {warning}");
        }
    }
    if let Some(err) = &stats.cache_error {
        eprintln!("note: index state not saved: {err}");
    }
}
