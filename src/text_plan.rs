//! How texts become the sequences the model runs: tokenised (after any prompt), checked, and
//! truncated or cut into windows as the long-text mode says.

use std::sync::{Mutex, PoisonError};

use minilm_kernels::team::TeamGuard;
use minilm_kernels::TaskRunner;

use crate::config::BertConfig;
use crate::error::{Error, Result};
use crate::long_text::{chunk_pieces_needed, windows, LongText, DEFAULT_MAX_CHUNKS};
use crate::tokenize::{TextTokenizer, Tokens};

/// One text, tokenised and cut as the long-text mode says: one sequence, or several windows.
pub(crate) struct Planned {
    pub sequences: Vec<Tokens>,
    /// Word pieces of each window (empty for a single sequence).
    pub weights: Vec<usize>,
    pub truncated: bool,
}

/// The tokenizer and the limits texts are cut to.
pub(crate) struct Planner {
    pub tokenizer: TextTokenizer,
    /// Longest sequence in tokens, special tokens included.
    pub max_length: usize,
    /// Windows one text may take in chunk mode.
    pub max_chunks: usize,
    vocab_size: usize,
    type_vocab_size: usize,
}

impl Planner {
    pub(crate) fn new(
        tokenizer: TextTokenizer,
        config: &BertConfig,
        max_length: usize,
        max_chunks: usize,
    ) -> Planner {
        Planner {
            tokenizer,
            max_length,
            max_chunks,
            vocab_size: config.vocab_size,
            type_vocab_size: config.type_vocab_size,
        }
    }

    /// `text` as the model reads it in truncate mode: its first word pieces, checked.
    pub(crate) fn tokenize_one(&self, text: &str, index: usize) -> Result<Tokens> {
        let planned = self.plan_text(None, text, index, LongText::Truncate)?;
        Ok(planned.sequences.into_iter().next().unwrap_or_default())
    }

    /// The tokens of `prompt` + `text` with their text and offsets (see
    /// `TextTokenizer::token_details`).
    #[cfg(feature = "server")]
    pub(crate) fn token_details(
        &self,
        prompt: Option<&str>,
        text: &str,
        special: bool,
        index: usize,
    ) -> Result<Vec<crate::tokenize::TokenDetail>> {
        self.tokenizer
            .token_details(prompt, text, self.max_length, special, index)
    }

    /// Word pieces the model reads at once: `max_length` less the special tokens.
    pub(crate) fn window_width(&self) -> usize {
        self.max_length - self.tokenizer.specials()
    }

    /// `prompt` and `text` tokenised and cut as the long-text mode says.
    pub(crate) fn plan_text(
        &self,
        prompt: Option<&str>,
        text: &str,
        index: usize,
        long_text: LongText,
    ) -> Result<Planned> {
        let width = self.window_width();
        let (need, overlap) = match long_text {
            LongText::Chunk { overlap } => (
                chunk_pieces_needed(width, overlap, self.max_chunks),
                overlap,
            ),
            _ => (width + 1, 0),
        };
        let pieces = self.tokenizer.pieces(prompt, text, Some(need), index)?;
        let ids = &pieces.ids;
        let mut planned = Planned {
            sequences: Vec::new(),
            weights: Vec::new(),
            truncated: ids.len() > width || pieces.capped,
        };
        match long_text {
            LongText::Chunk { .. } if ids.len() > width => {
                let spans = windows(ids.len(), width, overlap, self.max_chunks);
                planned.truncated =
                    spans.last().is_some_and(|last| last.end < ids.len()) || pieces.capped;
                for span in spans {
                    planned.weights.push(span.len());
                    planned.sequences.push(self.tokenizer.sequence(&ids[span]));
                }
            }
            LongText::Error if planned.truncated => {
                // Count on, to a bound, to say how long the text is.
                let limit = chunk_pieces_needed(width, 0, DEFAULT_MAX_CHUNKS);
                let counted = self.tokenizer.pieces(prompt, text, Some(limit), index)?;
                return Err(Error::TextTooLong {
                    index,
                    tokens: counted.ids.len() + self.tokenizer.specials(),
                    exact: counted.complete && !counted.capped,
                    max_length: self.max_length,
                });
            }
            _ => {
                let tokens = self.tokenizer.sequence(&ids[..ids.len().min(width)]);
                planned.sequences.push(tokens);
            }
        }
        for tokens in &planned.sequences {
            self.check_ids(&tokens.ids, &tokens.type_ids, index)?;
        }
        Ok(planned)
    }

    /// Errors unless the model can embed `ids` (with `type_ids`, or all type 0 when empty):
    /// every id inside the vocabulary and token types, at most `max_length` of them.
    pub(crate) fn check_ids(&self, ids: &[u32], type_ids: &[u32], index: usize) -> Result<()> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(Error::Tokenize {
                index,
                message: format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    self.vocab_size
                ),
            });
        }
        if !type_ids.is_empty() && type_ids.len() != ids.len() {
            return Err(Error::Tokenize {
                index,
                message: "token type ids do not match the token ids".into(),
            });
        }
        if let Some(&id) = type_ids
            .iter()
            .find(|&&id| id as usize >= self.type_vocab_size)
        {
            return Err(Error::Tokenize {
                index,
                message: format!(
                    "token type id {id} is outside the model's {} types",
                    self.type_vocab_size
                ),
            });
        }
        if ids.len() > self.max_length {
            return Err(Error::Tokenize {
                index,
                message: format!("{} tokens; the limit is {}", ids.len(), self.max_length),
            });
        }
        Ok(())
    }

    /// Tokenises `texts` on the team (in contiguous runs, several per thread, so texts of
    /// uneven length still spread); `first` is the caller's index of `texts[0]`.
    pub(crate) fn plan_texts<S: AsRef<str> + Sync>(
        &self,
        team: &TeamGuard<'_>,
        prompt: Option<&str>,
        texts: &[S],
        first: usize,
        long_text: LongText,
    ) -> Result<Vec<Planned>> {
        let tokenize = |i: usize| self.plan_text(prompt, texts[i].as_ref(), first + i, long_text);
        let tasks = texts.len().min(4 * team.threads()).max(1);
        if tasks == 1 {
            return (0..texts.len()).map(tokenize).collect();
        }
        let per_task = texts.len().div_ceil(tasks);
        let parts: Vec<Mutex<Vec<Result<Planned>>>> =
            (0..tasks).map(|_| Mutex::new(Vec::new())).collect();
        team.run(tasks, &|t| {
            let run = (t * per_task).min(texts.len())..((t + 1) * per_task).min(texts.len());
            let encoded = run.map(tokenize).collect();
            *parts[t].lock().unwrap_or_else(PoisonError::into_inner) = encoded;
        });
        parts
            .into_iter()
            .flat_map(|part| part.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }
}
