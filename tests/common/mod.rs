//! Shared helpers for the integration tests: the reference data and the model.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

/// `tests/data/reference.json`, written by `tools/gen_reference.py` from sentence-transformers.
#[derive(Deserialize)]
pub struct Reference {
    pub max_seq_length: usize,
    pub dim: usize,
    pub items: Vec<ReferenceItem>,
    pub hidden_states: Vec<ReferenceHidden>,
}

#[derive(Deserialize)]
pub struct ReferenceItem {
    pub name: String,
    pub text: String,
    pub token_ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

#[derive(Deserialize)]
pub struct ReferenceHidden {
    pub name: String,
    pub text: String,
    pub token_ids: Vec<u32>,
    /// Embedding output, then each layer: `tokens x hidden` each.
    pub layers: Vec<Vec<Vec<f32>>>,
}

pub fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// The default model's directory. Tests that need it fail (never skip) when it is missing.
pub fn model_dir() -> PathBuf {
    minilm::default_model_dir().unwrap_or_else(|e| {
        panic!("{e}\nThe model tests need all-MiniLM-L6-v2: run tools/fetch-model.sh first.")
    })
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Whether two vectors are bit for bit the same.
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A small deterministic generator for test data (xorshift64*), so tests need no `rand`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-scale, scale).
    pub fn uniform(&mut self, scale: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * unit - 1.0) * scale
    }
}

/// A fresh, empty directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("minilm-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One tensor to write into a safetensors file.
pub struct Tensor {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Tensor {
    pub fn f32(name: &str, shape: &[usize], values: &[f32]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), values.len());
        Tensor {
            name: name.to_owned(),
            dtype: "F32",
            shape: shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// Writes tensors in the safetensors format: u64 header length, JSON header, data.
pub fn safetensors_bytes(tensors: &[Tensor]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0;
    for t in tensors {
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.len()]}),
        );
        offset += t.bytes.len();
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    for t in tensors {
        out.extend(&t.bytes);
    }
    out
}

/// Hyper-parameters of the small random BERT the loader tests build.
pub const TINY_HIDDEN: usize = 16;
pub const TINY_HEADS: usize = 4;
pub const TINY_LAYERS: usize = 2;
pub const TINY_INTERMEDIATE: usize = 24;
pub const TINY_POSITIONS: usize = 64;
pub const TINY_VOCAB: usize = 30522;

pub fn tiny_config() -> serde_json::Value {
    serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": TINY_HIDDEN,
        "num_attention_heads": TINY_HEADS,
        "num_hidden_layers": TINY_LAYERS,
        "intermediate_size": TINY_INTERMEDIATE,
        "max_position_embeddings": TINY_POSITIONS,
        "type_vocab_size": 2,
        "vocab_size": TINY_VOCAB,
        "layer_norm_eps": 1e-12
    })
}

/// The sizes of a small random BERT.
#[derive(Clone, Copy)]
pub struct TinyShape {
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub positions: usize,
    pub vocab: usize,
}

/// The sizes the loader tests use.
pub const TINY: TinyShape = TinyShape {
    hidden: TINY_HIDDEN,
    layers: TINY_LAYERS,
    intermediate: TINY_INTERMEDIATE,
    positions: TINY_POSITIONS,
    vocab: TINY_VOCAB,
};

/// The tensors of a small random BERT (names without prefix), deterministic in `seed`.
pub fn tiny_tensors(seed: u64) -> Vec<Tensor> {
    tiny_tensors_of(TINY, seed)
}

/// The tensors of a random BERT of `shape` (names without prefix), deterministic in `seed`.
pub fn tiny_tensors_of(shape: TinyShape, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng::new(seed);
    let (h, i) = (shape.hidden, shape.intermediate);
    let mut random = |name: &str, dims: &[usize], scale: f32| {
        let values: Vec<f32> = (0..dims.iter().product())
            .map(|_| rng.uniform(scale))
            .collect();
        Tensor::f32(name, dims, &values)
    };
    let mut tensors = vec![
        random("embeddings.word_embeddings.weight", &[shape.vocab, h], 1.0),
        random(
            "embeddings.position_embeddings.weight",
            &[shape.positions, h],
            0.5,
        ),
        random("embeddings.token_type_embeddings.weight", &[2, h], 0.5),
    ];
    let mut norm = |name: &str, tensors: &mut Vec<Tensor>| {
        let gamma: Vec<f32> = (0..h).map(|_| 1.0 + rng.uniform(0.2)).collect();
        let beta: Vec<f32> = (0..h).map(|_| rng.uniform(0.2)).collect();
        tensors.push(Tensor::f32(&format!("{name}.weight"), &[h], &gamma));
        tensors.push(Tensor::f32(&format!("{name}.bias"), &[h], &beta));
    };
    norm("embeddings.LayerNorm", &mut tensors);
    let mut rng = Rng::new(seed ^ 0xABCD);
    for layer in 0..shape.layers {
        let p = format!("encoder.layer.{layer}");
        let dense = [
            (format!("{p}.attention.self.query"), h, h),
            (format!("{p}.attention.self.key"), h, h),
            (format!("{p}.attention.self.value"), h, h),
            (format!("{p}.attention.output.dense"), h, h),
            (format!("{p}.intermediate.dense"), i, h),
            (format!("{p}.output.dense"), h, i),
        ];
        for (name, n, k) in dense {
            let scale = 1.0 / (k as f32).sqrt();
            let w: Vec<f32> = (0..n * k).map(|_| rng.uniform(scale)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.uniform(0.1)).collect();
            tensors.push(Tensor::f32(&format!("{name}.weight"), &[n, k], &w));
            tensors.push(Tensor::f32(&format!("{name}.bias"), &[n], &b));
        }
        for name in [
            format!("{p}.attention.output.LayerNorm"),
            format!("{p}.output.LayerNorm"),
        ] {
            let gamma: Vec<f32> = (0..h).map(|_| 1.0 + rng.uniform(0.2)).collect();
            let beta: Vec<f32> = (0..h).map(|_| rng.uniform(0.2)).collect();
            tensors.push(Tensor::f32(&format!("{name}.weight"), &[h], &gamma));
            tensors.push(Tensor::f32(&format!("{name}.bias"), &[h], &beta));
        }
    }
    tensors
}

/// A complete sentence-transformers directory around the small random BERT: the real
/// tokenizer, the given pooling config, and a Normalize module when `normalize`.
pub fn write_tiny_model(
    dir: &std::path::Path,
    tensors: &[Tensor],
    pooling: serde_json::Value,
    normalize: bool,
) {
    let write_json = |path: PathBuf, value: &serde_json::Value| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    };
    write_json(dir.join("config.json"), &tiny_config());
    std::fs::copy(
        model_dir().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .expect("copy tokenizer.json");
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(tensors)).unwrap();
    write_json(
        dir.join("sentence_bert_config.json"),
        &serde_json::json!({"max_seq_length": 48, "do_lower_case": false}),
    );
    let mut pooling_config = serde_json::json!({"word_embedding_dimension": TINY_HIDDEN});
    pooling_config
        .as_object_mut()
        .unwrap()
        .extend(pooling.as_object().unwrap().clone());
    write_json(dir.join("1_Pooling/config.json"), &pooling_config);
    let mut modules = vec![
        serde_json::json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        serde_json::json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if normalize {
        modules.push(serde_json::json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}));
    }
    write_json(dir.join("modules.json"), &serde_json::Value::Array(modules));
}

pub fn mean_pooling() -> serde_json::Value {
    serde_json::json!({"pooling_mode_mean_tokens": true})
}

/// The STS Benchmark dev pairs copied in `tests/data/stsb`: (sentence 1, sentence 2, gold score).
pub fn stsb_dev() -> Vec<(String, String, f64)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/stsb/stsb-en-dev.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let fields = csv_fields(line);
            assert_eq!(
                fields.len(),
                3,
                "{}: malformed line {line:?}",
                path.display()
            );
            let score = fields[2].parse().expect("score");
            (fields[0].clone(), fields[1].clone(), score)
        })
        .collect()
}

/// The fields of one CSV line (RFC 4180 quoting).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// Spearman's rank correlation (ties get their average rank).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut ranks = vec![0.0; v.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
                j += 1;
            }
            let rank = (i + j) as f64 / 2.0 + 1.0;
            for &k in &order[i..=j] {
                ranks[k] = rank;
            }
            i = j + 1;
        }
        ranks
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}
