//! Text to token ids with the model's own `tokenizer.json`, under sentence-transformers' rules.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Encoding, ModelWrapper, NormalizedString, Normalizer, Tokenizer};

use crate::error::{Error, Result};
use crate::text_segments::{floor_char_boundary, lowercase_safe_prefix, CutRules, Pipeline};

/// A tokenizer configured as sentence-transformers uses it: optional lower-casing, the model's
/// special tokens around the text, no padding. Truncation is the caller's: [`TextTokenizer::pieces`]
/// gives a text's word pieces (at a cost that follows the pieces asked for), and
/// [`TextTokenizer::sequence`] wraps a run of them in the special tokens. The truncation and
/// padding settings stored in `tokenizer.json` are ignored.
pub(crate) struct TextTokenizer {
    inner: Tokenizer,
    lowercase: bool,
    /// How to cut texts into segments, when the pipeline allows it (else texts go whole).
    rules: Option<CutRules>,
    /// Special tokens before and after the word pieces, and the token types of all three parts.
    prefix: Tokens,
    suffix: Tokens,
    content_type: u32,
}

/// One tokenised sequence, special tokens included.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tokens {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

/// One token, for inspection.
#[cfg(feature = "server")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenDetail {
    pub id: u32,
    pub text: String,
    pub special: bool,
    /// Byte offsets into the tokenised text (lower-cased first when the model asks for it).
    pub offsets: Option<(usize, usize)>,
}

/// A text's word pieces, without special tokens.
pub(crate) struct Pieces {
    pub ids: Vec<u32>,
    /// `ids` are all of the text's pieces (else at least as many as were asked for, and maybe
    /// more follow).
    pub complete: bool,
    /// The text holds an unbroken run too long to read whole (see `text_segments`), and `ids`
    /// end where it was cut.
    pub capped: bool,
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
        let mut inner = std::panic::catch_unwind(|| crate::tokenizer_file::read(&bytes))
            .map_err(|_| load_error("the tokenizers library panicked reading this file".into()))?
            .map_err(|e| load_error(e.to_string()))?;
        inner
            .with_truncation(None)
            .map_err(|e| load_error(e.to_string()))?;
        inner.with_padding(None);
        let (prefix, suffix, content_type) = special_layout(&inner).map_err(load_error)?;
        let special = prefix.ids.len() + suffix.ids.len();
        if max_length < special {
            return Err(Error::InvalidOption(format!(
                "max length {max_length} is shorter than the {special} special tokens {} adds",
                path.display()
            )));
        }
        let rules = cut_rules(&inner, lowercase);
        Ok(TextTokenizer {
            inner,
            lowercase,
            rules,
            prefix,
            suffix,
            content_type,
        })
    }

    /// Special tokens around every sequence ([CLS] and [SEP]: 2).
    pub(crate) fn specials(&self) -> usize {
        self.prefix.ids.len() + self.suffix.ids.len()
    }

    /// `pieces` as the model reads them: the special tokens around them, with token types.
    pub(crate) fn sequence(&self, pieces: &[u32]) -> Tokens {
        let mut tokens = Tokens {
            ids: Vec::with_capacity(pieces.len() + self.specials()),
            type_ids: Vec::with_capacity(pieces.len() + self.specials()),
        };
        tokens.ids.extend_from_slice(&self.prefix.ids);
        tokens.ids.extend_from_slice(pieces);
        tokens.ids.extend_from_slice(&self.suffix.ids);
        tokens.type_ids.extend_from_slice(&self.prefix.type_ids);
        tokens
            .type_ids
            .resize(self.prefix.ids.len() + pieces.len(), self.content_type);
        tokens.type_ids.extend_from_slice(&self.suffix.type_ids);
        tokens
    }

    /// The word pieces of `prompt` followed by `text` (joined as they are): all of them when
    /// `need` is `None`, else at least the first `need` (exactly the pieces the whole text
    /// starts with), tokenising only about as much of the text as that takes. `index` names the
    /// text in errors.
    pub(crate) fn pieces(
        &self,
        prompt: Option<&str>,
        text: &str,
        need: Option<usize>,
        index: usize,
    ) -> Result<Pieces> {
        let prompt = prompt.unwrap_or("");
        let Some(rules) = &self.rules else {
            let joined = join(prompt, text);
            let encoding = self.encode_raw(&joined, index)?;
            return Ok(Pieces {
                ids: encoding.get_ids().to_vec(),
                complete: true,
                capped: false,
            });
        };
        // About 4 bytes per word piece in prose; twice that leaves room for most texts to
        // need one segment.
        let first_bytes = need.map_or(64 << 10, |n| n.saturating_mul(8).saturating_add(256));
        let segments = rules.segments(text, first_bytes, |s| self.normalized_chars(s));
        let mut pieces = Pieces {
            ids: Vec::new(),
            complete: true,
            capped: false,
        };
        let mut first = true;
        for segment in segments {
            if need.is_some_and(|n| pieces.ids.len() >= n) {
                pieces.complete = false;
                break;
            }
            let joined = if first {
                join(prompt, &segment.text)
            } else {
                Cow::Borrowed(&*segment.text)
            };
            first = false;
            if segment.capped {
                // The text ends inside this run: read as little of it as gives the pieces
                // wanted, growing the prefix fourfold from the first segment's length.
                let wanted = need.map(|n| n.saturating_sub(pieces.ids.len()));
                let mut prefix_bytes = first_bytes;
                loop {
                    let whole = prefix_bytes >= joined.len() || wanted.is_none();
                    let prefix = if whole {
                        &joined[..]
                    } else {
                        &joined[..floor_char_boundary(&joined, prefix_bytes)]
                    };
                    // Offsets are in the text the tokenizer sees: lower-cased first, if at all.
                    let exact: Cow<str> = if self.lowercase {
                        Cow::Owned(lowercase_safe_prefix(prefix).to_lowercase())
                    } else {
                        Cow::Borrowed(prefix)
                    };
                    let encoding = self.encode_prepared(&exact, index)?;
                    let limit = exact.len().saturating_sub(rules.guard_bytes());
                    let words = whole_words_before(&encoding, limit);
                    if whole || wanted.is_some_and(|w| words.len() >= w) {
                        pieces.ids.extend_from_slice(words);
                        break;
                    }
                    prefix_bytes = prefix_bytes.saturating_mul(4);
                }
                pieces.capped = true;
                pieces.complete = false;
                break;
            }
            let encoding = self.encode_raw(&joined, index)?;
            pieces.ids.extend_from_slice(encoding.get_ids());
        }
        if text.is_empty() && !prompt.is_empty() {
            // An empty text (no segments): the prompt alone.
            let encoding = self.encode_raw(prompt, index)?;
            pieces.ids.extend_from_slice(encoding.get_ids());
        }
        Ok(pieces)
    }

    #[cfg(feature = "server")]
    /// Each token of `prompt` + `text` as the model reads it (truncated to `max_length`, special
    /// tokens included when `special`): id, token text, and byte offsets into the joined text
    /// (`None` for special tokens). Tokenises the whole text: for bounded inputs (a server's
    /// request body).
    pub(crate) fn token_details(
        &self,
        prompt: Option<&str>,
        text: &str,
        max_length: usize,
        special: bool,
        index: usize,
    ) -> Result<Vec<TokenDetail>> {
        let joined = join(prompt.unwrap_or(""), text);
        let encoding = self.encode_raw(&joined, index)?;
        let width = max_length.saturating_sub(self.specials());
        let name = |id: u32| self.inner.id_to_token(id).unwrap_or_default();
        let specials = |tokens: &Tokens| -> Vec<TokenDetail> {
            tokens
                .ids
                .iter()
                .map(|&id| TokenDetail {
                    id,
                    text: name(id),
                    special: true,
                    offsets: None,
                })
                .collect()
        };
        let mut details = if special {
            specials(&self.prefix)
        } else {
            Vec::new()
        };
        let pieces = encoding.get_ids().iter().zip(encoding.get_tokens());
        for ((&id, token), &offsets) in pieces.zip(encoding.get_offsets()).take(width) {
            details.push(TokenDetail {
                id,
                text: token.clone(),
                special: false,
                offsets: Some(offsets),
            });
        }
        if special {
            details.extend(specials(&self.suffix));
        }
        Ok(details)
    }

    /// The characters `text` normalises to, as the tokenizer sees it.
    fn normalized_chars(&self, text: &str) -> usize {
        let text = self.lowered(text);
        let text = &*text;
        let Some(normalizer) = self.inner.get_normalizer() else {
            return text.chars().count();
        };
        let mut normalized = NormalizedString::from(text);
        match std::panic::catch_unwind(AssertUnwindSafe(|| normalizer.normalize(&mut normalized))) {
            Ok(Ok(())) => normalized.get().chars().count(),
            // Not provably long: the stretch is then kept whole.
            _ => 0,
        }
    }

    /// The word pieces of one text, lower-cased first if the model asks for it, without special
    /// tokens; `index` names the text in errors.
    fn encode_raw(&self, text: &str, index: usize) -> Result<Encoding> {
        self.encode_prepared(&self.lowered(text), index)
    }

    /// `text` lower-cased (Unicode's rules, as Python's `str.lower`) if the model asks for it.
    fn lowered<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.lowercase {
            Cow::Owned(text.to_lowercase())
        } else {
            Cow::Borrowed(text)
        }
    }

    /// The word pieces of a text already lower-cased if the model asks for it.
    fn encode_prepared(&self, text: &str, index: usize) -> Result<Encoding> {
        // A backstop: the tokenizer is third-party code driven by an arbitrary tokenizer.json,
        // and a panic inside it must not take the caller's process down.
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.encode(text, false)));
        match encoded {
            Ok(Ok(encoding)) => Ok(encoding),
            Ok(Err(e)) => Err(Error::Tokenize {
                index,
                message: e.to_string(),
            }),
            Err(_) => Err(Error::Tokenize {
                index,
                message: "the tokenizer failed (panicked) on this text".into(),
            }),
        }
    }
}

fn join<'a>(prompt: &str, text: &'a str) -> Cow<'a, str> {
    if prompt.is_empty() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("{prompt}{text}"))
    }
}

/// The pieces of `encoding` that belong to words ending at or before byte `limit`, leaving out
/// its last word (which may continue past the text it was given).
fn whole_words_before(encoding: &Encoding, limit: usize) -> &[u32] {
    let words = encoding.get_word_ids();
    let offsets = encoding.get_offsets();
    let last_word = words.last().copied().flatten();
    let mut keep = words
        .iter()
        .zip(offsets)
        .position(|(&word, &(_, end))| word == last_word || end > limit)
        .unwrap_or(words.len());
    // A word that ends past the limit: none of its pieces.
    while keep > 0 && keep < words.len() && words[keep - 1] == words[keep] {
        keep -= 1;
    }
    &encoding.get_ids()[..keep]
}

/// Where the post-processor puts the text's pieces among its special tokens: the tokens before
/// and after, and the pieces' token type.
fn special_layout(inner: &Tokenizer) -> std::result::Result<(Tokens, Tokens, u32), String> {
    let encode = |probe: &str, special| {
        std::panic::catch_unwind(AssertUnwindSafe(|| inner.encode(probe, special)))
            .map_err(|_| "the tokenizers library panicked on a probe text".to_string())?
            .map_err(|e| e.to_string())
    };
    let mut last_error = String::new();
    for probe in ["a", "x", "0", ".", "hello"] {
        let (bare, full) = match (encode(probe, false), encode(probe, true)) {
            (Ok(bare), Ok(full)) => (bare, full),
            (Err(e), _) | (_, Err(e)) => {
                last_error = e;
                continue;
            }
        };
        let (bare, ids, types) = (bare.get_ids(), full.get_ids(), full.get_type_ids());
        if bare.is_empty() {
            continue;
        }
        let Some(at) =
            (0..=ids.len().saturating_sub(bare.len())).find(|&at| ids[at..].starts_with(bare))
        else {
            last_error = "its post-processor does not put a text between special tokens".into();
            continue;
        };
        let end = at + bare.len();
        let part = |range: std::ops::Range<usize>| Tokens {
            ids: ids[range.clone()].to_vec(),
            type_ids: types[range].to_vec(),
        };
        return Ok((part(0..at), part(end..ids.len()), types[at]));
    }
    if last_error.is_empty() {
        last_error = "it gives no token for any probe text".into();
    }
    Err(last_error)
}

/// The segment-cutting rules for this tokenizer's pipeline, if it is one they are proven for.
fn cut_rules(inner: &Tokenizer, lowercase: bool) -> Option<CutRules> {
    let bert_normalizer = match inner.get_normalizer() {
        None => Some(false),
        Some(NormalizerWrapper::BertNormalizer(bert)) => Some(bert.handle_chinese_chars),
        Some(_) => None,
    };
    let word_piece_max_chars = match inner.get_model() {
        ModelWrapper::WordPiece(model) => Some(model.max_input_chars_per_word),
        _ => None,
    };
    let added = inner.get_added_tokens_decoder();
    // A token matched after normalisation matches text that normalises to it: its normalised
    // form counts too.
    let normalized: Vec<String> = added
        .values()
        .filter(|t| t.normalized)
        .filter_map(|t| {
            let normalizer = inner.get_normalizer()?;
            let mut text = NormalizedString::from(t.content.as_str());
            std::panic::catch_unwind(AssertUnwindSafe(|| normalizer.normalize(&mut text)))
                .ok()?
                .ok()?;
            Some(text.get().to_owned())
        })
        .collect();
    let mut added_tokens: Vec<&str> = added.values().map(|t| t.content.as_str()).collect();
    added_tokens.extend(normalized.iter().map(String::as_str));
    CutRules::for_tokenizer(&Pipeline {
        bert_normalizer,
        bert_pre_tokenizer: matches!(
            inner.get_pre_tokenizer(),
            Some(PreTokenizerWrapper::BertPreTokenizer(_))
        ),
        word_piece_max_chars,
        added_tokens,
        single_word_tokens: added.values().any(|t| t.single_word),
        lowercased: lowercase,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_segments::Limits;

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
        }
    }

    /// Pieces of text that stress every rule a cut depends on: spaces the normaliser keeps or
    /// deletes, ASCII punctuation with and without case-ignorable, added tokens whole and in
    /// part, final sigma, combining marks, CJK, emoji, and stretches long enough to be
    /// shortened (or not, when they shrink under normalisation).
    fn fragments() -> Vec<String> {
        let short = [
            "a",
            "b",
            "Z",
            "é",
            "e\u{301}",
            "Σ",
            "σ",
            "ς",
            "ΑΣ",
            "ʰ",
            "\u{345}",
            "İ",
            "ß",
            "1",
            "²",
            "日",
            "本",
            "\u{3000}",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\u{b}",
            "\u{c}",
            "\u{85}",
            "\u{a0}",
            ".",
            ",",
            "'",
            ":",
            "^",
            "`",
            "-",
            "[",
            "]",
            "[MASK]",
            "[CLS]",
            "[UNK]",
            "MASK",
            "\u{200b}",
            "\u{200d}",
            "\u{0}",
            "\u{fffd}",
            "😀",
            "—",
            "«",
            "。",
            "ー",
            "ｱ",
            "##",
            "unaffable",
            "hello",
            "world",
            "Straße",
            "ΣΑΣ.",
            "Σ'a",
            "Σ.",
            "a.b",
            "x:y",
            // Pieces of the extra added tokens of `exotic_tokenizer`, and what normalises to
            // them.
            "_",
            "mytoken",
            "_mytoken",
            "-b",
            "-",
            "\u{200b}b",
            "<s>",
            "<",
            "s>",
            "\u{212a}",
            "─",
            "\u{e000}",
            "<tok>",
            "\u{37e}",
            ";",
        ];
        let mut all: Vec<String> = short.iter().map(|s| s.to_string()).collect();
        for (unit, times) in [
            ("x", 120),
            ("é", 60),
            ("Σ", 110),
            ("ʰ", 150),
            ("\u{301}", 40),
            ("a\u{301}", 70),
            ("😀", 40),
            ("ａ", 110),
            ("1", 250),
            ("─", 120),
            ("\u{200b}", 110),
            ("日本", 60),
        ] {
            all.push(unit.repeat(times));
        }
        all
    }

    fn random_text(rng: &mut Rng, fragments: &[String], max_fragments: usize) -> String {
        (0..rng.below(max_fragments + 1))
            .map(|_| fragments[rng.below(fragments.len())].as_str())
            .collect()
    }

    fn model_tokenizer(lowercase: bool) -> TextTokenizer {
        let dir = crate::default_model_dir().expect("the default model (tools/fetch-model.sh)");
        TextTokenizer::from_file(&dir.join("tokenizer.json"), 256, lowercase).unwrap()
    }

    /// The model's tokenizer with added tokens of every kind a cut must respect: whole-word
    /// only, matched after normalisation (including to a form with `;`, and across deleted
    /// characters), not normalised, and one containing a CJK ideograph.
    fn exotic_tokenizer(lowercase: bool) -> TextTokenizer {
        let dir = crate::default_model_dir().expect("the default model (tools/fetch-model.sh)");
        let text = std::fs::read_to_string(dir.join("tokenizer.json")).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let extra = [
            ("mytoken", true, true),
            ("<tok>", true, false),
            ("e\u{301}", false, true),
            ("-b", false, true),
            ("<s>", false, false),
            ("x\u{37e}", false, true),
            ("本a", false, true),
        ];
        let added = json["added_tokens"].as_array_mut().unwrap();
        for (i, (content, single_word, normalized)) in extra.into_iter().enumerate() {
            added.push(serde_json::json!({
                "id": 30522 + i, "content": content, "single_word": single_word,
                "lstrip": false, "rstrip": false, "normalized": normalized, "special": false,
            }));
        }
        let path = std::env::temp_dir().join(format!(
            "minilm-exotic-tokenizer-{}-{lowercase}.json",
            std::process::id()
        ));
        std::fs::write(&path, json.to_string()).unwrap();
        let tokenizer = TextTokenizer::from_file(&path, 256, lowercase).unwrap();
        let _ = std::fs::remove_file(&path);
        tokenizer
    }

    /// The model's tokenizer and the exotic one, each without and with lower-casing.
    fn tokenizer_variants() -> impl Iterator<Item = (bool, TextTokenizer)> {
        [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .map(|(lowercase, exotic)| {
                let tokenizer = if exotic {
                    exotic_tokenizer(lowercase)
                } else {
                    model_tokenizer(lowercase)
                };
                (lowercase, tokenizer)
            })
    }

    /// The pieces of a whole text, tokenised in one go.
    fn whole(tokenizer: &TextTokenizer, text: &str) -> Vec<u32> {
        tokenizer.encode_raw(text, 0).unwrap().get_ids().to_vec()
    }

    #[test]
    fn segments_give_exactly_the_pieces_of_the_whole_text() {
        let fragments = fragments();
        for (variant, (lowercase, mut tokenizer)) in tokenizer_variants().enumerate() {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ variant as u64);
            for case in 0..1500 {
                let text = random_text(&mut rng, &fragments, 60);
                let prompt = ["", "query: ", "Σ", "[MA", "x"][rng.below(5)];
                let limits = Limits {
                    lookahead: 1 + rng.below(24),
                    max_segment: 1 + rng.below(96),
                    region_cap: 1 << 20,
                    first_segment: Some(1 + rng.below(48)),
                };
                tokenizer.rules.as_mut().unwrap().limits = limits;
                let expected = whole(&tokenizer, &format!("{prompt}{text}"));
                let all = tokenizer.pieces(Some(prompt), &text, None, 0).unwrap();
                assert!(all.complete && !all.capped);
                assert_eq!(
                    all.ids, expected,
                    "case {case} (lowercase {lowercase}, {limits:?}): {text:?}"
                );
                let need = rng.below(expected.len() + 2);
                let some = tokenizer
                    .pieces(Some(prompt), &text, Some(need), 0)
                    .unwrap();
                assert!(some.ids.len() >= need.min(expected.len()));
                assert!(
                    expected.starts_with(&some.ids),
                    "case {case}, need {need}: {text:?}"
                );
            }
        }
    }

    #[test]
    fn a_capped_run_keeps_only_exact_whole_words() {
        let fragments = fragments();
        for (variant, (_, mut tokenizer)) in tokenizer_variants().enumerate() {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ variant as u64);
            let mut capped = 0;
            for case in 0..1500 {
                let text = random_text(&mut rng, &fragments, 60);
                let limits = Limits {
                    lookahead: 1 + rng.below(8),
                    max_segment: 1 + rng.below(32),
                    region_cap: 1 + rng.below(256),
                    first_segment: Some(1 + rng.below(32)),
                };
                tokenizer.rules.as_mut().unwrap().limits = limits;
                let expected = whole(&tokenizer, &text);
                let pieces = tokenizer.pieces(None, &text, None, 0).unwrap();
                capped += usize::from(pieces.capped);
                assert!(
                    expected.starts_with(&pieces.ids),
                    "case {case} ({limits:?}): {text:?}"
                );
                if !pieces.capped {
                    assert_eq!(pieces.ids, expected, "case {case} ({limits:?}): {text:?}");
                }
                let need = rng.below(expected.len() + 2);
                let some = tokenizer.pieces(None, &text, Some(need), 0).unwrap();
                assert!(
                    expected.starts_with(&some.ids),
                    "case {case}, need {need}: {text:?}"
                );
                if !some.capped {
                    assert!(some.ids.len() >= need.min(expected.len()));
                }
            }
            assert!(capped > 100, "only {capped} texts were capped");
        }
    }

    #[test]
    fn long_stretches_are_shortened_to_the_same_unknown_word() {
        let tokenizer = model_tokenizer(false);
        let text = format!("start {} end {}", "a".repeat(3 << 20), "é".repeat(1 << 20));
        let pieces = tokenizer.pieces(None, &text, None, 0).unwrap();
        assert!(pieces.complete && !pieces.capped);
        // start [UNK] end [UNK]
        assert_eq!(pieces.ids, [2707, 100, 2203, 100]);
    }

    /// The inputs a review found wrong, each now exact (with the default limits).
    #[test]
    fn reviewed_inputs_tokenise_exactly() {
        let cases: Vec<(bool, String, Option<usize>)> = vec![
            (
                false,
                format!("{}_mytoken{}", "x ".repeat(32768), " y".repeat(3000)),
                None,
            ),
            (false, format!("{}人", "日本".repeat(3000)), Some(255)),
            (
                false,
                format!("{}{}", "e".repeat(1000), "—".repeat(2000)),
                Some(255),
            ),
            (
                false,
                format!(
                    "-{}b{}{}{} end",
                    "\u{200b}".repeat(6),
                    "x".repeat(1100),
                    "\u{200b}".repeat(107),
                    "—".repeat(2000)
                ),
                Some(255),
            ),
            (
                true,
                format!(
                    "{}aa{}<s>{}",
                    "\u{212a}".repeat(20),
                    "\u{e000}".repeat(349_504),
                    " x".repeat(10)
                ),
                Some(255),
            ),
        ];
        for (i, (lowercase, text, need)) in cases.iter().enumerate() {
            let tokenizer = exotic_tokenizer(*lowercase);
            let expected = whole(&tokenizer, text);
            let pieces = tokenizer.pieces(None, text, *need, 0).unwrap();
            assert!(expected.starts_with(&pieces.ids), "case {i}");
            if !pieces.capped {
                let want = need.unwrap_or(expected.len()).min(expected.len());
                assert!(pieces.ids.len() >= want, "case {i}");
            }
        }
        // Box drawing between words is shortened like letters, not read in part.
        let tokenizer = model_tokenizer(false);
        let text = format!("hello {} world", "─".repeat(400_000));
        let pieces = tokenizer.pieces(None, &text, Some(255), 0).unwrap();
        assert!(!pieces.capped);
        assert_eq!(pieces.ids, whole(&tokenizer, &text));
    }
}
