//! What the fuzz targets share: the input formats, the model directory each process writes its
//! inputs into, and the one pass over a loaded model.
//!
//! The library's loaders read directories, so each input is written as files into a directory
//! of this process (under the system temp dir) before it is loaded. The files that are not
//! fuzzed come from `tiny-model/`, a complete model of the all-MiniLM-L6-v2 architecture at
//! toy size (written by `examples/make_seeds.rs`).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minilm::{Embedder, Options};

/// The small model every input is a variation of.
pub fn tiny_model() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tiny-model"))
}

/// The files of the small model.
pub const MODEL_FILES: [&str; 6] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
];

/// Texts embedded when a fuzzed model loads: empty, plain, past the max length, odd Unicode.
pub const TEXTS: [&str; 4] = [
    "",
    "the cat sat on the mat.",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g h i j k l m n o p q r s t",
    "\u{0}\u{200b}\u{202e}e\u{301}\u{1F600}",
];

/// The files of the `model_config` target, in the order their parts appear in its input.
pub const CONFIG_FILES: [&str; 6] = [
    "config.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "modules.json",
    "1_Pooling/config.json",
    "tokenizer.json",
];

/// Separates the parts of a `model_config` input (a byte no UTF-8 text contains).
pub const SEPARATOR: u8 = 0xFF;

/// A `model_files` input: `config.json`'s length (u16, little-endian), `config.json`, then
/// `model.safetensors`.
pub fn model_files_input(config: &[u8], safetensors: &[u8]) -> Vec<u8> {
    let len = u16::try_from(config.len()).expect("config.json over 64 KiB");
    let mut input = len.to_le_bytes().to_vec();
    input.extend_from_slice(config);
    input.extend_from_slice(safetensors);
    input
}

/// The parts of a `model_files` input, or `None` when it is too short to hold them.
pub fn split_model_files_input(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u16::from_le_bytes(data.get(..2)?.try_into().ok()?) as usize;
    let config = data.get(2..2 + len)?;
    Some((config, &data[2 + len..]))
}

/// This process's model directory. Each call resets it to the small model's files, for the
/// target to overwrite the ones it fuzzes.
pub fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("minilm-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("1_Pooling")).expect("create the fuzz model directory");
        dir
    });
    let files = FILES.get_or_init(|| {
        MODEL_FILES
            .iter()
            .map(|name| {
                let path = tiny_model().join(name);
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .collect()
    });
    for (name, bytes) in MODEL_FILES.iter().zip(files) {
        write(dir, name, bytes);
    }
    let _ = std::fs::remove_file(dir.join("tokenizer_config.json"));
    dir
}

/// Writes `bytes` to `dir/name`; an I/O failure of the harness itself stops the run.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes)
        .unwrap_or_else(|e| panic!("fuzz harness: cannot write {name}: {e}"));
}

/// Loads the model in `dir` and, when it loads, embeds [`TEXTS`] one by one and as a batch.
/// Errors are the expected outcome for most inputs; a panic, a crash, a hang or an allocation
/// beyond libFuzzer's limit is a finding. A model that loads must give vectors of its stated
/// dimension, and the same vector for a text alone and in a batch.
pub fn load_and_embed(dir: &Path) {
    let embedder = match Embedder::from_dir(dir, &Options::default().threads(1)) {
        Ok(embedder) => embedder,
        Err(error) => {
            // The message must render (it names the file at fault).
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let Ok(batch) = embedder.embed_batch(&TEXTS) else {
        return;
    };
    for (text, vector) in TEXTS.iter().zip(&batch) {
        assert_eq!(vector.len(), embedder.dim());
        let alone = embedder
            .embed(text)
            .expect("a text that embedded in a batch");
        let same = alone
            .iter()
            .zip(vector)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        assert!(same, "{text:?}: alone and in a batch differ");
    }
}

/// Panics of the tokenizers crate that minilm caught, turned into errors.
pub static CAUGHT_TOKENIZER_PANICS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// libFuzzer's panic hook aborts on every panic, caught or not. minilm catches panics of the
/// tokenizers crate (which panics on some malformed tokenizer.json files instead of returning
/// an error) and returns `Error::Tokenizer`, so those are counted, not findings. Any other
/// panic aborts as before; so does a tokenizers panic that minilm fails to catch, through
/// libfuzzer-sys's own catch around each input.
pub fn tolerate_caught_tokenizer_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_tokenizers = info
            .location()
            .is_some_and(|l| l.file().contains("/tokenizers-"));
        if in_tokenizers {
            CAUGHT_TOKENIZER_PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            abort(info);
        }
    }));
}
