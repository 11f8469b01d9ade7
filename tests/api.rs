//! The library API's promises: options are checked, odd input never panics, one embedder is
//! shared across threads.
#![forbid(unsafe_code)]

mod common;

use std::sync::OnceLock;

use common::{model_dir, same_bits};
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
                    assert!(same_bits(&v, &serial[i]), "thread {t} text {i}");
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

/// The token budget only decides which texts share a forward pass; results stay bit-identical.
#[test]
fn batch_token_budget_does_not_change_results() {
    let texts = [
        "A man is playing a guitar.",
        "Short.",
        "A considerably longer sentence about a woman slicing onions in a busy kitchen at noon.",
        "",
        "Two dogs play in the snow.",
    ];
    let embed = |budget: usize| {
        let options = minilm::Options::default().threads(2).batch_tokens(budget);
        minilm::Embedder::from_dir(common::model_dir(), &options)
            .unwrap()
            .embed_batch(&texts)
            .unwrap()
    };
    let default = embed(8192);
    for budget in [1, 12, 30] {
        let vectors = embed(budget);
        for (a, b) in vectors.iter().zip(&default) {
            assert!(
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "budget {budget}"
            );
        }
    }
    let zero = minilm::Options::default().batch_tokens(0);
    assert!(minilm::Embedder::from_dir(common::model_dir(), &zero).is_err());
}

/// Called from inside a caller's own rayon pool (and scope), the embedder runs on its private
/// pool without deadlock, with the same results as serial calls.
#[test]
fn embedding_from_inside_a_callers_rayon_pool() {
    let embedder =
        minilm::Embedder::from_dir(common::model_dir(), &minilm::Options::default().threads(2))
            .unwrap();
    let texts = [
        "A man is playing a guitar.",
        "Two dogs play in the snow.",
        "Hi",
        "A bird.",
    ];
    let serial: Vec<Vec<f32>> = texts.iter().map(|t| embedder.embed(t).unwrap()).collect();
    let callers = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let mut results = vec![Vec::new(); texts.len()];
    callers.install(|| {
        rayon::scope(|scope| {
            for (text, slot) in texts.iter().zip(results.iter_mut()) {
                let embedder = &embedder;
                scope.spawn(move |_| *slot = embedder.embed(text).unwrap());
            }
        })
    });
    for (got, want) in results.iter().zip(&serial) {
        assert!(got
            .iter()
            .zip(want)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

/// A caller's buffer of the wrong size is an error, not a panic.
#[test]
fn embedding_into_a_wrong_sized_buffer_is_an_error() {
    let embedder =
        minilm::Embedder::from_dir(common::model_dir(), &minilm::Options::default()).unwrap();
    let mut out = vec![0.0f32; embedder.dim() + 1];
    assert!(embedder.embed_batch_into(&["one"], &mut out).is_err());
    let ids = embedder.token_ids("one").unwrap();
    assert!(embedder.embed_token_ids_into(&[&ids], &mut out).is_err());
    let mut out = vec![0.0f32; embedder.dim()];
    let bad = [0u32, u32::MAX];
    assert!(embedder.embed_token_ids_into(&[&bad], &mut out).is_err());
}
