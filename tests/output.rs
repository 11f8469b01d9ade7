//! Output options against sentence-transformers' own `encode(..., normalize_embeddings=,
//! truncate_dim=, precision=)` and `quantize_embeddings` (`tests/data/output_reference.json`,
//! from `tools/gen_output_reference.py`):
//!
//! - float options (normalisation off or on, Matryoshka cuts) within 1e-6 per component
//!   (relative to the vector's length where that is over 1: the un-normalised vectors);
//! - the quantiser, fed sentence-transformers' own floats, gives its bytes bit for bit (int8,
//!   uint8, binary, ubinary; ranges from the call or from calibration vectors);
//! - end to end, our quantised vectors differ from sentence-transformers' only where its float
//!   lies within our float tolerance of a bucket edge (or of 0 for a sign bit);
//! - the query / document prompt convention.
//!
//! The kernel path is the detected one; `MINILM_ISA` forces another.
#![forbid(unsafe_code)]

mod common;

use std::sync::OnceLock;

use common::{model_dir, TempDir};
use minilm::{
    quantize_embeddings, EmbedOptions, Embedder, Embeddings, Options, OutputPrecision, Ranges,
};
use serde::Deserialize;

/// Largest difference per component allowed between our floats and sentence-transformers' (for
/// vectors longer than 1, relative to their length).
const FLOAT_TOLERANCE: f32 = 1e-6;

#[derive(Deserialize)]
struct OutputReference {
    texts: Vec<String>,
    cases: Vec<Case>,
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    prompts: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    model_normalize: bool,
    normalize_embeddings: bool,
    truncate_dim: Option<usize>,
    precision: String,
    float_case: Option<String>,
    ranges: Option<[Vec<f32>; 2]>,
    prompt: Option<String>,
    dim: usize,
    output: Vec<Vec<f64>>,
}

impl Case {
    fn floats(&self) -> Vec<f32> {
        self.output.iter().flatten().map(|&v| v as f32).collect()
    }

    fn ints(&self) -> Vec<i64> {
        self.output
            .iter()
            .flatten()
            .map(|&v| {
                assert_eq!(v.fract(), 0.0, "{}: not an integer", self.name);
                v as i64
            })
            .collect()
    }

    fn precision(&self) -> OutputPrecision {
        self.precision.parse().unwrap()
    }

    /// The call options that ask for what this case computed.
    fn options(&self) -> EmbedOptions {
        let mut options = EmbedOptions::new().precision(self.precision());
        if let Some(dim) = self.truncate_dim {
            options = options.truncate_dim(dim);
        }
        match (self.model_normalize, self.normalize_embeddings) {
            // The model without its Normalize module.
            (false, false) => options.normalize(false),
            (_, true) => options.normalize(true),
            (true, false) => options,
        }
    }
}

fn output_reference() -> &'static OutputReference {
    static REFERENCE: OnceLock<OutputReference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/output_reference.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

fn case(name: &str) -> &'static Case {
    output_reference()
        .cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| Embedder::from_dir(model_dir(), &Options::default()).unwrap())
}

/// The quantised values as i64, whatever their type.
fn values(embeddings: &Embeddings) -> Vec<i64> {
    match embeddings {
        Embeddings::Int8 { values, .. } | Embeddings::Binary { values, .. } => {
            values.iter().map(|&v| i64::from(v)).collect()
        }
        Embeddings::Uint8 { values, .. } | Embeddings::Ubinary { values, .. } => {
            values.iter().map(|&v| i64::from(v)).collect()
        }
        other => panic!("{} output where bytes were expected", other.precision()),
    }
}

fn float_values(embeddings: &Embeddings) -> &[f32] {
    match embeddings {
        Embeddings::Float32 { values, .. } => values,
        _ => panic!("bytes where floats were expected"),
    }
}

#[test]
fn float_options_match_sentence_transformers() {
    let reference = output_reference();
    let mut checked = 0;
    for case in reference.cases.iter().filter(|c| c.precision == "float32") {
        if case.prompt.is_some() {
            continue;
        }
        let (ours, _) = embedder()
            .encode(&reference.texts, &case.options())
            .unwrap();
        assert_eq!(ours.dim(), case.dim, "{}", case.name);
        let theirs = case.floats();
        let ours = float_values(&ours);
        assert_eq!(ours.len(), theirs.len(), "{}", case.name);
        // Per component, relative to the vector's length when that is over 1 (the
        // un-normalised vectors are several units long).
        let mut worst = 0f32;
        for (a, b) in ours
            .chunks_exact(case.dim)
            .zip(theirs.chunks_exact(case.dim))
        {
            let scale = b.iter().map(|x| x * x).sum::<f32>().sqrt().max(1.0);
            let row_worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            worst = worst.max(row_worst / scale);
        }
        println!(
            "{:<28} max |ours - sentence-transformers| / max(1, |v|) = {worst:.2e}",
            case.name
        );
        assert!(worst <= FLOAT_TOLERANCE, "{}: {worst:e}", case.name);
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn cuts_are_prefixes_and_normalising_is_after_the_cut() {
    let texts = &output_reference().texts;
    let full = embedder().embed_batch(texts).unwrap();
    let cut = embedder()
        .embed_batch_with(texts, &EmbedOptions::new().truncate_dim(100))
        .unwrap();
    let unit = embedder()
        .embed_batch_with(
            texts,
            &EmbedOptions::new().truncate_dim(100).normalize(true),
        )
        .unwrap();
    for ((full, cut), unit) in full.iter().zip(&cut).zip(&unit) {
        assert_eq!(
            cut[..],
            full[..100],
            "a cut is the first dimensions, bit for bit"
        );
        let norm = cut.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (u, c) in unit.iter().zip(cut) {
                assert!((u - c / norm).abs() < 1e-6);
            }
        }
    }
    // normalize(true) on a model that normalises anyway, without a cut, changes nothing.
    let again = embedder()
        .embed_batch_with(texts, &EmbedOptions::new().normalize(true))
        .unwrap();
    assert_eq!(again, full);
    // Out-of-range cuts are errors, not panics.
    for bad in [0, 385, usize::MAX] {
        let options = EmbedOptions::new().truncate_dim(bad);
        assert!(
            embedder().embed_batch_with(texts, &options).is_err(),
            "{bad}"
        );
    }
}

/// The quantiser is sentence-transformers' to the bit: fed its floats, it gives its bytes.
#[test]
fn quantiser_matches_sentence_transformers_bit_for_bit() {
    let reference = output_reference();
    let mut checked = 0;
    for case in reference.cases.iter().filter(|c| c.precision != "float32") {
        let floats = case.float_case.as_deref().map(case_floats).unwrap();
        let ranges = case
            .ranges
            .as_ref()
            .map(|[min, max]| Ranges::new(min.clone(), max.clone()).unwrap());
        let ours = quantize_embeddings(&floats, case.dim, case.precision(), ranges.as_ref())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(ours.row_len(), case.output[0].len(), "{}", case.name);
        assert_eq!(ours.len(), case.output.len(), "{}", case.name);
        assert_eq!(values(&ours), case.ints(), "{}", case.name);
        checked += 1;
    }
    assert_eq!(checked, 10);
}

fn case_floats(name: &str) -> Vec<f32> {
    case(name).floats()
}

/// End to end: our floats differ from sentence-transformers' by up to [`FLOAT_TOLERANCE`], so a
/// value may fall in the neighbouring bucket only where theirs lies that close to an edge.
#[test]
fn quantised_encode_matches_sentence_transformers() {
    let reference = output_reference();
    let mut checked = 0;
    for quantised in reference.cases.iter().filter(|c| c.precision != "float32") {
        let case = quantised;
        let float_case = self::case(case.float_case.as_deref().unwrap());
        let mut options = float_case.options().precision(case.precision());
        if let Some([min, max]) = &case.ranges {
            options = options.ranges(Ranges::new(min.clone(), max.clone()).unwrap());
        }
        let (ours, _) = embedder().encode(&reference.texts, &options).unwrap();
        let (ours, theirs) = (values(&ours), case.ints());
        assert_eq!(ours.len(), theirs.len(), "{}", case.name);
        let floats = float_case.floats();
        let dim = case.dim;
        let row_len = ours.len() / reference.texts.len();
        let mut differing = 0;
        for (i, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
            if a == b {
                continue;
            }
            differing += 1;
            let (row, col) = (i / row_len, i % row_len);
            match case.precision() {
                OutputPrecision::Binary | OutputPrecision::Ubinary => {
                    // Every differing bit is a component within the tolerance of 0.
                    for bit in 0..8 {
                        let mask = 0x80 >> bit;
                        let d = col * 8 + bit;
                        if (a ^ b) & mask != 0 {
                            let x = floats[row * dim + d];
                            assert!(x.abs() <= FLOAT_TOLERANCE, "{}: bit {d} of {x}", case.name);
                        }
                    }
                }
                _ => {
                    assert_eq!((a - b).abs(), 1, "{}: value {i}: {a} vs {b}", case.name);
                    // Their float is near the edge between the two buckets.
                    let ranges = match &case.ranges {
                        Some([min, max]) => (min[col], max[col]),
                        None => {
                            let column = floats.iter().skip(col).step_by(dim);
                            let min = column.clone().fold(f32::INFINITY, |m, &x| m.min(x));
                            (min, column.fold(f32::NEG_INFINITY, |m, &x| m.max(x)))
                        }
                    };
                    let step = (ranges.1 - ranges.0) / 255.0;
                    let x = floats[row * dim + col];
                    let edge = ranges.0
                        + step * (a.max(b) + i64::from(case.precision == "int8") * 128) as f32;
                    assert!(
                        (x - edge).abs() <= 4.0 * FLOAT_TOLERANCE,
                        "{}: value {i} = {x}, edge {edge}",
                        case.name
                    );
                }
            }
        }
        println!(
            "{:<22} {differing} of {} values differ (at bucket edges)",
            case.name,
            ours.len()
        );
        checked += 1;
    }
    assert_eq!(checked, 10);
}

#[test]
fn one_vector_cannot_set_its_own_ranges() {
    let options = EmbedOptions::new().precision(OutputPrecision::Int8);
    assert!(embedder().encode(&["alone"], &options).is_err());
    // With calibration ranges it can, and its bytes do not depend on the call.
    let texts = &output_reference().texts;
    let calibration = embedder().embed_batch(texts).unwrap().concat();
    let ranges = Ranges::from_embeddings(&calibration, embedder().dim()).unwrap();
    let options = options.ranges(ranges);
    let (alone, _) = embedder().encode(&[texts[3].as_str()], &options).unwrap();
    let (together, _) = embedder().encode(texts, &options).unwrap();
    let row = alone.row_len();
    assert_eq!(values(&alone), values(&together)[3 * row..4 * row]);
    // Quantised output is refused where only floats can be written.
    let mut out = vec![0.0; embedder().dim()];
    assert!(embedder()
        .embed_batch_with_into(&["x"], &options, &mut out)
        .is_err());
}

/// A copy of the model directory (links to its files) with a `prompts` block in
/// `config_sentence_transformers.json`.
fn model_with_prompts(prompts: &std::collections::BTreeMap<String, String>) -> TempDir {
    model_with_prompt_config(serde_json::json!({ "prompts": prompts, "default_prompt_name": null }))
}

/// A copy of the model directory (links to its files) with this
/// `config_sentence_transformers.json`.
fn model_with_prompt_config(config: serde_json::Value) -> TempDir {
    let dir = TempDir::new("prompts");
    for entry in std::fs::read_dir(model_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name != "config_sentence_transformers.json" {
            std::os::unix::fs::symlink(&path, dir.path().join(name)).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("config_sentence_transformers.json"),
        config.to_string(),
    )
    .unwrap();
    dir
}

#[test]
fn query_and_document_prompts_match_sentence_transformers() {
    let reference = output_reference();
    let texts = &reference.texts[..4];
    for (name, options) in [
        ("query_prompt", EmbedOptions::new().query()),
        ("document_prompt", EmbedOptions::new().document()),
    ] {
        let case = case(name);
        let dir = model_with_prompts(&reference.meta.prompts[name]);
        let embedder = Embedder::from_dir(dir.path(), &Options::default()).unwrap();
        let ours = embedder.embed_batch_with(texts, &options).unwrap().concat();
        let worst = ours
            .iter()
            .zip(case.floats())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= FLOAT_TOLERANCE, "{name}: {worst:e}");
        // The same as putting the prompt in front by hand.
        let prompt = case.prompt.as_deref().unwrap();
        let by_hand = embedder
            .embed_batch_with_prompt(prompt, texts)
            .unwrap()
            .concat();
        assert_eq!(ours, by_hand, "{name}");
    }
    // A model with `passage` but no `document` prompt: documents get `passage`, as
    // sentence-transformers' encode_document documents (6.2 itself adds nothing here, since it
    // gives every model an empty `document` prompt; see the README).
    let prompts = &reference.meta.prompts["document_prompt_passage_only"];
    let dir = model_with_prompts(prompts);
    let embedder = Embedder::from_dir(dir.path(), &Options::default()).unwrap();
    assert_eq!(embedder.document_prompt(), Some("passage: "));
    assert_eq!(
        embedder.embed_document(&texts[0]).unwrap(),
        embedder.embed_with_prompt("passage: ", &texts[0]).unwrap()
    );
    // A named prompt the model lacks is an error naming the ones it has.
    let error = embedder
        .embed_batch_with(texts, &EmbedOptions::new().prompt_name("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("passage") && error.contains("query"),
        "{error}"
    );
}

#[test]
fn a_call_long_text_mode_is_checked_and_applied() {
    use minilm::LongText;
    let long = "word ".repeat(600);
    let bad = EmbedOptions::new().long_text(LongText::Chunk { overlap: 254 });
    assert!(
        embedder().embed_with(&long, &bad).is_err(),
        "overlap >= window is an error"
    );
    let strict = EmbedOptions::new().long_text(LongText::Error);
    assert!(embedder().embed_with(&long, &strict).is_err());
    let chunked = EmbedOptions::new().long_text(LongText::Chunk { overlap: 32 });
    let mut out = vec![0.0; embedder().dim()];
    let report = embedder()
        .embed_batch_with_into(&[long.as_str()], &chunked, &mut out)
        .unwrap();
    assert_eq!((report.chunked, report.truncated), (1, 0));
    assert_ne!(out, embedder().embed(&long).unwrap());
}
