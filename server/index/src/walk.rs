//! Finding the files to index: the `ignore` crate's walker (the one ripgrep uses), so
//! `.gitignore`, `.ignore`, global git excludes and hidden files behave as users expect.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ignore::WalkBuilder;
use ignore::overrides::{Override, OverrideBuilder};

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
    let walker = walker(root, options, overrides(root, options)?).build();
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

/// Decides whether a walk of the root would visit one file, for a caller that learns of files
/// one at a time (the language server's watcher): the walk itself, restricted to the folders
/// on the way to the file, so nested `.gitignore` and `.ignore` files, global git excludes,
/// hidden files and the include/exclude globs decide exactly as for a full index. Costs one
/// folder listing per level of the file's path.
pub struct FileAdmission {
    root: PathBuf,
    options: WalkOptions,
    overrides: Override,
}

impl FileAdmission {
    pub fn new(root: &Path, options: &WalkOptions) -> Result<FileAdmission, GlobError> {
        Ok(FileAdmission {
            root: root.to_path_buf(),
            options: options.clone(),
            overrides: overrides(root, options)?,
        })
    }

    /// Whether [`walk_workspace`] would list `rel_path` (relative to the root, `/`-separated)
    /// as a candidate now.
    pub fn admits(&self, rel_path: &str) -> bool {
        !self.admitted([rel_path]).is_empty()
    }

    /// Which of `rel_paths` [`walk_workspace`] would list now, in one walk restricted to the
    /// folders on the way to any of them: a checkout that touches many files of one folder
    /// lists that folder once.
    pub fn admitted<'p>(&self, rel_paths: impl IntoIterator<Item = &'p str>) -> HashSet<String> {
        let targets: HashSet<PathBuf> = rel_paths
            .into_iter()
            .map(|rel| self.root.join(rel))
            .filter(|path| candidate_language(path).is_some())
            .collect();
        if targets.is_empty() {
            return HashSet::new();
        }
        let folders: HashSet<PathBuf> = targets
            .iter()
            .flat_map(|target| target.ancestors().skip(1).map(Path::to_path_buf))
            .collect();
        let wanted = targets.clone();
        walker(&self.root, &self.options, self.overrides.clone())
            .filter_entry(move |entry| {
                folders.contains(entry.path()) || wanted.contains(entry.path())
            })
            .build()
            .flatten()
            .filter(|entry| {
                targets.contains(entry.path()) && entry.file_type().is_some_and(|t| t.is_file())
            })
            .map(|entry| relative_path(&self.root, entry.path()))
            .collect()
    }
}

/// The include and exclude globs and the always-excluded folders, as the walker's overrides.
fn overrides(root: &Path, options: &WalkOptions) -> Result<Override, GlobError> {
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
    overrides.build().map_err(|err| GlobError {
        glob: String::new(),
        message: err.to_string(),
    })
}

fn walker(root: &Path, options: &WalkOptions, overrides: Override) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(!options.hidden)
        .follow_links(options.follow_links)
        // Honour .gitignore even when the root is not (yet) a git repository.
        .require_git(false)
        .overrides(overrides);
    builder
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The watcher's answer for every file of a tree equals the walk's, with ignore files at
    /// several depths (a nested one re-including what the root one ignores), a hidden folder,
    /// an excluded glob and an ignored folder.
    #[test]
    fn file_admission_agrees_with_the_walk() {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path();
        let files = [
            ".gitignore",
            "src/A.java",
            "src/Gen.java",
            "src/sub/.gitignore",
            "src/sub/Local.java",
            "src/sub/Gen.java",
            "src/sub/deep/B.java",
            "src/sub/deep/.ignore",
            "src/sub/deep/Skipped.java",
            "build/Out.java",
            ".hidden/H.java",
            "src/excluded/E.java",
            "src/mapper/M.xml",
            "README.md",
        ];
        for file in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "class X {}\n").unwrap();
        }
        std::fs::write(root.join(".gitignore"), "Gen.java\nbuild/\n").unwrap();
        std::fs::write(root.join("src/sub/.gitignore"), "Local.java\n!Gen.java\n").unwrap();
        std::fs::write(root.join("src/sub/deep/.ignore"), "Skipped.java\n").unwrap();
        let options = WalkOptions {
            include: Vec::new(),
            exclude: vec!["src/excluded/".to_owned()],
            hidden: false,
            follow_links: false,
            always_excluded: vec![PathBuf::from(".acdp")],
        };
        let walked: Vec<String> = walk_workspace(root, &options)
            .unwrap()
            .candidates
            .into_iter()
            .map(|c| c.rel_path)
            .collect();
        assert_eq!(
            walked,
            [
                "src/A.java",
                "src/mapper/M.xml",
                "src/sub/Gen.java",
                "src/sub/deep/B.java"
            ]
        );
        let admission = FileAdmission::new(root, &options).unwrap();
        for file in files {
            assert_eq!(
                admission.admits(file),
                walked.iter().any(|w| w == file),
                "{file}"
            );
        }
        assert!(!admission.admits("src/Missing.java"));
        // All at once, in one walk: the same answer.
        let at_once = admission.admitted(files.iter().copied().chain(["src/Missing.java"]));
        assert_eq!(at_once, walked.iter().cloned().collect::<HashSet<_>>());
    }
}
