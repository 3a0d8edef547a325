//! The project file `acdp.toml` at the repository root: settings every stage reads.
//!
//! Holds data only. A missing file means defaults; a malformed one is an error that names the
//! file, line and column, because silently ignoring a user's settings is worse than stopping.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// File name of the project configuration, looked up at the repository root.
pub const CONFIG_FILE: &str = "acdp.toml";

/// The whole of `acdp.toml`. Unknown sections are kept for later stages and not rejected.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProjectConfig {
    pub index: IndexSettings,
    pub analysis: AnalysisSettings,
}

/// `[index]`: which files are read.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexSettings {
    /// Globs (gitignore syntax, relative to the root); when non-empty only matching files are
    /// indexed.
    pub include: Vec<String>,
    /// Globs of files to leave out, on top of `.gitignore`.
    pub exclude: Vec<String>,
    /// Files larger than this many bytes are skipped (generated or vendored code, data).
    pub max_file_size: u64,
    /// Index hidden files and directories too.
    pub hidden: bool,
    /// Follow symbolic links (loops are detected and reported).
    pub follow_links: bool,
    /// Where index state is kept, relative to the root.
    pub state_dir: PathBuf,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            include: Vec::new(),
            exclude: Vec::new(),
            max_file_size: 1024 * 1024,
            hidden: false,
            follow_links: false,
            state_dir: PathBuf::from(".acdp"),
        }
    }
}

/// `[analysis]`: how the analysis reads the code (generated code, business domains).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Globs (gitignore syntax, relative to the root) of generated code, on top of what is
    /// detected (`@mbg.generated`, `@Generated`, MyBatis Generator `*Example` classes).
    pub generated: Vec<String>,
    /// Cite generated code as evidence of rules (it is always used for call resolution and
    /// flow steps).
    pub include_generated: bool,
    /// Business domains; when empty, domains come from package names.
    pub domains: Vec<DomainSettings>,
}

/// `[[analysis.domains]]`: one business domain.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DomainSettings {
    pub name: String,
    /// Globs of file paths that belong to the domain.
    pub globs: Vec<String>,
    /// Words that, found in a class's package or name (case-insensitive), put it in the domain.
    pub keywords: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}\nfix the file or remove it to use the defaults")]
    Parse { path: PathBuf, message: String },
}

impl ProjectConfig {
    /// Reads `<root>/acdp.toml`, or the defaults when there is none.
    pub fn load(root: &Path) -> Result<ProjectConfig, ConfigError> {
        let path = root.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&text).map_err(|message| ConfigError::Parse { path, message })
    }

    /// Parses the text of an `acdp.toml`; the error says where (line, column) and what.
    pub fn parse(text: &str) -> Result<ProjectConfig, String> {
        toml::from_str(text).map_err(|err| {
            let location = err
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            format!("{location}{}", err.message())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_sections_are_missing() {
        let config = ProjectConfig::parse("").unwrap();
        assert_eq!(config.index.max_file_size, 1024 * 1024);
        assert_eq!(config.index.state_dir, PathBuf::from(".acdp"));
    }

    #[test]
    fn index_section_is_read() {
        let config = ProjectConfig::parse(
            "[index]\nexclude = [\"**/generated/**\"]\nmax_file_size = 10\nhidden = true\n",
        )
        .unwrap();
        assert_eq!(config.index.exclude, ["**/generated/**"]);
        assert_eq!(config.index.max_file_size, 10);
        assert!(config.index.hidden);
    }

    #[test]
    fn analysis_section_is_read() {
        let config = ProjectConfig::parse(
            "[analysis]\ngenerated = [\"**/gen/**\"]\ninclude_generated = true\n\
             [[analysis.domains]]\nname = \"order\"\nkeywords = [\"order\", \"oms\"]\n",
        )
        .unwrap();
        assert_eq!(config.analysis.generated, ["**/gen/**"]);
        assert!(config.analysis.include_generated);
        assert_eq!(config.analysis.domains[0].name, "order");
        assert_eq!(config.analysis.domains[0].keywords, ["order", "oms"]);
        assert!(
            ProjectConfig::parse("")
                .unwrap()
                .analysis
                .domains
                .is_empty()
        );
    }

    #[test]
    fn errors_name_line_and_key() {
        let err = ProjectConfig::parse("[index]\nmax_file_sise = 10\n").unwrap_err();
        assert!(err.starts_with("line 2, column 1: "), "{err}");
        assert!(err.contains("max_file_sise"), "{err}");
    }
}
