//! The library API's promises: options are checked, odd input never panics, one embedder is
//! shared across threads.

mod common;

use std::sync::OnceLock;

use common::{max_abs_diff, model_dir};
use minilm::{Embedder, Error, Options};

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| Embedder::from_dir(model_dir(), &Options::default().threads(2)).unwrap())
}

#[test]
fn embedder_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Embedder>();
}

#[test]
fn invalid_options_are_errors() {
    let cases = [
        Options::default().threads(0),
        Options::default().batch_size(0),
        Options::default().max_length(0),
        // Shorter than the [CLS] + [SEP] the tokenizer adds.
        Options::default().max_length(1),
        Options::default().max_length(513),
    ];
    for options in cases {
        match Embedder::from_dir(model_dir(), &options) {
            Err(Error::InvalidOption(_)) => {}
            other => panic!(
                "{options:?}: expected InvalidOption, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

#[test]
fn options_are_honoured() {
    let options = Options::default().threads(1).batch_size(5).max_length(512);
    let custom = Embedder::from_dir(model_dir(), &options).unwrap();
    let facts = (custom.threads(), custom.batch_size(), custom.max_length());
    assert_eq!(facts, (1, 5, 512));
    assert_eq!(custom.dim(), 384);
    assert!(custom.normalizes());
    assert_eq!(
        embedder().max_length(),
        256,
        "all-MiniLM-L6-v2's max_seq_length"
    );
}

#[test]
fn odd_texts_embed_to_finite_unit_vectors() {
    let long_word = "x".repeat(100_000);
    let many_words = "word ".repeat(50_000);
    let texts = [
        "",
        " ",
        "\0",
        "\u{feff}",
        "\u{200b}\u{200c}\u{200d}",
        "\u{202e}reversed\u{202c}",
        "e\u{301}\u{301}\u{301}\u{301}",
        "🏳️‍🌈👨‍👩‍👧‍👦",
        "\u{10ffff}\u{e000}",
        long_word.as_str(),
        many_words.as_str(),
        "[CLS] [SEP] [PAD] [MASK] [UNK]",
    ];
    let vectors = embedder().embed_batch(&texts).unwrap();
    for (text, v) in texts.iter().zip(&vectors) {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            v.iter().all(|x| x.is_finite()) && (norm - 1.0).abs() < 1e-5,
            "{:?}…",
            &text[..text.len().min(20)]
        );
    }
}

#[test]
fn empty_batch_gives_no_vectors() {
    let none: [&str; 0] = [];
    assert!(embedder().embed_batch(&none).unwrap().is_empty());
}

#[test]
fn concurrent_callers_get_the_serial_results() {
    let texts: Vec<String> = (0..12)
        .map(|i| format!("sentence number {i} is {}", "long ".repeat(i * 7)))
        .collect();
    let serial = embedder().embed_batch(&texts).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let texts = &texts;
            let serial = &serial;
            scope.spawn(move || {
                for (i, text) in texts.iter().enumerate().skip(t) {
                    let v = embedder().embed(text).unwrap();
                    assert!(max_abs_diff(&v, &serial[i]) <= 1e-6, "thread {t} text {i}");
                }
            });
        }
    });
}

#[test]
fn shortest_max_length_keeps_only_the_special_tokens() {
    let embedder = Embedder::from_dir(model_dir(), &Options::default().max_length(2)).unwrap();
    assert_eq!(embedder.token_ids("hello world").unwrap(), vec![101, 102]);
    assert_eq!(embedder.embed("hello world").unwrap().len(), 384);
}
