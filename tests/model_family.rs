//! The BERT-family models besides all-MiniLM-L6-v2 (all-MiniLM-L12-v2, paraphrase-MiniLM-L3-v2,
//! bge-small-en-v1.5, e5-small-v2) against sentence-transformers.
//!
//! Their files are not reachable from the build machine, so each is a stand-in of its exact
//! shape and sentence-transformers configuration with deterministic pseudo-random weights:
//! `tools/gen_family_models.py` wrote the configuration and the reference vectors
//! (`tests/data/models/<name>/`), and this test writes the same weights again (every value is a
//! function of the tensor's name and the element's index) with all-MiniLM-L6-v2's tokenizer
//! (the same bert-base-uncased vocabulary), then compares token ids and embeddings.
#![forbid(unsafe_code)]

mod common;

use std::path::{Path, PathBuf};

use common::{cosine, max_abs_diff, model_dir, safetensors_bytes, same_bits, TempDir, Tensor};
use minilm::{Embedder, Error, Options};
use serde::Deserialize;

#[derive(Deserialize)]
struct FamilyReference {
    max_seq_length: usize,
    dim: usize,
    pooling: String,
    normalize: bool,
    items: Vec<FamilyItem>,
}

#[derive(Deserialize)]
struct FamilyItem {
    text: String,
    prompt_name: Option<String>,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn config_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/models")
        .join(name)
}

fn reference(name: &str) -> FamilyReference {
    let path = config_dir(name).join("reference.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `tools/gen_family_models.py`'s `weights`: element i of tensor `name` is
/// splitmix64(fnv1a64(name) + (i + 1) * golden) cut to 24 bits, scaled by the tensor's kind.
fn weights(name: &str, shape: &[usize]) -> Vec<f32> {
    let seed = name.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    let (offset, scale) = if name.ends_with("LayerNorm.weight") {
        (1.0, 0.25)
    } else if name.ends_with("LayerNorm.bias") {
        (0.0, 0.25)
    } else if name.contains("embeddings") {
        (0.0, 1.0)
    } else if name.ends_with(".bias") || shape[shape.len() - 1] < 1024 {
        // Biases, and dense weights with fewer than 1024 inputs.
        (0.0, 0.125)
    } else {
        (0.0, 0.0625)
    };
    let count: usize = shape.iter().product();
    (1..=count as u64)
        .map(|i| {
            let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let unit = (z >> 40) as f32 * (1.0 / (1u32 << 24) as f32);
            offset + (unit - 0.5) * scale
        })
        .collect()
}

/// Every tensor the encoder reads, named as transformers' `BertModel` saves them.
fn bert_tensors(config: &serde_json::Value) -> Vec<Tensor> {
    let size = |key: &str| config[key].as_u64().expect(key) as usize;
    let (h, i) = (size("hidden_size"), size("intermediate_size"));
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![size("vocab_size"), h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![size("max_position_embeddings"), h],
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![size("type_vocab_size"), h],
        ),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for layer in 0..size("num_hidden_layers") {
        let p = format!("encoder.layer.{layer}");
        for (module, out, inp) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", i, h),
            ("output.dense", h, i),
        ] {
            shapes.push((format!("{p}.{module}.weight"), vec![out, inp]));
            shapes.push((format!("{p}.{module}.bias"), vec![out]));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            shapes.push((format!("{p}.{norm}.weight"), vec![h]));
            shapes.push((format!("{p}.{norm}.bias"), vec![h]));
        }
    }
    shapes
        .iter()
        .map(|(name, shape)| Tensor::f32(name, shape, &weights(name, shape)))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "reference.json" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The stand-in model `name` as a loadable directory: its committed configuration,
/// all-MiniLM-L6-v2's tokenizer, and the generated weights.
fn assemble(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    copy_dir(&config_dir(name), dir.path());
    std::fs::copy(
        model_dir().join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors_bytes(&bert_tensors(&config)),
    )
    .unwrap();
    dir
}

fn prompt_of<'a>(embedder: &'a Embedder, item: &FamilyItem) -> &'a str {
    match &item.prompt_name {
        Some(name) => embedder
            .prompt(name)
            .unwrap_or_else(|| panic!("the model has no prompt {name:?}")),
        None => "",
    }
}

/// Loads the stand-in and checks its configuration, token ids and embeddings (cosine >=
/// 0.99999 and 2e-5 per component of a unit vector, or relative to the norm), alone and in
/// one batch.
fn matches_sentence_transformers(name: &str) {
    let reference = reference(name);
    let dir = assemble(name);
    let embedder = Embedder::from_dir(dir.path(), &Options::default().batch_size(4)).unwrap();
    assert_eq!(embedder.dim(), reference.dim, "{name}: dim");
    assert_eq!(
        embedder.max_length(),
        reference.max_seq_length,
        "{name}: max length"
    );
    assert_eq!(embedder.normalizes(), reference.normalize, "{name}");
    assert_eq!(
        (embedder.pooling().cls, embedder.pooling().mean),
        (reference.pooling == "cls", reference.pooling == "mean"),
        "{name}: pooling"
    );
    let (mut min_cos, mut worst) = (1.0_f64, 0.0_f32);
    for item in &reference.items {
        let prompt = prompt_of(&embedder, item);
        let label = format!("{name}, {:?} + {:?}", item.prompt_name, item.text);
        assert_eq!(
            embedder
                .token_ids(&format!("{prompt}{}", item.text))
                .unwrap(),
            item.token_ids,
            "{label}: token ids"
        );
        let ours = embedder.embed_with_prompt(prompt, &item.text).unwrap();
        let cos = cosine(&ours, &item.embedding);
        let norm = item.embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        let diff = max_abs_diff(&ours, &item.embedding) / norm;
        assert!(
            cos >= 0.99999 && diff <= 2e-5,
            "{label}: cosine {cos}, max diff {diff} (relative to the norm)"
        );
        min_cos = min_cos.min(cos);
        worst = worst.max(diff);
    }
    // The same texts in batches (one prompt per call) give the same bits as alone.
    for prompt_name in [None, Some("query"), Some("passage")] {
        let items: Vec<&FamilyItem> = reference
            .items
            .iter()
            .filter(|item| item.prompt_name.as_deref() == prompt_name)
            .collect();
        let Some(first) = items.first() else { continue };
        let prompt = prompt_of(&embedder, first);
        let texts: Vec<&str> = items.iter().map(|item| item.text.as_str()).collect();
        let batch = embedder.embed_batch_with_prompt(prompt, &texts).unwrap();
        for (item, vector) in items.iter().zip(&batch) {
            let alone = embedder.embed_with_prompt(prompt, &item.text).unwrap();
            assert!(
                same_bits(&alone, vector),
                "{name}: {:?} in a batch",
                item.text
            );
        }
    }
    println!(
        "{name}: {} texts, min cosine {min_cos:.9}, max abs diff {worst:.2e} ({})",
        reference.items.len(),
        embedder.kernel_name()
    );
}

#[test]
fn all_minilm_l12_v2() {
    matches_sentence_transformers("all-MiniLM-L12-v2");
}

#[test]
fn paraphrase_minilm_l3_v2() {
    matches_sentence_transformers("paraphrase-MiniLM-L3-v2");
}

#[test]
fn bge_small_en_v1_5() {
    matches_sentence_transformers("bge-small-en-v1.5");
}

#[test]
fn e5_small_v2() {
    matches_sentence_transformers("e5-small-v2");
}

/// A `default_prompt_name` puts its prompt in front of every text `embed` sees, as
/// sentence-transformers' `encode` does: e5 with "query" as default embeds a bare text like its
/// reference with `prompt_name="query"`.
#[test]
fn default_prompt_applies_to_plain_embed() {
    let reference = reference("e5-small-v2");
    let dir = assemble("e5-small-v2");
    let config = dir.path().join("config_sentence_transformers.json");
    let mut st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    st["default_prompt_name"] = "query".into();
    std::fs::write(&config, serde_json::to_vec(&st).unwrap()).unwrap();
    let embedder = Embedder::from_dir(dir.path(), &Options::default()).unwrap();
    assert_eq!(embedder.default_prompt(), Some("query: "));
    let queries: Vec<&FamilyItem> = reference
        .items
        .iter()
        .filter(|item| item.prompt_name.as_deref() == Some("query"))
        .collect();
    assert!(!queries.is_empty());
    for item in queries {
        let plain = embedder.embed(&item.text).unwrap();
        assert!(
            cosine(&plain, &item.embedding) >= 0.99999,
            "{:?}",
            item.text
        );
        let batch = embedder.embed_batch(&[item.text.as_str()]).unwrap();
        assert!(same_bits(&plain, &batch[0]));
        assert!(same_bits(
            &plain,
            &embedder.embed_with_prompt("query: ", &item.text).unwrap()
        ));
    }
}

/// Prompt settings this version cannot honour are errors naming the file, not silently
/// different vectors.
#[test]
fn unsupported_prompt_settings_are_errors() {
    let dir = assemble("e5-small-v2");
    let config = dir.path().join("config_sentence_transformers.json");
    std::fs::write(
        &config,
        r#"{"prompts": {"query": "query: "}, "default_prompt_name": "passage"}"#,
    )
    .unwrap();
    match Embedder::from_dir(dir.path(), &Options::default()) {
        Err(Error::Unsupported { path, message }) => {
            assert_eq!(path, config);
            assert!(message.contains("passage"), "{message}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    std::fs::write(&config, r#"{"prompts": {"query": "query: "}}"#).unwrap();
    let pooling = dir.path().join("1_Pooling/config.json");
    std::fs::write(
        &pooling,
        r#"{"pooling_mode_mean_tokens": true, "include_prompt": false}"#,
    )
    .unwrap();
    match Embedder::from_dir(dir.path(), &Options::default()) {
        Err(Error::Unsupported { path, message }) => {
            assert_eq!(path, pooling);
            assert!(message.contains("include_prompt"), "{message}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}
