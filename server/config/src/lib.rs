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
    pub llm: LlmSettings,
    pub dataset: DatasetSettings,
}

/// `[dataset]`: fitting samples to the target model. `--tokenizer` and `--max-tokens` of
/// `acdp pipeline` and `acdp validate` override it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetSettings {
    /// The target model's `tokenizer.json`, its model directory or its `.gguf` file; a
    /// relative path is read from the repository root.
    pub tokenizer: Option<PathBuf>,
    /// With `tokenizer`: the most tokens a sample's conversation may take (use the `--max-len`
    /// you train with). Longer samples are dropped and counted, never truncated.
    pub max_tokens: Option<usize>,
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

/// `[llm]`: the OpenAI-compatible endpoint the LLM generator sends requests to
/// (`generate::llm`). `ACDP_LLM_BASE_URL` and `ACDP_LLM_MODEL` override the file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// Base URL of the API, up to and including `/v1`, or a list of them (a fleet serving the
    /// same model: requests go round-robin, `concurrency` in flight on each). The default is a
    /// local vLLM server: the repository's code only leaves the machine when the user points
    /// this elsewhere.
    pub base_url: BaseUrls,
    /// Name of the environment variable holding the API key; an unset variable means no key
    /// (local servers need none).
    pub api_key_env: String,
    /// Model name as the server knows it.
    pub model: String,
    pub temperature: f32,
    /// Most tokens of one reply; a reply cut at this limit is rejected as truncated.
    pub max_tokens: u32,
    /// Requests in flight at once on each endpoint.
    pub concurrency: usize,
    /// Seconds one request may take before it counts as timed out (and is retried). Counted
    /// from sending, so it includes the time a request waits in the server's queue: a server
    /// that answers one request at a time (llama.cpp's Python server) keeps `concurrency - 1`
    /// requests waiting.
    pub timeout_secs: u64,
    /// Retries of one request on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// First retry delay in milliseconds; doubled per retry, with seeded jitter.
    pub backoff_base_ms: u64,
    /// Longest retry delay in milliseconds.
    pub backoff_max_ms: u64,
    /// How the reply's JSON is asked for; the generator falls back to the next simpler
    /// format when the server rejects this one.
    pub output_format: LlmOutputFormat,
    /// Ask once more, showing the problem, when a reply is not the JSON asked for.
    pub reask: bool,
    /// Sent as the request's `seed` and used for the retry jitter.
    pub seed: u64,
    /// Before the first request that is not cached, learn which `response_format` each
    /// endpoint takes and whether it honours `seed` (a few short requests).
    pub probe: bool,
    /// Questions the model writes per topic (a flow with its rules, a state machine, a
    /// method's checks ...), beside answering the offline generator's questions; 0: none.
    pub questions_per_topic: usize,
    /// A second request per sample asking the model whether each claim holds in the
    /// evidence: `off`, `store` (the verdict goes into the sample's `judgement`) or `filter`
    /// (stored, and samples judged unsupported are left out).
    pub judge: LlmJudge,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            base_url: BaseUrls(vec!["http://localhost:8000/v1".to_owned()]),
            api_key_env: "OPENAI_API_KEY".to_owned(),
            model: "Qwen/Qwen2.5-7B-Instruct".to_owned(),
            temperature: 0.2,
            max_tokens: 2048,
            concurrency: 4,
            timeout_secs: 600,
            max_retries: 4,
            backoff_base_ms: 500,
            backoff_max_ms: 30_000,
            output_format: LlmOutputFormat::JsonSchema,
            reask: true,
            seed: 42,
            probe: true,
            questions_per_topic: 2,
            judge: LlmJudge::Off,
        }
    }
}

/// What the LLM generator's second pass does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmJudge {
    #[default]
    Off,
    Store,
    Filter,
}

/// One base URL or several: `base_url = "http://a/v1"` or `base_url = ["http://a/v1", ...]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct BaseUrls(pub Vec<String>);

impl BaseUrls {
    /// A comma-separated list (as `ACDP_LLM_BASE_URL` takes it), blanks dropped.
    pub fn parse_list(text: &str) -> BaseUrls {
        BaseUrls(
            text.split(',')
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for BaseUrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let urls = match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(url) => vec![url],
            OneOrMany::Many(urls) => urls,
        };
        if urls.is_empty() || urls.iter().any(|url| url.trim().is_empty()) {
            return Err(serde::de::Error::custom(
                "base_url needs at least one non-empty URL",
            ));
        }
        Ok(BaseUrls(urls))
    }
}

/// `response_format` of a chat completion request, strongest first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LlmOutputFormat {
    /// `{"type": "json_schema"}` with the reply's schema (vLLM, Ollama, llama.cpp, OpenAI).
    JsonSchema,
    /// `{"type": "json_object", "schema": {...}}`: the form llama.cpp's servers (llama-server
    /// and llama-cpp-python) turn into a grammar.
    JsonObjectSchema,
    /// `{"type": "json_object"}`: any JSON object; the schema is only in the prompt.
    JsonObject,
    /// No `response_format`; the first JSON object in the reply is read.
    Text,
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
    fn llm_section_is_read_and_defaults_are_local() {
        let defaults = ProjectConfig::parse("").unwrap().llm;
        assert_eq!(defaults, LlmSettings::default());
        assert!(defaults.base_url.0[0].starts_with("http://localhost"));
        let config = ProjectConfig::parse(
            "[llm]\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"qwen2.5:7b\"\n\
             concurrency = 2\noutput_format = \"json_object\"\napi_key_env = \"MY_KEY\"\n",
        )
        .unwrap();
        assert_eq!(config.llm.base_url.0, ["http://127.0.0.1:11434/v1"]);
        assert_eq!(config.llm.model, "qwen2.5:7b");
        assert_eq!(config.llm.concurrency, 2);
        assert_eq!(config.llm.output_format, LlmOutputFormat::JsonObject);
        assert_eq!(config.llm.api_key_env, "MY_KEY");
        assert_eq!(config.llm.max_retries, defaults.max_retries);
        let err = ProjectConfig::parse("[llm]\napi_key = \"sk-...\"\n").unwrap_err();
        assert!(err.contains("api_key"), "{err}");
        let fleet = ProjectConfig::parse(
            "[llm]\nbase_url = [\"http://a:8000/v1\", \"http://b:8000/v1\"]\n\
             output_format = \"json_object_schema\"\n",
        )
        .unwrap();
        assert_eq!(
            fleet.llm.base_url.0,
            ["http://a:8000/v1", "http://b:8000/v1"]
        );
        assert_eq!(fleet.llm.output_format, LlmOutputFormat::JsonObjectSchema);
        let err = ProjectConfig::parse("[llm]\nbase_url = []\n").unwrap_err();
        assert!(
            err.starts_with("line 2") && err.contains("base_url"),
            "{err}"
        );
    }

    #[test]
    fn dataset_section_is_read() {
        assert_eq!(
            ProjectConfig::parse("").unwrap().dataset,
            DatasetSettings::default()
        );
        let config =
            ProjectConfig::parse("[dataset]\ntokenizer = \"models/qwen\"\nmax_tokens = 4096\n")
                .unwrap();
        assert_eq!(
            config.dataset.tokenizer.as_deref(),
            Some(Path::new("models/qwen"))
        );
        assert_eq!(config.dataset.max_tokens, Some(4096));
    }

    #[test]
    fn errors_name_line_and_key() {
        let err = ProjectConfig::parse("[index]\nmax_file_sise = 10\n").unwrap_err();
        assert!(err.starts_with("line 2, column 1: "), "{err}");
        assert!(err.contains("max_file_sise"), "{err}");
    }
}
