//! The `search` corpus cache: a corpus's vectors on disk, with everything they depend on.
//!
//! A cache file is one JSON header line, then `texts * dim` little-endian float32 values. The
//! header's `key` records what the vectors depend on: the corpus bytes (FNV-1a hash and length)
//! and how they split into texts, the model (its directory and the size and modification time
//! of each of its files), the precision, max length, dimension and kernel path. A file is used
//! only when its key equals the run's, its length matches the header and its vectors hash to the
//! header's checksum; anything else (no file, another key, a truncated or corrupt file) is a
//! miss with a reason, and the caller re-embeds and replaces the file. Reading never fails.
//!
//! Files are written under a temporary name and renamed, so a reader never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use minilm::{Embedder, LongText};
use serde::{Deserialize, Serialize};

use crate::error::CliResult;

/// Names this file format in its header.
const FORMAT: &str = "minilm-search-cache";
/// Bumped whenever the layout or the key's meaning changes: older files then miss.
const VERSION: u32 = 1;

/// The files of a model directory whose change may change the vectors (prompts included).
const MODEL_FILES: [&str; 8] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
];

/// 64-bit FNV-1a. A cache key to notice an edited corpus or a damaged file, not a security
/// hash: anyone who can write the cache can make it say anything.
#[derive(Clone, Copy)]
pub struct Fnv1a(u64);

impl Fnv1a {
    pub fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

pub fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut hash = Fnv1a::new();
    hash.update(bytes);
    hash.hex()
}

/// One model file as the key sees it: absent files are left out.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct ModelFile {
    name: String,
    bytes: u64,
    modified_ns: u64,
}

/// Everything the cached vectors depend on.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
pub struct Key {
    corpus_fnv1a64: String,
    corpus_bytes: u64,
    input_format: String,
    model_dir: String,
    model_files: Vec<ModelFile>,
    precision: String,
    max_length: usize,
    /// `truncate`, `error`, or `chunk:OVERLAP:MAX_CHUNKS` (caches from before it existed were
    /// all made truncating).
    #[serde(default = "truncating")]
    long_text: String,
    dim: usize,
    kernel: String,
}

fn truncating() -> String {
    "truncate".into()
}

impl Key {
    /// The key of `corpus` (its bytes, split as `input_format`) embedded by `embedder`.
    pub fn new(corpus: &[u8], input_format: &str, embedder: &Embedder) -> Key {
        let dir = embedder.model_dir();
        let model_files = MODEL_FILES
            .iter()
            .filter_map(|name| {
                let meta = std::fs::metadata(dir.join(name)).ok()?;
                let modified_ns = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
                Some(ModelFile {
                    name: (*name).to_owned(),
                    bytes: meta.len(),
                    modified_ns,
                })
            })
            .collect();
        Key {
            corpus_fnv1a64: fnv1a_hex(corpus),
            corpus_bytes: corpus.len() as u64,
            input_format: input_format.to_owned(),
            model_dir: absolute(dir).display().to_string(),
            model_files,
            precision: embedder.precision().name().to_owned(),
            max_length: embedder.max_length(),
            long_text: match embedder.long_text() {
                LongText::Chunk { overlap } => format!("chunk:{overlap}:{}", embedder.max_chunks()),
                mode => mode.name().to_owned(),
            },
            dim: embedder.dim(),
            kernel: embedder.kernel_name(),
        }
    }

    /// Why `self` (a file's key) cannot stand for `run` (this run's), if it cannot.
    fn mismatch(&self, run: &Key) -> Option<&'static str> {
        if self == run {
            None
        } else if (&self.corpus_fnv1a64, self.corpus_bytes, &self.input_format)
            != (&run.corpus_fnv1a64, run.corpus_bytes, &run.input_format)
        {
            Some("corpus changed")
        } else if (&self.model_dir, &self.model_files) != (&run.model_dir, &run.model_files) {
            Some("model changed")
        } else if self.long_text != run.long_text {
            Some("long-text mode changed")
        } else {
            Some("precision, max length, dimension or kernel changed")
        }
    }
}

#[derive(Serialize)]
struct Header<'a> {
    format: &'a str,
    version: u32,
    key: &'a Key,
    texts: usize,
    vectors_fnv1a64: String,
}

/// [`Header`] as read back.
#[derive(Deserialize)]
struct ReadHeader {
    format: String,
    version: u32,
    key: Key,
    texts: usize,
    vectors_fnv1a64: String,
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}

/// The default cache file for `corpus`: `$MINILM_HOME/cache/search/NAME-HASH.vectors`
/// (`MINILM_HOME` defaulting to `~/.cache/minilm`), where the hash covers the corpus's absolute
/// path and the model settings, so that each corpus and model keeps one file, replaced when the
/// corpus changes. `None` when there is no home to put it in.
pub fn default_path(corpus: &Path, key: &Key) -> Option<PathBuf> {
    let home = minilm::models_home()?.parent()?.to_owned();
    let mut hash = Fnv1a::new();
    for part in [
        absolute(corpus).display().to_string(),
        key.input_format.clone(),
        key.model_dir.clone(),
        key.precision.clone(),
        key.max_length.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update(&[0]);
    }
    let stem: String = corpus
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .take(48)
        .collect();
    Some(
        home.join("cache")
            .join("search")
            .join(format!("{stem}-{}.vectors", hash.hex())),
    )
}

/// What a cache file held for a run.
pub enum Lookup {
    /// `texts * dim` values, row after row.
    Hit(Vec<f32>),
    /// Why the file could not be used.
    Miss(&'static str),
}

/// Reads `path` and returns its vectors if they are `texts` vectors computed under `key`.
pub fn load(path: &Path, key: &Key, texts: usize) -> Lookup {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss("no cache yet"),
        Err(_) => return Lookup::Miss("cache unreadable"),
    };
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
        return Lookup::Miss("cache corrupt");
    };
    let Ok(header) = serde_json::from_slice::<ReadHeader>(&bytes[..newline]) else {
        return Lookup::Miss("cache corrupt");
    };
    if header.format != FORMAT || header.version != VERSION {
        return Lookup::Miss("cache from another version");
    }
    if let Some(reason) = header.key.mismatch(key) {
        return Lookup::Miss(reason);
    }
    let data = &bytes[newline + 1..];
    let expected = texts.checked_mul(key.dim).and_then(|n| n.checked_mul(4));
    if header.texts != texts || expected != Some(data.len()) {
        return Lookup::Miss("cache truncated");
    }
    if fnv1a_hex(data) != header.vectors_fnv1a64 {
        return Lookup::Miss("cache corrupt");
    }
    Lookup::Hit(
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// Writes `vectors` (`texts` rows) under `key` to `path`, atomically: a temporary file beside
/// it, synced, then renamed over it. Creates the directory if needed.
pub fn store(path: &Path, key: &Key, vectors: &[f32], texts: usize) -> CliResult {
    let data: Vec<u8> = vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
    let header = Header {
        format: FORMAT,
        version: VERSION,
        key,
        texts,
        vectors_fnv1a64: fnv1a_hex(&data),
    };
    let mut header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    header.push(b'\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&header)?;
        file.write_all(&data)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        format!("cannot write {}: {e}", path.display()).into()
    })
}
