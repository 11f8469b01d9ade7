//! The long-text flags `embed`, `similarity` and `search` share, and the one-line notice when
//! texts did not fit.

use std::io::Write;

use clap::ValueEnum;
use minilm::{Embedder, LongText, LongTextReport, Options};

use crate::error::{CliError, CliResult};

/// What to do with a text longer than --max-length tokens.
#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Embed its first tokens, as sentence-transformers does.
    Truncate,
    /// Embed it in overlapping windows and average them, weighted by their word pieces.
    Chunk,
    /// Stop with an error naming the text.
    Error,
}

#[derive(clap::Args)]
pub struct LongTextArgs {
    /// Texts longer than --max-length tokens: `truncate` (default; as sentence-transformers),
    /// `chunk` (windows of max-length tokens, averaged), `error` (stop, naming the text).
    #[arg(long, value_enum, value_name = "MODE")]
    long_text: Option<Mode>,

    /// With --long-text chunk: word pieces each window shares with the next.
    #[arg(long, value_name = "N")]
    chunk_overlap: Option<usize>,

    /// With --long-text chunk: windows per text at most (default 64); the rest of a longer
    /// text is cut, and a notice says so.
    #[arg(long, value_name = "N")]
    max_chunks: Option<usize>,
}

impl LongTextArgs {
    /// `options` with these flags applied.
    pub fn apply(&self, mut options: Options) -> CliResult<Options> {
        let chunk = matches!(self.long_text, Some(Mode::Chunk));
        if !chunk && (self.chunk_overlap.is_some() || self.max_chunks.is_some()) {
            return Err("--chunk-overlap and --max-chunks apply to --long-text chunk".into());
        }
        if let Some(mode) = self.long_text {
            options = options.long_text(match mode {
                Mode::Truncate => LongText::Truncate,
                Mode::Chunk => LongText::Chunk {
                    overlap: self.chunk_overlap.unwrap_or(minilm::DEFAULT_CHUNK_OVERLAP),
                },
                Mode::Error => LongText::Error,
            });
        }
        if let Some(max_chunks) = self.max_chunks {
            options = options.max_chunks(max_chunks);
        }
        Ok(options)
    }
}

/// A library error as one line, naming the text with `name(index)` ("text 3", "query 1", ...).
pub fn describe(error: minilm::Error, name: impl Fn(usize) -> String) -> CliError {
    let message = match error {
        minilm::Error::Tokenize { index, message } => format!("{}: {message}", name(index)),
        minilm::Error::TextTooLong {
            index,
            tokens,
            exact,
            max_length,
        } => format!(
            "{} is {}{tokens} tokens long; the model reads at most {max_length} \
             (--long-text truncate or chunk embeds it)",
            name(index),
            if exact { "" } else { "over " },
        ),
        other => other.to_string(),
    };
    CliError::Failed(message)
}

/// Reports of one command's calls, added up.
#[derive(Default)]
pub struct Tally {
    texts: usize,
    truncated: usize,
}

impl Tally {
    pub fn add(&mut self, report: &LongTextReport) {
        self.texts += report.texts;
        self.truncated += report.truncated;
    }

    /// The notice line, when some text was cut (`what` names the texts: "texts", "queries").
    pub fn notice(&self, embedder: &Embedder, what: &str) -> Option<String> {
        if self.truncated == 0 {
            return None;
        }
        let (cut, of) = (self.truncated, self.texts);
        let max_length = embedder.max_length();
        Some(match embedder.long_text() {
            LongText::Chunk { .. } => format!(
                "{cut} of {of} {what} needed more than {} windows of {max_length} tokens and were cut \
                 after the last (--max-chunks N embeds more of each)",
                embedder.max_chunks()
            ),
            _ => format!(
                "{cut} of {of} {what} were longer than {max_length} tokens and were truncated to \
                 {max_length} (--long-text chunk embeds all of each)"
            ),
        })
    }

    /// Prints the notice on stderr unless `quiet`.
    pub fn print(&self, embedder: &Embedder, what: &str, quiet: bool) {
        if let (false, Some(line)) = (quiet, self.notice(embedder, what)) {
            let _ = writeln!(std::io::stderr(), "minilm: {line}");
        }
    }
}
