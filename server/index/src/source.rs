//! Deciding what a file is and whether it can be indexed: language by extension and content,
//! and the reasons a file is skipped (too large, binary, not UTF-8, unreadable).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::mapper_xml;

/// Languages the index understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Java,
    MapperXml,
}

/// Why a file was not indexed. Shown to users, so each says what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    TooLarge { size: u64, limit: u64 },
    Binary,
    NotUtf8 { byte_offset: usize },
    Unreadable { error: String },
    WalkError { error: String },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::TooLarge { size, limit } => write!(
                f,
                "{size} bytes is over the {limit}-byte limit (raise index.max_file_size in acdp.toml or --max-file-size)"
            ),
            SkipReason::Binary => write!(f, "binary content (NUL bytes)"),
            SkipReason::NotUtf8 { byte_offset } => write!(
                f,
                "not valid UTF-8 at byte {byte_offset} (re-encode the file as UTF-8, e.g. iconv -f GBK -t UTF-8)"
            ),
            SkipReason::Unreadable { error } => write!(f, "cannot be read: {error}"),
            SkipReason::WalkError { error } => write!(f, "{error}"),
        }
    }
}

/// The language a path may hold, from its extension alone. XML files still need
/// [`classify_text`] to tell mapper files from the rest.
pub fn candidate_language(path: &Path) -> Option<Language> {
    match path.extension()?.to_str()? {
        "java" => Some(Language::Java),
        "xml" => Some(Language::MapperXml),
        _ => None,
    }
}

/// Checks bytes read from a candidate file: `Ok(None)` means "not ours" (an XML file that is
/// not a MyBatis mapper), `Err` a reason to skip it.
pub fn decode(language: Language, bytes: &[u8]) -> Result<Option<&str>, SkipReason> {
    let probe = &bytes[..bytes.len().min(8192)];
    if probe.contains(&0) {
        return Err(SkipReason::Binary);
    }
    let text = std::str::from_utf8(bytes).map_err(|err| SkipReason::NotUtf8 {
        byte_offset: err.valid_up_to(),
    })?;
    Ok(holds(language, text).then_some(text))
}

/// The language of a text an editor holds (not read from disk): by extension, and for XML by
/// content, as [`decode`] decides for files.
pub fn language_of_text(path: &str, text: &str) -> Option<Language> {
    candidate_language(Path::new(path)).filter(|&language| holds(language, text))
}

/// Whether a text of a candidate file is ours: every Java file, XML only as a MyBatis mapper.
fn holds(language: Language, text: &str) -> bool {
    language != Language::MapperXml || mapper_xml::is_mapper_xml(text)
}
