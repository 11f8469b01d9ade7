//! Texts longer than the model reads at once: cut them (sentence-transformers' behaviour), embed
//! them in overlapping windows, or refuse them.

use std::ops::Range;

use crate::error::{Error, Result};

/// Overlap of consecutive windows in word pieces when none is given (`--chunk-overlap`).
pub const DEFAULT_CHUNK_OVERLAP: usize = 32;

/// Windows one text may take in [`LongText::Chunk`] mode unless [`crate::Options::max_chunks`]
/// says otherwise: 64 windows of all-MiniLM-L6-v2 cover 14,240 word pieces with the default
/// overlap (about 11,000 English words).
pub const DEFAULT_MAX_CHUNKS: usize = 64;

/// What to do with a text longer than the model reads at once (its `max_length` tokens, \[CLS\]
/// and \[SEP\] included, so `W = max_length - 2` word pieces).
///
/// ```
/// use minilm::LongText;
/// assert_eq!("chunk".parse::<LongText>()?, LongText::Chunk { overlap: 32 });
/// assert_eq!(LongText::default(), LongText::Truncate);
/// # Ok::<(), minilm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LongText {
    /// Embed its first `W` word pieces, as sentence-transformers does (the default).
    #[default]
    Truncate,
    /// Embed it in windows of `W` word pieces starting every `W - overlap` pieces, each as
    /// `[CLS] window [SEP]` with the model's pooling; the text's vector is the mean of the
    /// window vectors weighted by their word pieces, then the model's normalisation. A text of
    /// at most `W` pieces embeds exactly as with `Truncate`. At most
    /// [`crate::Options::max_chunks`] windows per text: the rest is cut and reported.
    Chunk {
        /// Word pieces each window shares with the next (less than `W`).
        overlap: usize,
    },
    /// Fail with [`Error::TextTooLong`] naming the text.
    Error,
}

impl LongText {
    /// `truncate`, `chunk` or `error`.
    ///
    /// ```
    /// assert_eq!(minilm::LongText::Chunk { overlap: 0 }.name(), "chunk");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            LongText::Truncate => "truncate",
            LongText::Chunk { .. } => "chunk",
            LongText::Error => "error",
        }
    }
}

impl std::str::FromStr for LongText {
    type Err = Error;

    /// `truncate`, `chunk` (with [`DEFAULT_CHUNK_OVERLAP`]) or `error`.
    fn from_str(name: &str) -> Result<LongText> {
        match name.trim().to_ascii_lowercase().as_str() {
            "truncate" => Ok(LongText::Truncate),
            "chunk" => Ok(LongText::Chunk {
                overlap: DEFAULT_CHUNK_OVERLAP,
            }),
            "error" => Ok(LongText::Error),
            _ => Err(Error::InvalidOption(format!(
                "unknown long-text mode {name:?} (expected truncate, chunk or error)"
            ))),
        }
    }
}

/// What one call did with texts longer than the model reads at once, returned by the `_into`
/// embedding methods (it costs nothing to compute: every text's length is known anyway).
///
/// ```
/// use minilm::{Embedder, Options};
/// let embedder = Embedder::from_dir(minilm::default_model_dir()?, &Options::default().max_length(8))?;
/// let texts = ["short", "a text far longer than six word pieces, so it is cut"];
/// let mut out = vec![0.0f32; texts.len() * embedder.dim()];
/// let report = embedder.embed_batch_into(&texts, &mut out)?;
/// assert_eq!((report.texts, report.truncated, report.first_truncated), (2, 1, Some(1)));
/// # Ok::<(), minilm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LongTextReport {
    /// Texts in the call.
    pub texts: usize,
    /// Texts not embedded whole: cut at `max_length` tokens ([`LongText::Truncate`]) or at the
    /// window limit ([`LongText::Chunk`]).
    pub truncated: usize,
    /// Index of the first of them.
    pub first_truncated: Option<usize>,
    /// Texts embedded in more than one window.
    pub chunked: usize,
    /// Sequences the model ran: one per text, plus the extra windows of chunked texts.
    pub windows: usize,
    /// Tokens the model ran, \[CLS\] and \[SEP\] included.
    pub tokens: usize,
}

impl LongTextReport {
    /// Adds one text's outcome; `index` is its place in the call.
    pub(crate) fn record(&mut self, index: usize, windows: usize, tokens: usize, truncated: bool) {
        self.texts += 1;
        self.tokens += tokens;
        self.windows += windows;
        self.chunked += usize::from(windows > 1);
        if truncated {
            self.truncated += 1;
            self.first_truncated.get_or_insert(index);
        }
    }
}

/// The windows of a text of `pieces` word pieces: ranges of at most `width` pieces starting
/// every `width - overlap`, up to the first that reaches the end, and at most `max_windows` of
/// them. `overlap < width`.
pub(crate) fn windows(
    pieces: usize,
    width: usize,
    overlap: usize,
    max_windows: usize,
) -> Vec<Range<usize>> {
    let stride = width - overlap;
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        out.push(start..(start + width).min(pieces));
        if start + width >= pieces || out.len() == max_windows {
            break;
        }
        start += stride;
    }
    out
}

/// Word pieces that decide every window up to the limit, and one more to tell whether the text
/// goes past it.
pub(crate) fn chunk_pieces_needed(width: usize, overlap: usize, max_windows: usize) -> usize {
    (max_windows.max(1) - 1)
        .saturating_mul(width - overlap)
        .saturating_add(width + 1)
}

/// `rows` (window vectors, `dim` wide) averaged with `weights` into `out`.
pub(crate) fn weighted_mean(rows: &[f32], weights: &[usize], out: &mut [f32]) {
    out.fill(0.0);
    let dim = out.len();
    for (row, &weight) in rows.chunks_exact(dim.max(1)).zip(weights) {
        let weight = weight as f32;
        for (o, &v) in out.iter_mut().zip(row) {
            *o += weight * v;
        }
    }
    let total: usize = weights.iter().sum();
    let scale = 1.0 / total.max(1) as f32;
    out.iter_mut().for_each(|o| *o *= scale);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_rule() {
        // W = 10, overlap 3: starts 0, 7, 14, ... until start + W >= n.
        assert_eq!(windows(10, 10, 3, 64), vec![0..10]);
        assert_eq!(windows(11, 10, 3, 64), vec![0..10, 7..11]);
        assert_eq!(windows(17, 10, 3, 64), vec![0..10, 7..17]);
        assert_eq!(windows(18, 10, 3, 64), vec![0..10, 7..17, 14..18]);
        assert_eq!(windows(100, 10, 0, 64).len(), 10);
        assert_eq!(windows(101, 10, 0, 64).last(), Some(&(100..101)));
        assert_eq!(windows(0, 10, 3, 64), vec![0..0]);
        // The limit, and the pieces that decide it.
        assert_eq!(windows(1000, 10, 3, 4), vec![0..10, 7..17, 14..24, 21..31]);
        assert_eq!(chunk_pieces_needed(10, 3, 4), 32);
        assert_eq!(windows(31, 10, 3, 4).len(), 4);
        assert_eq!(windows(32, 10, 3, 5).len(), 5);
    }

    #[test]
    fn weighted_mean_weights_by_pieces() {
        let mut out = [0.0f32; 2];
        weighted_mean(&[1.0, 0.0, 0.0, 1.0], &[3, 1], &mut out);
        assert_eq!(out, [0.75, 0.25]);
    }
}
