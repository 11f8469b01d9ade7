//! Loading model directories: every way a directory can be broken gives an error that names the
//! file or tensor at fault (never a panic), and every supported variant (F16/BF16 weights, the
//! `bert.` prefix, old LayerNorm names, each pooling mode) loads and computes the right thing.
//!
//! Most cases use a small random BERT written here, with the real all-MiniLM-L6-v2 tokenizer.
#![forbid(unsafe_code)]

mod common;

use common::*;
use minilm::{Embedder, Error, Options};

const TEXT: &str = "A small model is enough to test the loader.";

fn load(dir: &std::path::Path) -> Result<Embedder, Error> {
    Embedder::from_dir(dir, &Options::default().threads(1))
}

fn tiny_dir(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    write_tiny_model(dir.path(), &tiny_tensors(7), mean_pooling(), true);
    dir
}

fn expect_err(dir: &std::path::Path) -> String {
    match load(dir) {
        Ok(_) => panic!("{} loaded, but it is broken", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn tiny_model_loads_and_embeds() {
    let dir = tiny_dir("ok");
    let embedder = load(dir.path()).expect("load");
    let v = embedder.embed(TEXT).expect("embed");
    assert_eq!(v.len(), TINY_HIDDEN);
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    assert_eq!(
        embedder.max_length(),
        48,
        "max_seq_length from sentence_bert_config.json"
    );
}

#[test]
fn missing_files_are_named() {
    for file in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "1_Pooling/config.json",
    ] {
        let dir = tiny_dir("missing");
        std::fs::remove_file(dir.path().join(file)).unwrap();
        let message = expect_err(dir.path());
        assert!(
            message.contains("missing model file") && message.contains(file),
            "{file}: {message}"
        );
    }
    let message = expect_err(std::path::Path::new("/definitely/not/a/model"));
    assert!(message.contains("/definitely/not/a/model"), "{message}");
}

#[test]
fn truncated_or_corrupt_safetensors_is_reported() {
    let full = safetensors_bytes(&tiny_tensors(7));
    let header_len = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let mut lying_header = full.clone();
    lying_header[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    let mut garbage_header = full.clone();
    garbage_header[8..8 + header_len].fill(b'#');
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", Vec::new()),
        ("four bytes", full[..4].to_vec()),
        ("header cut", full[..8 + header_len / 2].to_vec()),
        ("data cut", full[..full.len() - 100].to_vec()),
        ("header length beyond the file", lying_header),
        ("header not JSON", garbage_header),
    ];
    for (case, bytes) in cases {
        let dir = tiny_dir("corrupt");
        std::fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
        let message = expect_err(dir.path());
        assert!(
            message.contains("model.safetensors")
                && message.contains("not a valid safetensors file"),
            "{case}: {message}"
        );
    }
}

/// The load error of the small model after `edit` changes its tensors.
fn error_after_editing_tensors(edit: impl FnOnce(&mut Vec<Tensor>)) -> String {
    let dir = tiny_dir("tensors");
    let mut tensors = tiny_tensors(7);
    edit(&mut tensors);
    std::fs::write(
        dir.path().join("model.safetensors"),
        safetensors_bytes(&tensors),
    )
    .unwrap();
    expect_err(dir.path())
}

fn tensor<'a>(tensors: &'a mut [Tensor], name: &str) -> &'a mut Tensor {
    tensors.iter_mut().find(|t| t.name == name).unwrap()
}

#[test]
fn missing_tensor_is_named() {
    let name = "encoder.layer.1.intermediate.dense.bias";
    let message = error_after_editing_tensors(|tensors| tensors.retain(|t| t.name != name));
    assert!(
        message.contains(&format!("missing tensor {name}")),
        "{message}"
    );
}

#[test]
fn wrong_tensor_shape_is_named() {
    let name = "encoder.layer.0.attention.self.key.weight";
    let message = error_after_editing_tensors(|tensors| {
        tensor(tensors, name).shape = vec![TINY_HIDDEN / 2, TINY_HIDDEN * 2];
    });
    assert!(
        message.contains(name) && message.contains("shape"),
        "{message}"
    );
}

#[test]
fn unsupported_dtype_is_named() {
    let name = "encoder.layer.0.output.dense.bias";
    // Same byte length as the F32 data, so only the dtype is wrong.
    let message = error_after_editing_tensors(|tensors| tensor(tensors, name).dtype = "I32");
    assert!(
        message.contains(name) && message.contains("I32"),
        "{message}"
    );
}

#[test]
fn non_bert_and_malformed_configs_are_rejected() {
    let cases = [
        (
            serde_json::json!({"model_type": "gpt2", "architectures": ["GPT2Model"]}),
            "gpt2",
        ),
        (serde_json::json!({"hidden_act": "relu"}), "relu"),
        (serde_json::json!({"num_attention_heads": 5}), "multiple"),
        (
            serde_json::json!({"hidden_size": 1u64 << 40}),
            "hidden_size",
        ),
        (
            serde_json::json!({"position_embedding_type": "relative_key"}),
            "relative_key",
        ),
    ];
    for (patch, needle) in cases {
        let dir = tiny_dir("config");
        let mut config = tiny_config();
        config
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
        let message = expect_err(dir.path());
        assert!(
            message.contains("config.json") && message.contains(needle),
            "{needle}: {message}"
        );
    }
    let dir = tiny_dir("config-json");
    std::fs::write(dir.path().join("config.json"), b"{\"hidden_size\": 16,").unwrap();
    let message = expect_err(dir.path());
    assert!(message.contains("config.json"), "{message}");
    let dir = tiny_dir("config-field");
    let mut config = tiny_config();
    config.as_object_mut().unwrap().remove("num_hidden_layers");
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let message = expect_err(dir.path());
    assert!(
        message.contains("config.json") && message.contains("num_hidden_layers"),
        "{message}"
    );
}

#[test]
fn broken_tokenizer_and_modules_are_named() {
    let dir = tiny_dir("tokenizer");
    std::fs::write(
        dir.path().join("tokenizer.json"),
        b"{\"not\": \"a tokenizer\"}",
    )
    .unwrap();
    let message = expect_err(dir.path());
    assert!(message.contains("tokenizer.json"), "{message}");

    let dir = tiny_dir("modules");
    let modules = serde_json::json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    ]);
    std::fs::write(
        dir.path().join("modules.json"),
        serde_json::to_vec(&modules).unwrap(),
    )
    .unwrap();
    let message = expect_err(dir.path());
    assert!(
        message.contains("modules.json") && message.contains("Dense"),
        "{message}"
    );

    let transformer = serde_json::json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"});
    let pooling = serde_json::json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"});
    let normalize = serde_json::json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"});
    let mut nested = transformer.clone();
    nested["path"] = "0_Transformer".into();
    let wrong_orders = [
        serde_json::json!([transformer, normalize, pooling]),
        serde_json::json!([pooling, transformer]),
        serde_json::json!([transformer]),
        serde_json::json!([nested, pooling]),
    ];
    for modules in wrong_orders {
        let dir = tiny_dir("modules-order");
        std::fs::write(
            dir.path().join("modules.json"),
            serde_json::to_vec(&modules).unwrap(),
        )
        .unwrap();
        let message = expect_err(dir.path());
        assert!(message.contains("modules.json"), "{modules}: {message}");
    }

    let dir = tiny_dir("modules-escape");
    let modules = serde_json::json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "../../etc", "type": "sentence_transformers.models.Pooling"}
    ]);
    std::fs::write(
        dir.path().join("modules.json"),
        serde_json::to_vec(&modules).unwrap(),
    )
    .unwrap();
    let message = expect_err(dir.path());
    assert!(message.contains("leaves the model directory"), "{message}");
}

/// Rounds every F32 tensor through `round` and stores it as `dtype` with `encode`.
fn convert(tensors: &[Tensor], dtype: &'static str, encode: fn(f32) -> [u8; 2]) -> Vec<Tensor> {
    tensors
        .iter()
        .map(|t| {
            let values = t
                .bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
            Tensor {
                name: t.name.clone(),
                dtype,
                shape: t.shape.clone(),
                bytes: values.flat_map(encode).collect(),
            }
        })
        .collect()
}

fn round_all(tensors: &[Tensor], round: fn(f32) -> f32) -> Vec<Tensor> {
    tensors
        .iter()
        .map(|t| {
            let values: Vec<f32> = t
                .bytes
                .chunks_exact(4)
                .map(|b| round(f32::from_le_bytes(b.try_into().unwrap())))
                .collect();
            Tensor::f32(&t.name, &t.shape, &values)
        })
        .collect()
}

#[test]
fn f16_and_bf16_weights_load_as_their_f32_values() {
    type Codec = (&'static str, fn(f32) -> [u8; 2], fn(f32) -> f32);
    let codecs: [Codec; 2] = [
        (
            "F16",
            |v| half::f16::from_f32(v).to_le_bytes(),
            |v| half::f16::from_f32(v).to_f32(),
        ),
        (
            "BF16",
            |v| half::bf16::from_f32(v).to_le_bytes(),
            |v| half::bf16::from_f32(v).to_f32(),
        ),
    ];
    for (dtype, encode, round) in codecs {
        let base = tiny_tensors(11);
        let half_dir = TempDir::new("half");
        write_tiny_model(
            half_dir.path(),
            &convert(&base, dtype, encode),
            mean_pooling(),
            true,
        );
        let f32_dir = TempDir::new("rounded");
        write_tiny_model(
            f32_dir.path(),
            &round_all(&base, round),
            mean_pooling(),
            true,
        );
        let from_half = load(half_dir.path())
            .expect("load half")
            .embed(TEXT)
            .unwrap();
        let from_f32 = load(f32_dir.path()).expect("load f32").embed(TEXT).unwrap();
        assert_eq!(
            from_half, from_f32,
            "{dtype} weights differ from their f32 values"
        );
    }
}

#[test]
fn bert_prefix_and_old_layernorm_names_are_accepted() {
    let base_dir = tiny_dir("plain");
    let expected = load(base_dir.path()).unwrap().embed(TEXT).unwrap();
    let renamed: Vec<Tensor> = tiny_tensors(7)
        .into_iter()
        .map(|mut t| {
            t.name = format!(
                "bert.{}",
                t.name
                    .replace("LayerNorm.weight", "LayerNorm.gamma")
                    .replace("LayerNorm.bias", "LayerNorm.beta")
            );
            t
        })
        .collect();
    let dir = TempDir::new("prefixed");
    write_tiny_model(dir.path(), &renamed, mean_pooling(), true);
    assert_eq!(
        load(dir.path())
            .expect("load prefixed")
            .embed(TEXT)
            .unwrap(),
        expected
    );
}

#[test]
fn pooling_modes_follow_the_pooling_config() {
    let dir = TempDir::new("pool-raw");
    write_tiny_model(dir.path(), &tiny_tensors(3), mean_pooling(), false);
    let states = load(dir.path()).unwrap().hidden_states(TEXT).unwrap();
    let last = states.last().unwrap();
    let rows: Vec<&[f32]> = last.chunks_exact(TINY_HIDDEN).collect();
    let n = rows.len() as f32;
    let cls = rows[0].to_vec();
    let max: Vec<f32> = (0..TINY_HIDDEN)
        .map(|j| rows.iter().map(|r| r[j]).fold(f32::MIN, f32::max))
        .collect();
    let mean: Vec<f32> = (0..TINY_HIDDEN)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f32>() / n)
        .collect();
    let sqrt_len: Vec<f32> = mean.iter().map(|m| m * n.sqrt()).collect();

    let cases = [
        (
            serde_json::json!({"pooling_mode_mean_tokens": true}),
            vec![&mean],
        ),
        (
            serde_json::json!({"pooling_mode_cls_token": true}),
            vec![&cls],
        ),
        (
            serde_json::json!({"pooling_mode_max_tokens": true}),
            vec![&max],
        ),
        (
            serde_json::json!({"pooling_mode_mean_sqrt_len_tokens": true}),
            vec![&sqrt_len],
        ),
        (
            serde_json::json!({"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true, "pooling_mode_max_tokens": true}),
            vec![&cls, &max, &mean],
        ),
    ];
    for (pooling, parts) in cases {
        let expected: Vec<f32> = parts.into_iter().flatten().copied().collect();
        let dir = TempDir::new("pool");
        write_tiny_model(dir.path(), &tiny_tensors(3), pooling.clone(), false);
        let got = load(dir.path()).unwrap().embed(TEXT).unwrap();
        assert!(
            max_abs_diff(&got, &expected) < 1e-5,
            "{pooling}: {got:?} vs {expected:?}"
        );

        let dir = TempDir::new("pool-norm");
        write_tiny_model(dir.path(), &tiny_tensors(3), pooling.clone(), true);
        let normalized = load(dir.path()).unwrap().embed(TEXT).unwrap();
        let norm = expected.iter().map(|x| x * x).sum::<f32>().sqrt();
        let expected: Vec<f32> = expected.iter().map(|x| x / norm).collect();
        assert!(
            max_abs_diff(&normalized, &expected) < 1e-5,
            "{pooling} normalised"
        );
    }

    let dir = TempDir::new("pool-none");
    write_tiny_model(
        dir.path(),
        &tiny_tensors(3),
        serde_json::json!({"pooling_mode_mean_tokens": false}),
        true,
    );
    assert!(expect_err(dir.path()).contains("1_Pooling"));
}

#[test]
fn directory_without_modules_json_is_a_mean_pooled_transformer() {
    let dir = TempDir::new("bare");
    write_tiny_model(dir.path(), &tiny_tensors(5), mean_pooling(), true);
    std::fs::remove_file(dir.path().join("modules.json")).unwrap();
    let embedder = load(dir.path()).unwrap();
    assert!(!embedder.normalizes());
    let v = embedder.embed(TEXT).unwrap();
    let states = embedder.hidden_states(TEXT).unwrap();
    let rows: Vec<&[f32]> = states.last().unwrap().chunks_exact(TINY_HIDDEN).collect();
    let mean: Vec<f32> = (0..TINY_HIDDEN)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f32>() / rows.len() as f32)
        .collect();
    assert!(max_abs_diff(&v, &mean) < 1e-6);
}

#[test]
fn max_length_falls_back_to_tokenizer_config_then_positions() {
    for (model_max_length, expected) in [
        (serde_json::json!(40), TINY_POSITIONS.min(40)),
        (serde_json::json!(1e30), TINY_POSITIONS),
        (serde_json::json!(100_000), TINY_POSITIONS),
    ] {
        let dir = tiny_dir("tokenizer-config");
        std::fs::remove_file(dir.path().join("sentence_bert_config.json")).unwrap();
        let config = serde_json::json!({ "model_max_length": model_max_length });
        std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
        assert_eq!(
            load(dir.path()).unwrap().max_length(),
            expected,
            "{model_max_length}"
        );
    }
}

/// A change to a safetensors JSON header.
type HeaderEdit = dyn FnOnce(&mut serde_json::Map<String, serde_json::Value>);

/// A tiny model quantised to int8 (no smoothing), in its own directory.
fn tiny_int8_dir(label: &str) -> (TempDir, TempDir) {
    let src = tiny_dir(label);
    let dst = TempDir::new(&format!("{label}-int8"));
    minilm::quantize_model(src.path(), dst.path(), minilm::Calibration::None).expect("quantize");
    (src, dst)
}

/// Rewrites the JSON header of `dir/model.safetensors` through `edit` (the data is kept; the
/// header is padded back to a multiple of 8 bytes).
fn edit_header(
    dir: &std::path::Path,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    edit(&mut header);
    let mut json = serde_json::to_vec(&header).unwrap();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(&bytes[8 + len..]);
    std::fs::write(&path, out).unwrap();
}

#[test]
fn quantized_tiny_model_loads_in_int8_close_to_f32() {
    let (src, dst) = tiny_int8_dir("int8-ok");
    let f32_vector = load(src.path()).unwrap().embed(TEXT).unwrap();
    let int8 = load(dst.path()).expect("load the int8 copy");
    assert_eq!(int8.precision(), minilm::Precision::Int8);
    assert!(
        int8.kernel_name().contains("int8"),
        "{}",
        int8.kernel_name()
    );
    let v = int8.embed(TEXT).unwrap();
    let cos: f32 = v.iter().zip(&f32_vector).map(|(a, b)| a * b).sum();
    assert!(cos > 0.99, "cosine {cos}");
    for file in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        assert!(dst.path().join(file).is_file(), "{file} not copied");
    }
}

#[test]
fn broken_quantized_files_are_reported() {
    let weight = "encoder.layer.1.intermediate.dense.weight";
    let cases: Vec<(&str, Box<HeaderEdit>, Vec<&str>)> = vec![
        (
            "unknown scheme",
            Box::new(|h| {
                h["__metadata__"]["minilm.quantization"] = "int4-per-group/v9".into();
            }),
            vec!["int4-per-group/v9", "quantise"],
        ),
        (
            "weight dtype",
            Box::new(move |h| h[weight]["dtype"] = "U8".into()),
            vec![weight, "U8"],
        ),
        (
            "weight shape",
            Box::new(move |h| {
                h[weight]["shape"] = serde_json::json!([TINY_HIDDEN, TINY_INTERMEDIATE]);
            }),
            vec![weight, "shape"],
        ),
        (
            "missing scale",
            // Renamed rather than removed: the data offsets must stay contiguous.
            Box::new(move |h| {
                let entry = h.remove(&format!("{weight}_scale")).unwrap();
                h.insert(format!("{weight}_scales"), entry);
            }),
            vec!["missing tensor", "_scale"],
        ),
        (
            "word-embedding shape",
            Box::new(|h| {
                h["embeddings.word_embeddings.weight"]["shape"] =
                    serde_json::json!([TINY_HIDDEN, TINY_VOCAB]);
            }),
            vec!["embeddings.word_embeddings.weight", "shape"],
        ),
        (
            "missing word-embedding scale",
            Box::new(|h| {
                let entry = h.remove("embeddings.word_embeddings.weight_scale").unwrap();
                h.insert("embeddings.word_embeddings.weight_scales".into(), entry);
            }),
            vec!["missing tensor", "embeddings.word_embeddings.weight_scale"],
        ),
    ];
    for (what, edit, expected) in cases {
        let (_src, dst) = tiny_int8_dir("int8-broken");
        edit_header(dst.path(), edit);
        let message = expect_err(dst.path());
        for part in expected {
            assert!(message.contains(part), "{what}: {message:?} lacks {part:?}");
        }
    }
}

#[test]
fn non_finite_or_negative_scales_are_reported() {
    let scales = [
        "encoder.layer.0.output.dense.weight_scale",
        "embeddings.word_embeddings.weight_scale",
    ];
    for (scale, bad) in scales
        .into_iter()
        .flat_map(|s| [f32::NAN, f32::INFINITY, -1.0].map(|bad| (s, bad)))
    {
        let (_src, dst) = tiny_int8_dir("int8-scale");
        let path = dst.path().join("model.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
        let start = header[scale]["data_offsets"][0].as_u64().unwrap() as usize + 8 + len;
        bytes[start..start + 4].copy_from_slice(&bad.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let message = expect_err(dst.path());
        assert!(
            message.contains(scale) && message.contains("scale"),
            "{bad}: {message}"
        );
    }
}

/// A file of the first quantised format (scheme v1: int8 dense weights, f32 word embeddings)
/// still loads, and computes what the current format (int8 word embeddings) does: quantising
/// the f32 table's rows at load gives the very values the current file stores.
#[test]
fn first_format_int8_files_load_and_match_the_current_format() {
    use safetensors::tensor::TensorView;
    use safetensors::{Dtype, SafeTensors};
    let (src, current) = tiny_int8_dir("int8-v2");
    let v1 = TempDir::new("int8-v1");
    minilm::quantize_model(src.path(), v1.path(), minilm::Calibration::None).expect("quantize");
    let source = std::fs::read(src.path().join("model.safetensors")).unwrap();
    let source = SafeTensors::deserialize(&source).unwrap();
    let words = source.tensor("embeddings.word_embeddings.weight").unwrap();
    assert_eq!(words.dtype(), Dtype::F32);
    let path = v1.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let int8 = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, TensorView<'_>)> = int8
        .tensors()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("embeddings.word_embeddings"))
        .collect();
    tensors.push(("embeddings.word_embeddings.weight".into(), words));
    let metadata = [
        (
            "minilm.quantization".to_owned(),
            "int8-weight-per-channel-symmetric/v1".to_owned(),
        ),
        ("format".to_owned(), "pt".to_owned()),
    ]
    .into_iter()
    .collect();
    let written = safetensors::serialize(tensors, Some(metadata)).unwrap();
    drop(int8);
    std::fs::write(&path, written).unwrap();

    let old = load(v1.path()).expect("a v1 file loads");
    assert_eq!(old.precision(), minilm::Precision::Int8);
    let new = load(current.path()).unwrap();
    assert!(same_bits(
        &old.embed(TEXT).unwrap(),
        &new.embed(TEXT).unwrap()
    ));
}

/// Sets element `index` of tensor `name` to `value` (in the tensor's own dtype).
fn poison(tensors: &mut [Tensor], name: &str, index: usize, value: f32) {
    let t = tensor(tensors, name);
    match t.dtype {
        "F32" => t.bytes[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes()),
        "F16" => t.bytes[index * 2..index * 2 + 2]
            .copy_from_slice(&half::f16::from_f32(value).to_le_bytes()),
        "BF16" => t.bytes[index * 2..index * 2 + 2]
            .copy_from_slice(&half::bf16::from_f32(value).to_le_bytes()),
        other => panic!("poison: dtype {other}"),
    }
}

#[test]
fn nan_or_infinite_weights_are_refused_at_load() {
    // Every way a float weight reaches the model: the embedding tables (converted whole), the
    // packed dense weights (converted row by row, Q/K/V stacked), biases and LayerNorms; in
    // every float dtype; and in the f32 tensors of a quantised file.
    let cases = [
        ("embeddings.word_embeddings.weight", 1017 * TINY_HIDDEN + 3),
        ("encoder.layer.0.attention.self.value.weight", 77),
        (
            "encoder.layer.1.intermediate.dense.weight",
            TINY_HIDDEN * TINY_INTERMEDIATE - 1,
        ),
        ("encoder.layer.1.output.dense.bias", 0),
        ("encoder.layer.0.output.LayerNorm.weight", 5),
    ];
    type Encode = fn(f32) -> [u8; 2];
    let encodings: [(&str, Encode); 2] = [
        ("F16", |v| half::f16::from_f32(v).to_le_bytes()),
        ("BF16", |v| half::bf16::from_f32(v).to_le_bytes()),
    ];
    for (case, (name, index)) in cases.into_iter().enumerate() {
        let value = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][case % 3];
        let mut variants = vec![("F32", tiny_tensors(5))];
        for (dtype, encode) in encodings {
            variants.push((dtype, convert(&tiny_tensors(5), dtype, encode)));
        }
        for (dtype, mut tensors) in variants {
            poison(&mut tensors, name, index, value);
            let dir = TempDir::new("non-finite");
            write_tiny_model(dir.path(), &tensors, mean_pooling(), true);
            let err = load(dir.path()).expect_err("a non-finite weight loaded");
            let message = err.to_string();
            match err {
                Error::NonFiniteWeight {
                    name: found,
                    index: at,
                    value: v,
                    ..
                } => {
                    assert_eq!((found.as_str(), at), (name, index), "{dtype}: {message}");
                    assert_eq!(v.is_nan(), value.is_nan(), "{dtype}: {message}");
                }
                other => panic!("{dtype} {name}: {other}"),
            }
            assert!(message.contains("model.safetensors"), "{message}");
        }
    }
    // A quantised file keeps biases and LayerNorms as f32: they are checked there too.
    let (_src, dst) = tiny_int8_dir("int8-nan");
    let bias = "encoder.layer.0.attention.output.dense.bias";
    let path = dst.path().join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let start = header[bias]["data_offsets"][0].as_u64().unwrap() as usize + 8 + len;
    bytes[start + 8..start + 12].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let message = expect_err(dst.path());
    assert!(
        message.contains(bias) && message.contains("element 2") && message.contains("finite"),
        "{message}"
    );
    // Quantising a model with a NaN weight fails too, naming it.
    let dir = TempDir::new("quantize-nan");
    let mut tensors = tiny_tensors(5);
    poison(
        &mut tensors,
        "encoder.layer.0.output.dense.weight",
        9,
        f32::NAN,
    );
    write_tiny_model(dir.path(), &tensors, mean_pooling(), true);
    let out = TempDir::new("quantize-nan-out");
    let message = minilm::quantize_model(dir.path(), out.path(), minilm::Calibration::None)
        .expect_err("quantised a NaN weight")
        .to_string();
    assert!(
        message.contains("encoder.layer.0.output.dense.weight") && message.contains("NaN"),
        "{message}"
    );
}

/// Offsets that overlap, leave a gap, run past the data or disagree with dtype x shape are
/// refused before any tensor is read.
#[test]
fn lying_tensor_offsets_are_reported() {
    let a = "encoder.layer.0.output.dense.bias";
    let b = "encoder.layer.0.output.LayerNorm.weight";
    let offsets = |h: &serde_json::Map<String, serde_json::Value>, name: &str| {
        let o = &h[name]["data_offsets"];
        (o[0].as_u64().unwrap(), o[1].as_u64().unwrap())
    };
    let cases: Vec<(&str, Box<HeaderEdit>)> = vec![
        (
            "overlapping",
            Box::new(move |h| {
                let (start, end) = offsets(h, a);
                h[b]["data_offsets"] = serde_json::json!([start, end]);
            }),
        ),
        (
            "past the end",
            Box::new(move |h| {
                let (start, _) = offsets(h, b);
                h[b]["data_offsets"] = serde_json::json!([start, u64::MAX / 2]);
            }),
        ),
        (
            "reversed",
            Box::new(move |h| {
                let (start, end) = offsets(h, a);
                h[a]["data_offsets"] = serde_json::json!([end, start]);
            }),
        ),
        (
            "shape larger than the bytes",
            Box::new(move |h| h[a]["shape"] = serde_json::json!([1u64 << 40, 1u64 << 20])),
        ),
    ];
    for (what, edit) in cases {
        let dir = tiny_dir("offsets");
        edit_header(dir.path(), edit);
        let message = expect_err(dir.path());
        assert!(
            message.contains("model.safetensors") && message.contains("not a valid safetensors"),
            "{what}: {message}"
        );
    }
}

/// tokenizer.json files on which the tokenizers crate (0.23) panics instead of returning an
/// error: cut inside its "decoder" object (found by the model_config fuzz target: a truncated
/// download looks like this), and a Precompiled normalizer whose char map does not parse. Each
/// is an error naming the file.
#[test]
fn tokenizer_files_the_tokenizer_library_panics_on_are_errors() {
    let real = std::fs::read_to_string(model_dir().join("tokenizer.json")).unwrap();
    let decoder = real.find("\"decoder\"").expect("a decoder entry");
    let cut = format!(
        "{}{{\"cleanup\": true, \"type",
        &real[..decoder + "\"decoder\": ".len()]
    );
    let mut precompiled: serde_json::Value = serde_json::from_str(&real).unwrap();
    precompiled["normalizer"] =
        serde_json::json!({"type": "Precompiled", "precompiled_charsmap": "bm90IGEgY2hhcm1hcA=="});
    for (what, text) in [
        ("cut inside the decoder", cut),
        ("bad precompiled char map", precompiled.to_string()),
    ] {
        let dir = tiny_dir("tokenizer-panic");
        std::fs::write(dir.path().join("tokenizer.json"), text).unwrap();
        let message = expect_err(dir.path());
        assert!(
            message.contains("tokenizer.json") && message.contains("cannot load tokenizer"),
            "{what}: {message}"
        );
    }
}
