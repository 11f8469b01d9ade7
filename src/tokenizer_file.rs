//! Reads a `tokenizer.json` into a `tokenizers::Tokenizer`: a WordPiece vocabulary straight into
//! its model, the rest of the file through the tokenizers crate.
//!
//! `Tokenizer::from_bytes` reads the model through an untagged enum: the whole vocabulary is
//! buffered, copied into a `serde_json::Value` (a `BTreeMap` of 30,522 keys for MiniLM) and only
//! then read as a `WordPiece`. That was about 30 ms of a 70 ms cold start on a Zen 3 core. Here a
//! model that says `"type": "WordPiece"` is read by `WordPiece`'s own deserializer; everything
//! else in the file (normalizer, pre-tokenizer, post-processor, decoder, ...) goes through
//! `from_bytes` with an empty stand-in vocabulary, and then, as `from_bytes` does, the model is
//! set and the added tokens are added (their ids come from the model). Any other file, or any
//! part the fast path cannot read (a repeated key, an added token without a u32 id), takes
//! `from_bytes` whole, so errors read as before. The tests check that both ways give the same
//! tokenizer, serialised back to JSON; they follow the tokenizers version in Cargo.lock, so an
//! upgrade of that crate is checked by them too.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::{AddedToken, Tokenizer};

/// The tokenizer a `tokenizer.json` describes (`bytes`: the file's contents, known to be valid
/// JSON). Errors are the tokenizers crate's own.
pub(crate) fn read(bytes: &[u8]) -> tokenizers::Result<Tokenizer> {
    match read_word_piece(bytes) {
        Some(tokenizer) => Ok(tokenizer),
        None => Tokenizer::from_bytes(bytes),
    }
}

/// The fast path: `None` when the file is not a WordPiece tokenizer whose parts all read.
fn read_word_piece(bytes: &[u8]) -> Option<Tokenizer> {
    // The top-level entries as they stand. `from_bytes` reads a repeated key every time (a bad
    // first copy is an error there), so a file that repeats one goes to it whole.
    let Entries(entries) = serde_json::from_slice(bytes).ok()?;
    let mut top = BTreeMap::new();
    for (key, value) in entries {
        if top.insert(key, value).is_some() {
            return None;
        }
    }
    let model = top.get("model")?;
    #[derive(Deserialize)]
    struct ModelKind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<Cow<'a, str>>,
    }
    let kind: ModelKind = serde_json::from_str(model.get()).ok()?;
    if kind.kind.as_deref() != Some("WordPiece") {
        return None;
    }
    let word_piece: WordPiece = serde_json::from_str(model.get()).ok()?;
    // `from_bytes` reads each added token with its id (which must be there, a u32), compares
    // that id with the model's and logs a warning when they differ (not repeated here), and
    // keeps the model's id, or the next free one.
    #[derive(Deserialize)]
    struct WithId {
        #[allow(dead_code)]
        id: u32,
        #[serde(flatten)]
        token: AddedToken,
    }
    let added: Vec<WithId> = match top.get("added_tokens") {
        Some(raw) => serde_json::from_str(raw.get()).ok()?,
        None => Vec::new(),
    };
    let mut rest = String::with_capacity(bytes.len().min(1 << 16));
    rest.push('{');
    for (key, value) in &top {
        if key == "model" || key == "added_tokens" {
            continue;
        }
        rest.push_str(&serde_json::to_string(key).ok()?);
        rest.push(':');
        rest.push_str(value.get());
        rest.push(',');
    }
    // A stand-in with every field the WordPiece reader requires; it is replaced below.
    rest.push_str(
        r###""model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","###,
    );
    rest.push_str(r#""max_input_chars_per_word":100,"vocab":{}}}"#);
    let mut tokenizer = Tokenizer::from_bytes(rest.as_bytes()).ok()?;
    tokenizer.with_model(word_piece);
    tokenizer
        .add_tokens(added.into_iter().map(|t| t.token))
        .ok()?;
    Some(tokenizer)
}

/// A JSON object's entries in file order, repeated keys included, each value unparsed.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'a RawValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small BERT-style file: lower-casing normalizer, BERT pre-tokenizer, [CLS] ... [SEP]
    /// template, WordPiece decoder, special tokens in the vocabulary and one added token outside
    /// it (which takes the next free id).
    const FILE: &str = r###"{
      "version": "1.0",
      "truncation": {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0},
      "padding": null,
      "added_tokens": [
        {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 2, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 3, "content": "[SEP]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 11, "content": "<extra>", "single_word": true, "lstrip": true, "rstrip": false, "normalized": true, "special": false}
      ],
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
        "special_tokens": {
          "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
          "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
        }
      },
      "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
      "model": {
        "type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
        "max_input_chars_per_word": 100,
        "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5,
                  "##s": 6, "!": 7, "a": 8, "\u00e9t\u00e9": 9, "##ing": 10}
      }
    }"###;

    fn both(file: &str) -> (Tokenizer, Tokenizer) {
        let fast = read_word_piece(file.as_bytes()).expect("the fast path reads this file");
        let whole = Tokenizer::from_bytes(file.as_bytes()).unwrap();
        (fast, whole)
    }

    #[test]
    fn word_piece_file_reads_as_from_bytes_reads_it() {
        let (fast, whole) = both(FILE);
        assert_eq!(
            fast.to_string(false).unwrap(),
            whole.to_string(false).unwrap()
        );
        assert_eq!(fast.token_to_id("<extra>"), Some(11));
        for text in [
            "Hello worlds!",
            "ÉTÉ a <extra> helloing",
            "",
            "zzz [SEP] hello",
        ] {
            let a = fast.encode(text, true).unwrap();
            let b = whole.encode(text, true).unwrap();
            assert_eq!(a.get_ids(), b.get_ids(), "{text:?}");
            assert_eq!(a.get_type_ids(), b.get_type_ids(), "{text:?}");
            assert_eq!(a.get_offsets(), b.get_offsets(), "{text:?}");
        }
    }

    #[test]
    fn an_added_token_outside_the_vocabulary_takes_the_same_id_both_ways() {
        // Its stated id (11) is not what either way gives it: with "##ed" at 11 the
        // vocabulary has 12 entries, and the next free id is 12.
        let file = FILE.replace(r###""##ing": 10"###, r###""##ing": 10, "##ed": 11"###);
        let (fast, whole) = both(&file);
        assert_eq!(fast.token_to_id("<extra>"), Some(12));
        assert_eq!(whole.token_to_id("<extra>"), Some(12));
        // A special token whose stated id is not the vocabulary's keeps the vocabulary's.
        let file = FILE.replace(
            r#""id": 3, "content": "[SEP]""#,
            r#""id": 7, "content": "[SEP]""#,
        );
        let (fast, whole) = both(&file);
        assert_eq!(fast.token_to_id("[SEP]"), Some(3));
        assert_eq!(
            fast.to_string(false).unwrap(),
            whole.to_string(false).unwrap()
        );
        // Padding set, and the model first in the file.
        let file = FILE.replace(
            r#""padding": null"#,
            r#""padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}"#,
        );
        let at = file.find(r#""model""#).unwrap();
        let model = file[at..file.rfind('}').unwrap()].trim_end();
        let rest = file[..at].trim_end().trim_end_matches(',');
        let reordered = format!("{{{model}, {}}}", rest.trim_start().trim_start_matches('{'));
        assert!(reordered.starts_with(r#"{"model""#));
        let (fast, whole) = both(&reordered);
        assert_eq!(
            fast.to_string(false).unwrap(),
            whole.to_string(false).unwrap()
        );
    }

    #[test]
    fn other_models_and_broken_parts_take_from_bytes() {
        let word_level = FILE.replace(
            r#""type": "WordPiece", "unk_token""#,
            r#""type": "WordLevel", "unk_token""#,
        );
        assert!(read_word_piece(word_level.as_bytes()).is_none());
        let untyped = FILE.replace(r#""type": "WordPiece", "unk_token""#, r#""unk_token""#);
        assert!(read_word_piece(untyped.as_bytes()).is_none());
        let bad_normalizer = FILE.replace(r#""clean_text": true"#, r#""clean_text": "yes""#);
        assert!(read_word_piece(bad_normalizer.as_bytes()).is_none());
        assert!(read(bad_normalizer.as_bytes()).is_err());
        let bad_vocab = FILE.replace(r#""hello": 4"#, r#""hello": "four""#);
        assert!(read_word_piece(bad_vocab.as_bytes()).is_none());
        assert!(read(bad_vocab.as_bytes()).is_err());
        // Added tokens `from_bytes` refuses: no id, an id that is not a u32.
        for bad in ["", r#""id": "0", "#, r#""id": -1, "#] {
            let file = FILE.replacen(r#""id": 0, "#, bad, 1);
            assert!(Tokenizer::from_bytes(file.as_bytes()).is_err(), "{bad:?}");
            assert!(read_word_piece(file.as_bytes()).is_none(), "{bad:?}");
            assert!(read(file.as_bytes()).is_err(), "{bad:?}");
        }
        // A repeated key: `from_bytes` reads the first (bad) normalizer too.
        let repeated = FILE.replacen(
            r#""normalizer": "#,
            r#""normalizer": {"type": "BertNormalizer", "clean_text": "yes"}, "normalizer": "#,
            1,
        );
        assert!(Tokenizer::from_bytes(repeated.as_bytes()).is_err());
        assert!(read_word_piece(repeated.as_bytes()).is_none());
        assert!(read(repeated.as_bytes()).is_err());
    }

    #[test]
    fn the_default_models_file_reads_as_from_bytes_reads_it() {
        let dir = crate::default_model_dir().expect("the default model (tools/fetch-model.sh)");
        let bytes = std::fs::read(dir.join("tokenizer.json")).unwrap();
        let fast = read_word_piece(&bytes).expect("MiniLM's tokenizer takes the fast path");
        let whole = Tokenizer::from_bytes(&bytes).unwrap();
        assert_eq!(
            fast.to_string(false).unwrap(),
            whole.to_string(false).unwrap()
        );
        let texts = [
            "A man paints with his brains and not with his hands.",
            "Ünïcödé, 日本語 and emoji 🙂 [SEP] [MASK] mid-text; tabs\tand\nnewlines",
            "",
        ];
        for text in texts {
            let a = fast.encode(text, true).unwrap();
            let b = whole.encode(text, true).unwrap();
            assert_eq!(a.get_ids(), b.get_ids(), "{text:?}");
            assert_eq!(a.get_offsets(), b.get_offsets(), "{text:?}");
        }
    }
}
