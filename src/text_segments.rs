//! A text of any size as segments the tokenizer can take one at a time: the word pieces of the
//! segments, concatenated, are exactly the word pieces of the whole text. A caller that wants
//! only the first pieces stops early, so tokenising a 100 MB text for a 256-token model costs
//! about as much as tokenising a paragraph.
//!
//! # Why a cut is safe
//!
//! This holds for the BERT pipeline every supported model uses (`BertNormalizer` or none,
//! `BertPreTokenizer`, `WordPiece`), and [`CutRules::for_tokenizer`] refuses anything else. A cut
//! goes right after a *safe* character `c`:
//! - ASCII space, tab, newline or carriage return, another Unicode space the normaliser keeps
//!   (not U+000B, U+000C or U+0085, which it deletes, joining their neighbours), ASCII
//!   punctuation, or (when the normaliser splits them out) a CJK ideograph. The pre-tokeniser
//!   ends a word at each, so no word spans the cut.
//! - Each is a starter with no decomposition, so NFD's reordering, which moves only runs of
//!   combining marks, never crosses it, and the normaliser's other steps work per character.
//! - None is cased or case-ignorable, so the context rule of Unicode lower-casing (final sigma:
//!   `Σ` becomes `ς` unless a cased letter follows past case-ignorable ones) sees the same
//!   neighbours on both sides of the cut. `. ' : ^` and `` ` `` are case-ignorable: they are
//!   safe only when the text is not lower-cased before the tokenizer (the tokenizer's own
//!   lower-casing maps characters one by one).
//! - `c` occurs in no added token (`[CLS]`, `[MASK]`, ...), so no added-token match spans it.
//!
//! # Long unbroken runs
//!
//! Text with no safe character for a long way (`aaaa…`, a run of emoji) is scanned once and
//! copied with every *stretch* (a run of alphanumeric, non-CJK characters) longer than two
//! margins shortened to its first and last margin. The stretch is inside one word, and when the
//! first margin alone normalises to more than WordPiece's `max_input_chars_per_word` (100) that
//! word is `[UNK]` either way; the margins keep every neighbour a lower-casing rule or an added
//! token could look at. A run that is still longer than [`REGION_CAP`] bytes after that (say
//! megabytes of symbols and non-ASCII punctuation with no space) is the one case read only in
//! part: its first `REGION_CAP` bytes, keeping only whole words, and nothing after it.

use std::borrow::Cow;

/// Bytes an unbroken run is read to at most (after stretches are shortened).
pub(crate) const REGION_CAP: usize = 1 << 20;

/// The sizes segments are cut to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// How far past its target length a segment may run to find a safe cut before the text
    /// counts as an unbroken run.
    pub lookahead: usize,
    /// The largest segment (before a safe cut) handed to the tokenizer at once.
    pub max_segment: usize,
    /// Bytes an unbroken run is read to at most.
    pub region_cap: usize,
    /// The first segment's length, when not derived from the pieces wanted (for tests).
    pub first_segment: Option<usize>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            lookahead: 4096,
            max_segment: 256 << 10,
            region_cap: REGION_CAP,
            first_segment: None,
        }
    }
}

/// The tokenizer facts a safe cut depends on, read once at load.
#[derive(Clone, Debug)]
pub(crate) struct CutRules {
    safe_ascii: [bool; 128],
    unicode_spaces: bool,
    /// A cut after a CJK ideograph is safe.
    cjk: bool,
    /// The normaliser makes each CJK ideograph a word of its own.
    cjk_split: bool,
    /// Characters of a long stretch to keep at each end, when stretches may be shortened.
    stretch_margin: Option<usize>,
    /// WordPiece's `max_input_chars_per_word`.
    max_word_chars: usize,
    /// Characters of the longest added token.
    longest_added: usize,
    /// The text is lower-cased (with Unicode's context rules) before the tokenizer sees it.
    lowercased: bool,
    pub limits: Limits,
}

/// What [`CutRules::for_tokenizer`] reads from a tokenizer.
pub(crate) struct Pipeline<'a> {
    /// The normaliser is BERT's (`Some(handles CJK)`) or absent (`Some(false)`); `None` for
    /// any other.
    pub bert_normalizer: Option<bool>,
    /// The pre-tokeniser is BERT's.
    pub bert_pre_tokenizer: bool,
    /// WordPiece's `max_input_chars_per_word`, if the model is WordPiece.
    pub word_piece_max_chars: Option<usize>,
    /// Every added token's text, and for those matched after normalisation, its normalised
    /// text too.
    pub added_tokens: Vec<&'a str>,
    /// Some added token matches only as a whole word (then a word character such as a CJK
    /// ideograph before it changes whether it matches).
    pub single_word_tokens: bool,
    /// The text is lower-cased before the tokenizer sees it.
    pub lowercased: bool,
}

/// One segment: text to tokenise on its own.
pub(crate) struct Segment<'a> {
    pub text: Cow<'a, str>,
    /// The segment ends inside an unbroken run longer than [`REGION_CAP`]: of its word
    /// pieces keep only those of words that end at least [`CutRules::guard_bytes`] before its
    /// end, and not its last word; the text ends there.
    pub capped: bool,
}

impl CutRules {
    /// The rules for a pipeline, or `None` when cutting its texts is not provably exact (then
    /// texts are tokenised whole).
    pub(crate) fn for_tokenizer(pipeline: &Pipeline<'_>) -> Option<CutRules> {
        let cjk_split = pipeline.bert_normalizer?;
        let max_word_chars = pipeline.word_piece_max_chars?;
        if !pipeline.bert_pre_tokenizer {
            return None;
        }
        let added: String = pipeline.added_tokens.concat();
        // The normaliser turns every space into ' ' before added tokens are matched.
        let added_space = added.chars().any(char::is_whitespace);
        let mut safe_ascii = [false; 128];
        for (byte, safe) in safe_ascii.iter_mut().enumerate() {
            let c = byte as u8 as char;
            let case_ignorable = matches!(c, '.' | '\'' | ':' | '^' | '`');
            // `_` is a word character to a single-word token's boundary check.
            let word_char = c == '_' && pipeline.single_word_tokens;
            let risky_punctuation =
                (case_ignorable && pipeline.lowercased) || word_char || added.contains(c);
            *safe = (matches!(c, ' ' | '\t' | '\n' | '\r') && !added_space)
                || (c.is_ascii_punctuation() && !risky_punctuation);
        }
        let longest_added = pipeline
            .added_tokens
            .iter()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0);
        // A stretch may be shortened only if no added token could match inside it.
        let token_inside_stretch = pipeline
            .added_tokens
            .iter()
            .any(|t| !t.is_empty() && t.chars().all(|c| is_stretch_char(c, cjk_split)));
        Some(CutRules {
            safe_ascii,
            unicode_spaces: !added_space,
            cjk: cjk_split && !added.chars().any(is_cjk) && !pipeline.single_word_tokens,
            cjk_split,
            stretch_margin: (!token_inside_stretch).then(|| {
                max_word_chars
                    .saturating_add(1)
                    .saturating_add(longest_added)
            }),
            max_word_chars,
            longest_added,
            lowercased: pipeline.lowercased,
            limits: Limits::default(),
        })
    }

    /// Bytes at the end of a capped segment whose words are dropped: an added token starting
    /// there might continue past the cut.
    pub(crate) fn guard_bytes(&self) -> usize {
        4 * self.longest_added
    }

    /// Whether a cut right after `c` is safe.
    fn is_safe(&self, c: char) -> bool {
        match c {
            c if c.is_ascii() => self.safe_ascii[c as usize],
            c if is_cjk(c) => self.cjk,
            c => self.unicode_spaces && c.is_whitespace() && c != '\u{85}',
        }
    }

    /// The segments of `text`; the first is about `first_bytes` long (more, to reach a safe
    /// cut), later ones double up to [`Limits::max_segment`]. `normalized_chars` counts the characters
    /// a string normalises to (the tokenizer's normaliser).
    pub(crate) fn segments<'a, F: Fn(&str) -> usize>(
        &'a self,
        text: &'a str,
        first_bytes: usize,
        normalized_chars: F,
    ) -> Segments<'a, F> {
        Segments {
            rules: self,
            text,
            pos: 0,
            target: self
                .limits
                .first_segment
                .unwrap_or(first_bytes)
                .clamp(1, usize::MAX / 4),
            normalized_chars,
            done: false,
        }
    }
}

/// Iterator over a text's segments (see [`CutRules::segments`]).
pub(crate) struct Segments<'a, F> {
    rules: &'a CutRules,
    text: &'a str,
    pos: usize,
    target: usize,
    normalized_chars: F,
    done: bool,
}

impl<'a, F: Fn(&str) -> usize> Iterator for Segments<'a, F> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        if self.done || self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let limits = self.rules.limits;
        let target = self.target;
        self.target = self.target.saturating_mul(2).min(limits.max_segment.max(1));
        if rest.len() <= target.saturating_add(limits.lookahead) {
            self.pos = self.text.len();
            return Some(Segment {
                text: Cow::Borrowed(rest),
                capped: false,
            });
        }
        let from = floor_char_boundary(rest, target);
        let window =
            &rest[from..floor_char_boundary(rest, target.saturating_add(limits.lookahead))];
        if let Some((at, c)) = window.char_indices().find(|&(_, c)| self.rules.is_safe(c)) {
            let end = from + at + c.len_utf8();
            self.pos += end;
            return Some(Segment {
                text: Cow::Borrowed(&rest[..end]),
                capped: false,
            });
        }
        let (copy, consumed, capped) = self.shortened_run(rest, target);
        self.pos += consumed;
        self.done = capped;
        Some(Segment {
            text: Cow::Owned(copy),
            capped,
        })
    }
}

impl<F: Fn(&str) -> usize> Segments<'_, F> {
    /// Copies `rest` with long stretches shortened, up to the first safe cut once the copy holds
    /// `target` bytes, the end of `rest`, or [`REGION_CAP`] bytes of copy. Returns the copy,
    /// the bytes of `rest` it stands for, and whether it was capped.
    fn shortened_run(&self, rest: &str, target: usize) -> (String, usize, bool) {
        let mut copy = String::with_capacity(target.min(self.rules.limits.region_cap) + 8);
        let mut stretch: Option<usize> = None;
        for (at, c) in rest.char_indices() {
            if is_stretch_char(c, self.rules.cjk_split) {
                stretch.get_or_insert(at);
                continue;
            }
            if let Some(start) = stretch.take() {
                if self.push_stretch(&mut copy, &rest[start..at]) {
                    return (copy, at, true);
                }
            }
            copy.push(c);
            if copy.len() >= self.rules.limits.region_cap {
                return (copy, at + c.len_utf8(), true);
            }
            if copy.len() >= target && self.rules.is_safe(c) {
                return (copy, at + c.len_utf8(), false);
            }
        }
        if let Some(start) = stretch {
            if self.push_stretch(&mut copy, &rest[start..]) {
                return (copy, rest.len(), true);
            }
        }
        (copy, rest.len(), false)
    }

    /// Appends a stretch, shortened when that is provably exact; true if the copy reached
    /// [`REGION_CAP`] (then it holds only the stretch's start).
    fn push_stretch(&self, copy: &mut String, stretch: &str) -> bool {
        if let Some((head, tail)) = self.shortened(stretch) {
            copy.push_str(head);
            copy.push_str(tail);
            return copy.len() >= self.rules.limits.region_cap;
        }
        let room = self.rules.limits.region_cap.saturating_sub(copy.len());
        if stretch.len() >= room {
            copy.push_str(&stretch[..floor_char_boundary(stretch, room)]);
            return true;
        }
        copy.push_str(stretch);
        false
    }
}

impl<F: Fn(&str) -> usize> Segments<'_, F> {
    /// The head and tail a stretch can be shortened to, if that is provably exact: a head
    /// (at least a margin, doubled up to 16 margins while it does not yet normalise, past
    /// a possible added token, to more than `max_input_chars_per_word` characters) and the last
    /// margin, with characters between them to leave out.
    fn shortened<'s>(&self, stretch: &'s str) -> Option<(&'s str, &'s str)> {
        let margin = self.rules.stretch_margin?;
        if stretch.len() <= margin.saturating_mul(2) {
            return None; // at most 2 * margin characters
        }
        let tail_start = stretch.char_indices().rev().nth(margin - 1)?.0;
        let mut head_chars = margin;
        loop {
            let head_end = stretch.char_indices().nth(head_chars)?.0;
            if head_end >= tail_start {
                return None;
            }
            let head = &stretch[..head_end];
            // An added token matching across the stretch's start takes at most its own length
            // of normalised characters from the head.
            let counted = (self.normalized_chars)(head).saturating_sub(self.rules.longest_added);
            if counted > self.rules.max_word_chars {
                let tail = &stretch[tail_start..];
                // The tail must hold any added token matching across the stretch's end.
                let tail_holds_tokens = (self.normalized_chars)(tail) >= self.rules.longest_added;
                let context_kept = !self.rules.lowercased
                    || (head.chars().any(surely_not_case_ignorable)
                        && tail.chars().any(surely_not_case_ignorable));
                return (context_kept && tail_holds_tokens).then_some((head, tail));
            }
            if head_chars >= margin.saturating_mul(16) {
                return None;
            }
            head_chars *= 2;
        }
    }
}

/// Characters a shortened stretch is made of: never a word boundary, before or after
/// normalisation (not whitespace, punctuation or CJK; no canonical decomposition holding one),
/// so a stretch lies inside one word. Letters and digits; controls and format characters the
/// normaliser deletes (zero-width joiners of emoji sequences among them); emoji and
/// pictographic symbols, variation selectors.
fn is_stretch_char(c: char, cjk_split: bool) -> bool {
    let code = c as u32;
    (c.is_alphanumeric() && !(cjk_split && is_cjk(c)))
        || (c.is_control() && !c.is_whitespace())
        || matches!(
            code,
            0x200B..=0x200F // zero-width space, joiners, direction marks
                | 0x2060..=0x2064
                | 0xFEFF
                | 0xFFFD
                | 0xFE00..=0xFE0F // variation selectors
                | 0x2190..=0x21FF // arrows
                | 0x2500..=0x25FF // box drawing, block elements, geometric shapes
                | 0x2600..=0x2767 // miscellaneous symbols, dingbats (not the brackets after)
                | 0x2776..=0x27BF
                | 0x1F000..=0x1FAFF // emoji and pictographs
                | 0xE0020..=0xE007F // emoji tag characters
        )
}

/// Characters that are certainly not case-ignorable (so a final-sigma look-ahead or look-behind
/// stops at them): digits, uppercase letters, and lowercase letters with an uppercase form,
/// except U+0345, a combining mark with one.
fn surely_not_case_ignorable(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c.is_numeric()
        || c.is_uppercase()
        || (c.is_lowercase() && c != '\u{345}' && c.to_uppercase().next() != Some(c))
}

/// BERT's "Chinese character" ranges: each becomes a word of its own.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// The longest prefix of a capped segment that lower-cases (Unicode's context rules) exactly as
/// it does inside the whole text: up to its last character a final-sigma look-ahead stops at.
pub(crate) fn lowercase_safe_prefix(segment: &str) -> &str {
    let end = segment
        .char_indices()
        .rev()
        .find(|&(_, c)| (surely_not_case_ignorable(c) || c.is_whitespace()) && c != 'Σ')
        .map_or(0, |(at, c)| at + c.len_utf8());
    &segment[..end]
}

/// The largest char boundary of `s` at or below `at`.
pub(crate) fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut at = at;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}
