//! Finding the files to index: the `ignore` crate's walker (the one ripgrep uses), so
//! `.gitignore`, `.ignore`, global git excludes and hidden files behave as users expect.

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;

use super::source::{Language, SkipReason, candidate_language};
use acdp_config::IndexSettings;

/// What to walk and what to leave out.
#[derive(Clone, Debug)]
pub struct WalkOptions {
    /// Globs (gitignore syntax); when non-empty, only matching files are indexed.
    pub include: Vec<String>,
    /// Globs of files and directories to leave out.
    pub exclude: Vec<String>,
    pub hidden: bool,
    pub follow_links: bool,
    /// Directories never indexed (the index's own state).
    pub always_excluded: Vec<PathBuf>,
}

impl WalkOptions {
    pub fn from_settings(settings: &IndexSettings) -> WalkOptions {
        WalkOptions {
            include: settings.include.clone(),
            exclude: settings.exclude.clone(),
            hidden: settings.hidden,
            follow_links: settings.follow_links,
            always_excluded: vec![settings.state_dir.clone()],
        }
    }
}

/// A file the walk found, before it is read.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub abs_path: PathBuf,
    /// Relative to the root, `/`-separated.
    pub rel_path: String,
    pub language: Language,
}

/// Everything the walk found: candidates sorted by path, and entries it could not visit.
#[derive(Debug, Default)]
pub struct WalkResult {
    pub candidates: Vec<Candidate>,
    pub errors: Vec<(String, SkipReason)>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid glob `{glob}`: {message}")]
pub struct GlobError {
    pub glob: String,
    pub message: String,
}

/// Walks `root`. Symlink loops, unreadable directories and the like become entries in
/// [`WalkResult::errors`] instead of stopping the walk.
pub fn walk_workspace(root: &Path, options: &WalkOptions) -> Result<WalkResult, GlobError> {
    let mut overrides = OverrideBuilder::new(root);
    let mut add = |glob: String| {
        overrides.add(&glob).map(|_| ()).map_err(|err| GlobError {
            message: err.to_string(),
            glob,
        })
    };
    for glob in &options.include {
        add(glob.clone())?;
    }
    for glob in &options.exclude {
        add(format!("!{glob}"))?;
    }
    for dir in &options.always_excluded {
        add(format!("!/{}/", dir.to_string_lossy().trim_matches('/')))?;
    }
    let overrides = overrides.build().map_err(|err| GlobError {
        glob: String::new(),
        message: err.to_string(),
    })?;

    let walker = WalkBuilder::new(root)
        .hidden(!options.hidden)
        .follow_links(options.follow_links)
        // Honour .gitignore even when the root is not (yet) a git repository.
        .require_git(false)
        .overrides(overrides)
        .build();

    let mut result = WalkResult::default();
    for entry in walker {
        match entry {
            Ok(entry) => {
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    continue;
                }
                let Some(language) = candidate_language(entry.path()) else {
                    continue;
                };
                result.candidates.push(Candidate {
                    rel_path: relative_path(root, entry.path()),
                    abs_path: entry.into_path(),
                    language,
                });
            }
            Err(err) => {
                let path = error_path(&err)
                    .map(|p| relative_path(root, p))
                    .unwrap_or_default();
                result.errors.push((
                    path,
                    SkipReason::WalkError {
                        error: err.to_string(),
                    },
                ));
            }
        }
    }
    result
        .candidates
        .sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(result)
}

/// Repository-relative path with `/` separators, so ids match across platforms and checkouts.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

fn error_path(err: &ignore::Error) -> Option<&Path> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child),
        _ => None,
    }
}
