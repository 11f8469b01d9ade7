//! Writes `tiny-model/` (a complete sentence-transformers directory of the all-MiniLM-L6-v2
//! architecture at toy size, with its own small WordPiece vocabulary) and the committed seed
//! inputs under `seeds/`, deterministically. Run after changing either:
//! `cargo run --manifest-path tests/fuzz/Cargo.toml --example make_seeds`.
#![forbid(unsafe_code)]

#[path = "../../common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::path::Path;

use common::{safetensors_bytes, tiny_tensors_of, Tensor, TinyShape};
use minilm::{Calibration, Embedder, Options};
use minilm_fuzz::{model_files_input, CONFIG_FILES, SEPARATOR};
use serde_json::json;

const SHAPE: TinyShape = TinyShape {
    hidden: 8,
    layers: 1,
    intermediate: 16,
    positions: 24,
    vocab: 0, // set from the vocabulary below
};

fn vocabulary() -> Vec<String> {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .map(String::from)
        .to_vec();
    vocab.extend(('a'..='z').map(String::from));
    vocab.extend(('a'..='z').map(|c| format!("##{c}")));
    vocab.extend([".", ",", "!", "?", "the", "cat", "sat", "on", "mat"].map(String::from));
    vocab
}

fn tokenizer(vocab: &[String]) -> serde_json::Value {
    let ids: serde_json::Map<String, serde_json::Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let special = |content: &str, id: usize| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special("[PAD]", 0), special("[UNK]", 1), special("[CLS]", 2),
                         special("[SEP]", 3), special("[MASK]", 4)],
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
                       "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids}
    })
}

fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap();
    bytes.push(b'\n');
    bytes
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The tensors re-encoded as F16 (a seed for the half-precision paths).
fn as_f16(tensors: &[Tensor]) -> Vec<Tensor> {
    tensors
        .iter()
        .map(|t| Tensor {
            name: t.name.clone(),
            dtype: "F16",
            shape: t.shape.clone(),
            bytes: t
                .bytes
                .chunks_exact(4)
                .flat_map(|b| {
                    let v = f32::from_le_bytes(b.try_into().unwrap());
                    half::f16::from_f32(v).to_le_bytes()
                })
                .collect(),
        })
        .collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("tiny-model");
    let vocab = vocabulary();
    let shape = TinyShape {
        vocab: vocab.len(),
        ..SHAPE
    };
    let config = json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": shape.hidden,
        "num_attention_heads": 2,
        "num_hidden_layers": shape.layers,
        "intermediate_size": shape.intermediate,
        "max_position_embeddings": shape.positions,
        "type_vocab_size": 2,
        "vocab_size": shape.vocab,
        "layer_norm_eps": 1e-12
    });
    let modules = json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
    ]);
    let pooling =
        json!({"word_embedding_dimension": shape.hidden, "pooling_mode_mean_tokens": true});
    let sentence_bert = json!({"max_seq_length": 16, "do_lower_case": false});
    let tensors = tiny_tensors_of(shape, 3);
    let weights = safetensors_bytes(&tensors);
    write(&model.join("config.json"), &pretty(&config));
    write(&model.join("tokenizer.json"), &pretty(&tokenizer(&vocab)));
    write(&model.join("modules.json"), &pretty(&modules));
    write(&model.join("1_Pooling/config.json"), &pretty(&pooling));
    write(
        &model.join("sentence_bert_config.json"),
        &pretty(&sentence_bert),
    );
    write(&model.join("model.safetensors"), &weights);

    // The small model must load and embed, or the fuzzer would start from nothing valid.
    let embedder = Embedder::from_dir(&model, &Options::default().threads(1)).expect("load");
    let vector = embedder.embed("the cat sat on the mat.").expect("embed");
    assert_eq!(vector.len(), shape.hidden);

    let int8_dir = std::env::temp_dir().join(format!("minilm-fuzz-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&int8_dir);
    minilm::quantize_model(&model, &int8_dir, Calibration::None).expect("quantize");
    let int8 = std::fs::read(int8_dir.join("model.safetensors")).unwrap();
    std::fs::remove_dir_all(&int8_dir).unwrap();

    // model_files: the f32, F16 and int8 weights with their config; a config that disagrees
    // with the weights; and an empty file.
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let mut wide = config.clone();
    wide["hidden_size"] = json!(16);
    let seeds = root.join("seeds");
    let _ = std::fs::remove_dir_all(&seeds);
    for (name, input) in [
        ("f32", model_files_input(&config_bytes, &weights)),
        (
            "f16",
            model_files_input(&config_bytes, &safetensors_bytes(&as_f16(&tensors))),
        ),
        ("int8", model_files_input(&config_bytes, &int8)),
        (
            "config-disagrees",
            model_files_input(&serde_json::to_vec(&wide).unwrap(), &weights),
        ),
        ("empty", model_files_input(&config_bytes, &[])),
    ] {
        write(&seeds.join(format!("model_files/{name}")), &input);
    }

    // model_config: the small model's files, then variants along each parser's branches.
    let tokenizer_json = tokenizer(&vocab);
    let files = |edit: &dyn Fn(&mut [serde_json::Value; 6])| {
        let mut values = [
            config.clone(),
            sentence_bert.clone(),
            json!({"model_max_length": 512, "do_lower_case": true}),
            modules.clone(),
            pooling.clone(),
            tokenizer_json.clone(),
        ];
        edit(&mut values);
        let mut input = Vec::new();
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                input.push(SEPARATOR);
            }
            input.extend(serde_json::to_vec(value).unwrap());
        }
        input
    };
    assert_eq!(CONFIG_FILES.len(), 6);
    let seeds_config: [(&str, Vec<u8>); 6] = [
        ("tiny", files(&|_| {})),
        (
            "cls-max-pooling",
            files(&|v| {
                v[4] = json!({"word_embedding_dimension": 8, "pooling_mode_cls_token": true,
                              "pooling_mode_max_tokens": true, "pooling_mode_mean_tokens": false});
            }),
        ),
        (
            "no-sentence-config",
            files(&|v| {
                v[1] = json!(null);
                v[2] = json!({"model_max_length": 1e30});
            }),
        ),
        (
            "bert-prefixed-architecture",
            files(&|v| {
                v[0].as_object_mut().unwrap().remove("model_type");
                v[0]["architectures"] = json!(["BertForMaskedLM"]);
            }),
        ),
        (
            "two-modules",
            files(&|v| {
                v[3] = json!([modules[0].clone(), modules[1].clone()]);
            }),
        ),
        (
            "tokenizer-unigram",
            files(&|v| {
                v[5]["model"] = json!({"type": "Unigram", "unk_id": 1,
                    "vocab": [["[PAD]", 0.0], ["[UNK]", 0.0], ["[CLS]", 0.0], ["[SEP]", 0.0],
                              ["▁the", -1.0], ["▁cat", -2.0], ["s", -3.0]]});
                v[5]["pre_tokenizer"] = json!({"type": "Metaspace", "replacement": "▁",
                    "prepend_scheme": "always", "split": true});
            }),
        ),
    ];
    for (name, input) in seeds_config {
        write(&seeds.join(format!("model_config/{name}")), &input);
    }
    println!("wrote {} and {}", model.display(), seeds.display());
}
