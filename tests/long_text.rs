//! Long texts: chunked vectors against sentence-transformers (`tests/data/long_text_reference.json`,
//! from `tools/gen_long_text_reference.py`), truncation unchanged bit for bit, the error mode,
//! the token-count API, and inputs of 100 MB and 3 million words at bounded cost.
//!
//! The kernel path is the detected one; `MINILM_ISA` forces another (CI runs each).
#![forbid(unsafe_code)]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{cosine, model_dir, reference, same_bits};
use minilm::{Embedder, Error, LongText, Options};
use serde::Deserialize;

const MIN_COSINE: f64 = 0.99999;

#[derive(Deserialize)]
struct LongReference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    text: String,
    max_length: usize,
    overlap: usize,
    max_chunks: usize,
    word_pieces: usize,
    windows: Vec<(usize, usize)>,
    embedding: Vec<f32>,
}

fn long_reference() -> &'static LongReference {
    static REFERENCE: OnceLock<LongReference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/long_text_reference.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

fn load(options: Options) -> Embedder {
    Embedder::from_dir(model_dir(), &options).expect("load the default model")
}

fn default_embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| load(Options::default()))
}

fn embed_one(embedder: &Embedder, text: &str) -> (Vec<f32>, minilm::LongTextReport) {
    let mut out = vec![0.0f32; embedder.dim()];
    let report = embedder.embed_batch_into(&[text], &mut out).expect("embed");
    (out, report)
}

#[test]
fn reference_covers_the_cases_the_issue_names() {
    let cases = &long_reference().cases;
    let width = |case: &Case| case.max_length - 2;
    assert!(cases.iter().any(|c| c.word_pieces == width(c)));
    assert!(cases.iter().any(|c| c.word_pieces == width(c) + 1));
    assert!(cases
        .iter()
        .any(|c| c.word_pieces == 10 * width(c) && c.overlap == 0));
    assert!(cases
        .iter()
        .any(|c| c.windows.len() == c.max_chunks && c.windows.last().unwrap().1 < c.word_pieces));
}

#[test]
fn chunked_vectors_match_sentence_transformers() {
    let mut failures = Vec::new();
    for case in &long_reference().cases {
        let options = Options::default()
            .max_length(case.max_length)
            .max_chunks(case.max_chunks)
            .long_text(LongText::Chunk {
                overlap: case.overlap,
            });
        let embedder = load(options);
        assert_eq!(
            embedder.token_count(&case.text).unwrap(),
            case.word_pieces + 2,
            "{}",
            case.name
        );
        let (vector, report) = embed_one(&embedder, &case.text);
        let cos = cosine(&vector, &case.embedding);
        let cut = case.windows.last().unwrap().1 < case.word_pieces;
        eprintln!(
            "{}: {} pieces, {} windows, cosine {cos:.7}",
            case.name, case.word_pieces, report.windows
        );
        if cos < MIN_COSINE
            || report.windows != case.windows.len()
            || report.truncated != usize::from(cut)
            || report.chunked != usize::from(case.windows.len() > 1)
        {
            failures.push(format!("{}: cosine {cos}, {report:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn truncation_is_bit_identical_to_embedding_the_reference_ids() {
    // Every reference text embeds exactly as its sentence-transformers token ids do: the
    // bounded tokenisation changes no id, so no vector.
    let embedder = default_embedder();
    let chunker = load(Options::default().long_text(LongText::Chunk { overlap: 32 }));
    let dim = embedder.dim();
    let mut out = vec![0.0f32; dim];
    for item in &reference().items {
        embedder
            .embed_token_ids_into(&[&item.token_ids], &mut out)
            .unwrap();
        let (vector, report) = embed_one(embedder, &item.text);
        assert!(same_bits(&vector, &out), "{}", item.name);
        let pieces = embedder.token_count(&item.text).unwrap();
        assert_eq!(report.truncated, usize::from(pieces > 256), "{}", item.name);
        // Chunk mode changes nothing for a text that fits.
        if pieces <= 256 {
            assert!(
                same_bits(&embed_one(&chunker, &item.text).0, &out),
                "{}",
                item.name
            );
        }
    }
}

#[test]
fn a_chunked_text_does_not_depend_on_its_batch() {
    let embedder = load(
        Options::default()
            .max_length(32)
            .batch_tokens(100)
            .long_text(LongText::Chunk { overlap: 5 }),
    );
    let long = long_reference().cases[3].text.as_str();
    let texts = ["short one", long, "another short text", &long[..2000], ""];
    let batch = embedder.embed_batch(&texts).unwrap();
    for (text, vector) in texts.iter().zip(&batch) {
        assert!(
            same_bits(vector, &embedder.embed(text).unwrap()),
            "{text:.40}"
        );
    }
}

#[test]
fn error_mode_names_the_text_and_its_length() {
    let embedder = load(Options::default().long_text(LongText::Error));
    let long = "word ".repeat(300);
    let texts = ["fits", "also fits", long.as_str()];
    match embedder.embed_batch(&texts) {
        Err(Error::TextTooLong {
            index: 2,
            tokens: 302,
            exact: true,
            max_length: 256,
        }) => {}
        other => panic!("expected TextTooLong for text 2, got {other:?}"),
    }
    let message = embedder.embed(&long).unwrap_err().to_string();
    assert!(message.contains("text 0 is 302 tokens long"), "{message}");
    // Exactly at the limit is fine.
    assert!(embedder.embed(&"word ".repeat(254)).is_ok());
    // Far over, the count is a lower bound.
    let huge = "word ".repeat(1_000_000);
    match embedder.embed(&huge) {
        Err(Error::TextTooLong {
            exact: false,
            tokens,
            ..
        }) => assert!(tokens > 10_000),
        other => panic!("expected an inexact TextTooLong, got {other:?}"),
    }
}

#[test]
fn token_count_and_word_pieces_are_not_truncated() {
    let embedder = default_embedder();
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(200);
    let pieces = embedder.word_pieces(&text).unwrap();
    assert_eq!(pieces.len(), 2000);
    assert_eq!(embedder.token_count(&text).unwrap(), 2002);
    let ids = embedder.token_ids(&text).unwrap();
    assert_eq!(ids.len(), 256);
    assert_eq!(&ids[1..255], &pieces[..254]);
    // Two equal windows average to the vector of one.
    let chunker = load(Options::default().long_text(LongText::Chunk { overlap: 0 }));
    let (twice, report) = embed_one(&chunker, &"word ".repeat(2 * 254));
    assert_eq!(
        (report.windows, report.chunked, report.truncated),
        (2, 1, 0)
    );
    let once = embedder.embed(&"word ".repeat(254)).unwrap();
    assert!(cosine(&twice, &once) > 0.999999);
}

#[test]
fn giant_inputs_cost_what_their_first_pieces_cost() {
    let embedder = default_embedder();
    let sentence = "A man is playing a guitar on the stage while the crowd sings along. ";
    // 100 MB on one line, and 3 million words.
    let one_line = sentence.repeat(100_000_000 / sentence.len());
    let words: String = (0..3_000_000)
        .map(|i| ["alpha ", "beta ", "gamma "][i % 3])
        .collect();
    for text in [&one_line, &words] {
        let start = std::time::Instant::now();
        let (vector, report) = embed_one(embedder, text);
        let head = &text[..5000];
        assert!(same_bits(&vector, &embed_one(embedder, head).0));
        assert_eq!(report.truncated, 1);
        eprintln!("{} MB: {:?}", text.len() >> 20, start.elapsed());
    }
    // Pathological runs: one 100 MB word, and emoji with no space.
    let word = format!("start {} end", "a".repeat(100 << 20));
    assert_eq!(
        embedder.token_ids(&word).unwrap(),
        [101, 2707, 100, 2203, 102]
    );
    let emoji = "😀".repeat(25 << 20);
    assert_eq!(embedder.token_ids(&emoji).unwrap(), [101, 100, 102]);
    // Chunk mode stops at its window limit.
    let chunker = load(Options::default().long_text(LongText::Chunk { overlap: 32 }));
    let (_, report) = embed_one(&chunker, &one_line);
    assert_eq!(
        (report.windows, report.truncated),
        (minilm::DEFAULT_MAX_CHUNKS, 1)
    );
}
