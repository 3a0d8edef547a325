//! The settings an editor gives the server: `initializationOptions` at `initialize`, and the
//! acdp section again with every `workspace/didChangeConfiguration`. The names are the VS Code
//! extension's `acdp.*` settings (editors/vscode/package.json) and the Neovim plugin's
//! `settings` (editors/nvim), so one JSON object means the same in both places.
//!
//! Parsing and path resolution only: what the settings change is decided where they are read
//! (the model for `acdp/ask`, hover and `acdp.train`; the language of the sample commands).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use acdp_model::ModelSource;
use acdp_sample::SampleLanguage;

/// `initializationOptions`, all optional: the acdp settings plus what only `initialize` sets.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InitializationOptions {
    /// Where to write the log; default `<first workspace folder>/.acdp/lsp.log`.
    pub log_file: Option<PathBuf>,
    /// Accept the `acdp.debug.*` commands that tests use to provoke a panic or a slow request.
    pub enable_debug_commands: bool,
    #[serde(flatten)]
    pub settings: AcdpSettings,
}

/// The settings that may change while the server runs. Empty strings and `null` count as
/// unset (VS Code sends every setting, set or not); unknown keys (`serverPath`, `trace`) are
/// the client's own and ignored.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AcdpSettings {
    /// Base model: a Hugging Face Qwen2 directory, or a `.gguf` file (answers only). Relative
    /// paths are taken from the first workspace folder; `~/` is the home directory.
    #[serde(deserialize_with = "non_empty")]
    pub model_dir: Option<String>,
    /// A LoRA adapter directory (PEFT layout, as `acdp.train` writes it) merged for answers.
    #[serde(deserialize_with = "non_empty")]
    pub adapter: Option<String>,
    pub llm: LlmEndpointSettings,
    /// Language of the samples the code actions write; unset: both (en and zh).
    #[serde(deserialize_with = "sample_language")]
    pub sample_language: Option<SampleLanguage>,
    /// Who reviews: recorded with each accept, edit and reject (`review.reviewer`).
    #[serde(deserialize_with = "non_empty")]
    pub reviewer: Option<String>,
}

/// An OpenAI-compatible endpoint for the code actions' samples: when `base_url` is set, the
/// model answers and writes them (over `[llm]` of the folder's acdp.toml, which gives the other
/// settings); unset, the offline generator does.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LlmEndpointSettings {
    #[serde(deserialize_with = "non_empty")]
    pub base_url: Option<String>,
    #[serde(deserialize_with = "non_empty")]
    pub model: Option<String>,
    /// Name of the environment variable holding the API key; the key never travels in settings.
    #[serde(deserialize_with = "non_empty")]
    pub api_key_env: Option<String>,
}

fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(deserializer)?;
    Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

fn sample_language<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SampleLanguage>, D::Error> {
    match non_empty(deserializer)?.as_deref() {
        None => Ok(None),
        Some("en") => Ok(Some(SampleLanguage::En)),
        Some("zh") => Ok(Some(SampleLanguage::Zh)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "sampleLanguage `{other}` is not one of \"en\", \"zh\""
        ))),
    }
}

impl AcdpSettings {
    /// The settings of a `workspace/didChangeConfiguration`: `settings.acdp` (VS Code's
    /// `synchronize.configurationSection`, Neovim's `settings = {acdp = …}`), or `settings`
    /// itself when it has no `acdp` key. `Ok(None)`: the client sent no settings (`null`).
    pub fn from_change(settings: &Value) -> Result<Option<AcdpSettings>, String> {
        let section = match settings {
            Value::Null => return Ok(None),
            Value::Object(map) => map.get("acdp").unwrap_or(settings),
            _ => settings,
        };
        if section.is_null() {
            return Ok(None);
        }
        serde_json::from_value(section.clone())
            .map(Some)
            .map_err(|err| err.to_string())
    }

    /// The model to answer with, if one is configured; paths resolved against `root`.
    pub fn model_source(&self, root: Option<&Path>) -> Option<ModelSource> {
        let model = resolve(self.model_dir.as_deref()?, root);
        let adapter = self.adapter.as_deref().map(|a| resolve(a, root));
        Some(ModelSource { model, adapter })
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        let or_unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".to_owned());
        format!(
            "modelDir {}, adapter {}, llm.baseUrl {}, llm.model {}, llm.apiKeyEnv {}, sampleLanguage {}",
            or_unset(&self.model_dir),
            or_unset(&self.adapter),
            or_unset(&self.llm.base_url),
            or_unset(&self.llm.model),
            or_unset(&self.llm.api_key_env),
            self.sample_language.map_or("en+zh", |l| l.as_str()),
        )
    }
}

/// `~/x` -> `$HOME/x`; a relative path -> `root/path`.
fn resolve(path: &str, root: Option<&Path>) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let path = PathBuf::from(path);
    match root {
        Some(root) if path.is_relative() => root.join(path),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vscode_settings_parse_with_empty_strings_unset_and_client_keys_ignored() {
        let change = json!({"acdp": {
            "serverPath": "acdp", "modelDir": "models/qwen", "adapter": "",
            "llm": {"baseUrl": "", "model": "", "apiKeyEnv": "OPENAI_API_KEY"},
            "sampleLanguage": "zh", "trace": {"server": "off"}
        }});
        let settings = AcdpSettings::from_change(&change).unwrap().unwrap();
        assert_eq!(settings.model_dir.as_deref(), Some("models/qwen"));
        assert_eq!(settings.adapter, None);
        assert_eq!(settings.llm.base_url, None);
        assert_eq!(settings.llm.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
        assert_eq!(settings.sample_language, Some(SampleLanguage::Zh));
        let source = settings.model_source(Some(Path::new("/w"))).unwrap();
        assert_eq!(source.model, PathBuf::from("/w/models/qwen"));
        assert_eq!(source.adapter, None);
    }

    #[test]
    fn initialization_options_carry_the_settings_beside_log_file() {
        let options: InitializationOptions = serde_json::from_value(json!({
            "logFile": "/tmp/l.log", "modelDir": "/m", "adapter": "/a", "sampleLanguage": "en"
        }))
        .unwrap();
        assert_eq!(options.log_file, Some(PathBuf::from("/tmp/l.log")));
        let source = options.settings.model_source(None).unwrap();
        assert_eq!(source.model, PathBuf::from("/m"));
        assert_eq!(source.adapter, Some(PathBuf::from("/a")));
    }

    #[test]
    fn bare_settings_null_and_bad_languages() {
        let bare = AcdpSettings::from_change(&json!({"modelDir": "/m"})).unwrap();
        assert_eq!(bare.unwrap().model_dir.as_deref(), Some("/m"));
        assert_eq!(AcdpSettings::from_change(&Value::Null).unwrap(), None);
        assert_eq!(
            AcdpSettings::from_change(&json!({"acdp": null})).unwrap(),
            None
        );
        let err = AcdpSettings::from_change(&json!({"acdp": {"sampleLanguage": "fr"}}));
        assert!(err.unwrap_err().contains("sampleLanguage `fr`"));
        assert_eq!(AcdpSettings::default().model_source(None), None);
    }
}
