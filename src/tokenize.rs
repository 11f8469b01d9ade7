//! Text to token ids with the model's own `tokenizer.json`, under sentence-transformers' rules.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use tokenizers::{
    PostProcessor, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use crate::error::{Error, Result};

/// A tokenizer configured as sentence-transformers uses it: optional lower-casing, truncation at the model's maximum length (special tokens included), no padding.
/// The truncation and padding settings stored in `tokenizer.json` are replaced.
pub(crate) struct TextTokenizer {
    inner: Tokenizer,
    lowercase: bool,
}

/// One tokenised text.
pub(crate) struct Tokens {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

impl TextTokenizer {
    pub(crate) fn from_file(
        path: &Path,
        max_length: usize,
        lowercase: bool,
    ) -> Result<TextTokenizer> {
        if !path.is_file() {
            return Err(Error::MissingFile(path.to_owned()));
        }
        let load_error = |message: String| Error::Tokenizer {
            path: path.to_owned(),
            message,
        };
        let bytes = crate::config::read_file(path)?;
        // The tokenizers crate panics on some malformed files rather than returning an error
        // (0.23: a syntax error inside the "decoder" object, as in a truncated download, hits an
        // `expect`). Checking the JSON syntax first turns the common case into an error even in
        // a `panic = "abort"` build; the catch below is the backstop for the rest.
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
            .map_err(|e| load_error(format!("not valid JSON: {e}")))?;
        let mut inner = std::panic::catch_unwind(|| Tokenizer::from_bytes(&bytes))
            .map_err(|_| load_error("the tokenizers library panicked reading this file".into()))?
            .map_err(|e| load_error(e.to_string()))?;
        // The tokenizers crate subtracts the special-token count from the limit unchecked.
        let special = inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_length < special {
            return Err(Error::InvalidOption(format!(
                "max length {max_length} is shorter than the {special} special tokens {} adds",
                path.display()
            )));
        }
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| load_error(e.to_string()))?;
        inner.with_padding(None);
        Ok(TextTokenizer { inner, lowercase })
    }

    /// Tokenises one text; `index` names it in errors.
    pub(crate) fn encode(&self, text: &str, index: usize) -> Result<Tokens> {
        let lowered;
        let text = if self.lowercase {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        // A backstop: the tokenizer is third-party code driven by an arbitrary tokenizer.json,
        // and a panic inside it must not take the caller's process down.
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.encode(text, true)));
        let encoding = match encoded {
            Ok(Ok(encoding)) => encoding,
            Ok(Err(e)) => {
                return Err(Error::Tokenize {
                    index,
                    message: e.to_string(),
                })
            }
            Err(_) => {
                return Err(Error::Tokenize {
                    index,
                    message: "the tokenizer failed (panicked) on this text".into(),
                })
            }
        };
        Ok(Tokens {
            ids: encoding.get_ids().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
        })
    }
}
