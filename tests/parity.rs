//! Parity with sentence-transformers: token ids, embeddings and per-layer hidden states against
//! `tests/data/reference.json` (regenerate with `tools/gen_reference.py`).
//!
//! The kernel path is the detected one; `MINILM_ISA` forces another (CI runs each).
#![forbid(unsafe_code)]

mod common;

use std::sync::OnceLock;

use common::{cosine, max_abs_diff, model_dir, reference};
use minilm::{Embedder, Options};

const MIN_COSINE: f64 = 0.99999;
const MAX_ABS_DIFF: f32 = 1e-5;
const MAX_HIDDEN_DIFF: f32 = 1e-4;

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let embedder =
            Embedder::from_dir(model_dir(), &Options::default()).expect("load the default model");
        eprintln!(
            "kernel path: {}, threads: {}",
            embedder.kernel_name(),
            embedder.threads()
        );
        embedder
    })
}

#[test]
fn reference_covers_what_the_suite_promises() {
    let reference = reference();
    assert!(
        reference.items.len() >= 150,
        "only {} reference texts",
        reference.items.len()
    );
    assert_eq!(reference.max_seq_length, 256);
    assert!(reference.items.iter().any(|i| i.text.is_empty()));
    assert!(reference.items.iter().any(|i| i.token_ids.len() == 256));
    assert!(!reference.hidden_states.is_empty());
}

#[test]
fn token_ids_match_sentence_transformers() {
    let embedder = embedder();
    let mut mismatches = Vec::new();
    for item in &reference().items {
        let ids = embedder.token_ids(&item.text).expect("tokenize");
        if ids != item.token_ids {
            mismatches.push(format!(
                "{}: got {:?}\n  want {:?}",
                item.name, ids, item.token_ids
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} texts tokenised differently:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn embeddings_match_sentence_transformers() {
    let embedder = embedder();
    let reference = reference();
    let texts: Vec<&str> = reference.items.iter().map(|i| i.text.as_str()).collect();
    let vectors = embedder.embed_batch(&texts).expect("embed");
    assert_eq!(vectors.len(), texts.len());
    let mut worst_cosine = (1.0f64, "");
    let mut worst_diff = (0.0f32, "");
    let mut failures = Vec::new();
    for (item, got) in reference.items.iter().zip(&vectors) {
        assert_eq!(got.len(), reference.dim, "{}: wrong dimension", item.name);
        let cos = cosine(got, &item.embedding);
        let diff = max_abs_diff(got, &item.embedding);
        if cos < worst_cosine.0 {
            worst_cosine = (cos, &item.name);
        }
        if diff > worst_diff.0 {
            worst_diff = (diff, &item.name);
        }
        if !(cos >= MIN_COSINE && diff <= MAX_ABS_DIFF) {
            failures.push(format!(
                "{}: cosine {cos:.9}, max abs diff {diff:.3e}",
                item.name
            ));
        }
    }
    eprintln!(
        "{} texts: min cosine {:.9} ({}), max abs diff {:.3e} ({})",
        vectors.len(),
        worst_cosine.0,
        worst_cosine.1,
        worst_diff.0,
        worst_diff.1
    );
    assert!(
        failures.is_empty(),
        "outside tolerance:\n{}",
        failures.join("\n")
    );
}

#[test]
fn hidden_states_match_transformers_layer_by_layer() {
    let embedder = embedder();
    for item in &reference().hidden_states {
        assert_eq!(
            embedder.token_ids(&item.text).expect("tokenize"),
            item.token_ids,
            "{}",
            item.name
        );
        let states = embedder.hidden_states(&item.text).expect("hidden states");
        assert_eq!(
            states.len(),
            item.layers.len(),
            "{}: layer count",
            item.name
        );
        for (layer, (got, want)) in states.iter().zip(&item.layers).enumerate() {
            let want: Vec<f32> = want.iter().flatten().copied().collect();
            let diff = max_abs_diff(got, &want);
            eprintln!("{} layer {layer}: max abs diff {diff:.3e}", item.name);
            assert!(
                diff <= MAX_HIDDEN_DIFF,
                "{} layer {layer}: max abs diff {diff:.3e}",
                item.name
            );
        }
    }
}

#[test]
fn embedding_does_not_depend_on_the_batch() {
    let embedder = embedder();
    let items = &reference().items;
    // Short, long and truncated texts side by side, in two batch shapes.
    let picks: Vec<&str> = items.iter().step_by(9).map(|i| i.text.as_str()).collect();
    let together = embedder.embed_batch(&picks).expect("embed batch");
    let small_batches =
        Embedder::from_dir(model_dir(), &Options::default().batch_size(3).threads(1))
            .expect("load");
    let in_threes = small_batches.embed_batch(&picks).expect("embed in threes");
    for (i, text) in picks.iter().enumerate() {
        let alone = embedder.embed(text).expect("embed alone");
        let diff = max_abs_diff(&alone, &together[i]);
        assert!(
            diff <= 1e-6,
            "text {i}: alone vs in a batch of {} differ by {diff:e}",
            picks.len()
        );
        let diff = max_abs_diff(&alone, &in_threes[i]);
        assert!(
            diff <= 1e-6,
            "text {i}: alone vs in batches of 3 on 1 thread differ by {diff:e}"
        );
    }
}

#[test]
fn truncation_keeps_the_first_tokens() {
    let embedder = embedder();
    let long = reference()
        .items
        .iter()
        .find(|i| i.name == "far-over-256")
        .expect("far-over-256 item");
    let ids = embedder.token_ids(&long.text).expect("tokenize");
    assert_eq!(ids.len(), embedder.max_length());
    assert_eq!((ids[0], ids[255]), (101, 102));
    let short = Embedder::from_dir(model_dir(), &Options::default().max_length(16)).expect("load");
    let ids16 = short.token_ids(&long.text).expect("tokenize");
    assert_eq!(ids16.len(), 16);
    assert_eq!(ids16[..15], ids[..15]);
    assert_eq!(ids16[15], 102);
}
