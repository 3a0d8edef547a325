//! The length check of a dataset in the target model's tokens: a tokenizer and a limit, from
//! the command line's flags or `[dataset]` of acdp.toml. Shared by `acdp pipeline`,
//! `acdp validate` and the language server's export, so all three drop the same samples.

use std::path::{Path, PathBuf};

use acdp_sample::Sample;
use tokenizers::Tokenizer;

use crate::chat::sample_token_count;
use crate::tokenizer::load_tokenizer;

/// A loaded tokenizer and the limit; build the check with [`TokenLimit::counter`].
pub struct TokenLimit {
    tokenizer: Tokenizer,
    pub max_tokens: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenLimitError {
    #[error(
        "a tokenizer ({0}) was given without a limit: pass --max-tokens N (or set max_tokens in \
         [dataset] of acdp.toml)"
    )]
    NoLimit(PathBuf),
    #[error(
        "--max-tokens {0} needs the target model's tokenizer: pass --tokenizer FILE|DIR (or set \
         tokenizer in [dataset] of acdp.toml)"
    )]
    NoTokenizer(usize),
    #[error("cannot load the tokenizer {path}: {error}")]
    Tokenizer { path: PathBuf, error: String },
}

impl TokenLimit {
    /// The limit asked for by `tokenizer` and `max_tokens` (each from a flag, else from
    /// `[dataset]`, whose relative paths are read from `repo`); `None` when none is asked for.
    pub fn resolve(
        tokenizer: Option<PathBuf>,
        max_tokens: Option<usize>,
        settings: &acdp_config::DatasetSettings,
        repo: &Path,
    ) -> Result<Option<TokenLimit>, TokenLimitError> {
        let tokenizer = tokenizer.or_else(|| settings.tokenizer.as_ref().map(|p| repo.join(p)));
        match (tokenizer, max_tokens.or(settings.max_tokens)) {
            (None, None) => Ok(None),
            (Some(path), None) => Err(TokenLimitError::NoLimit(path)),
            (None, Some(n)) => Err(TokenLimitError::NoTokenizer(n)),
            (Some(path), Some(max_tokens)) => {
                let tokenizer =
                    load_tokenizer(&path).map_err(|error| TokenLimitError::Tokenizer {
                        path: path.clone(),
                        error: error.to_string(),
                    })?;
                Ok(Some(TokenLimit {
                    tokenizer,
                    max_tokens,
                }))
            }
        }
    }

    /// Tokens of a sample's exported conversation, for `ValidationOptions::max_tokens`.
    pub fn counter(&self) -> impl Fn(&Sample) -> Result<usize, String> + Sync + '_ {
        |sample| sample_token_count(&self.tokenizer, sample).map_err(|e| e.to_string())
    }
}
