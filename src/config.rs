//! The model directory's configuration: BERT hyper-parameters from `config.json` and the
//! sentence-transformers modules (pooling, normalisation, maximum length).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Upper bounds on sizes, so a hostile config cannot make the loader allocate absurd amounts.
const MAX_HIDDEN: usize = 16_384;
const MAX_LAYERS: usize = 256;
const MAX_POSITIONS: usize = 65_536;
const MAX_VOCAB: usize = 4_000_000;

/// BERT hyper-parameters, from `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    /// Vocabulary size (rows of the word embedding).
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Attention heads per layer.
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence the position embedding covers.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
}

#[derive(Deserialize)]
struct RawBertConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default = "default_position_type")]
    position_embedding_type: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_position_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads and checks `config.json`.
    ///
    /// ```
    /// let config = minilm::BertConfig::from_file(&minilm::default_model_dir()?.join("config.json"))?;
    /// assert_eq!((config.vocab_size, config.max_position_embeddings), (30522, 512));
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn from_file(path: &Path) -> Result<BertConfig> {
        let raw: RawBertConfig = read_json(path)?;
        let unsupported = |message: String| Error::Unsupported {
            path: path.to_owned(),
            message,
        };
        let is_bert = match raw.model_type.as_deref() {
            Some(t) => t == "bert",
            None => raw.architectures.iter().any(|a| a.starts_with("Bert")),
        };
        if !is_bert {
            let found = raw
                .model_type
                .clone()
                .unwrap_or_else(|| format!("architectures {:?}", raw.architectures));
            return Err(unsupported(format!(
                "model_type {found:?} is not supported; only BERT models (model_type \"bert\") are"
            )));
        }
        if raw.hidden_act != "gelu" {
            return Err(unsupported(format!(
                "hidden_act {:?} is not supported; only \"gelu\" (exact erf GELU) is",
                raw.hidden_act
            )));
        }
        if raw.position_embedding_type != "absolute" {
            return Err(unsupported(format!(
                "position_embedding_type {:?} is not supported; only \"absolute\" is",
                raw.position_embedding_type
            )));
        }
        let bounded = |name: &str, value: usize, max: usize| {
            if value == 0 || value > max {
                Err(unsupported(format!(
                    "{name} = {value} is out of range (1..={max})"
                )))
            } else {
                Ok(value)
            }
        };
        let config = BertConfig {
            vocab_size: bounded("vocab_size", raw.vocab_size, MAX_VOCAB)?,
            hidden_size: bounded("hidden_size", raw.hidden_size, MAX_HIDDEN)?,
            num_layers: bounded("num_hidden_layers", raw.num_hidden_layers, MAX_LAYERS)?,
            num_heads: bounded("num_attention_heads", raw.num_attention_heads, MAX_HIDDEN)?,
            intermediate_size: bounded("intermediate_size", raw.intermediate_size, 8 * MAX_HIDDEN)?,
            max_position_embeddings: bounded(
                "max_position_embeddings",
                raw.max_position_embeddings,
                MAX_POSITIONS,
            )?,
            type_vocab_size: bounded("type_vocab_size", raw.type_vocab_size, 1024)?,
            layer_norm_eps: raw.layer_norm_eps as f32,
        };
        if !config.hidden_size.is_multiple_of(config.num_heads) {
            return Err(unsupported(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_heads
            )));
        }
        // Zero would turn a constant row into 0/0.
        if !(config.layer_norm_eps.is_finite() && config.layer_norm_eps > 0.0) {
            return Err(unsupported(format!(
                "layer_norm_eps {} is not a finite positive number",
                raw.layer_norm_eps
            )));
        }
        Ok(config)
    }
}

/// How token vectors become one sentence vector. Several modes concatenate, in
/// sentence-transformers' order: CLS, max, mean, mean-sqrt-len.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pooling {
    /// The first token's vector.
    pub cls: bool,
    /// The element-wise maximum over tokens.
    pub max: bool,
    /// The mean over tokens.
    pub mean: bool,
    /// The sum over tokens divided by the square root of their count.
    pub mean_sqrt_len: bool,
}

/// The modes joined with `+`, in sentence-transformers' order: `mean`, `cls+max`, ...
///
/// ```
/// let cls_and_mean = minilm::Pooling { cls: true, ..minilm::Pooling::MEAN };
/// assert_eq!(cls_and_mean.to_string(), "cls+mean");
/// ```
impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let modes = [
            (self.cls, "cls"),
            (self.max, "max"),
            (self.mean, "mean"),
            (self.mean_sqrt_len, "mean_sqrt_len"),
        ];
        let names: Vec<&str> = modes.iter().filter(|m| m.0).map(|m| m.1).collect();
        f.write_str(&names.join("+"))
    }
}

impl Pooling {
    /// Mean pooling alone (what a model without a pooling config gets).
    pub const MEAN: Pooling = Pooling {
        cls: false,
        max: false,
        mean: true,
        mean_sqrt_len: false,
    };

    /// How many vectors of `hidden_size` the pooled output concatenates.
    ///
    /// ```
    /// assert_eq!(minilm::Pooling::MEAN.modes(), 1);
    /// let cls_and_mean = minilm::Pooling { cls: true, ..minilm::Pooling::MEAN };
    /// assert_eq!(cls_and_mean.modes(), 2); // the sentence vector is 2 x hidden wide
    /// ```
    pub fn modes(&self) -> usize {
        [self.cls, self.max, self.mean, self.mean_sqrt_len]
            .iter()
            .filter(|&&m| m)
            .count()
    }

    fn from_file(path: &Path) -> Result<Pooling> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            pooling_mode_cls_token: bool,
            #[serde(default)]
            pooling_mode_mean_tokens: bool,
            #[serde(default)]
            pooling_mode_max_tokens: bool,
            #[serde(default)]
            pooling_mode_mean_sqrt_len_tokens: bool,
            #[serde(default)]
            pooling_mode_weightedmean_tokens: bool,
            #[serde(default)]
            pooling_mode_lasttoken: bool,
            #[serde(default = "yes")]
            include_prompt: bool,
        }
        fn yes() -> bool {
            true
        }
        let raw: Raw = read_json(path)?;
        let unsupported = |message: &str| Error::Unsupported {
            path: path.to_owned(),
            message: message.into(),
        };
        if raw.pooling_mode_weightedmean_tokens || raw.pooling_mode_lasttoken {
            return Err(unsupported(
                "weighted-mean and last-token pooling are not supported",
            ));
        }
        if !raw.include_prompt {
            return Err(unsupported(
                "include_prompt = false (pooling that leaves out the prompt's tokens) is not supported",
            ));
        }
        let pooling = Pooling {
            cls: raw.pooling_mode_cls_token,
            max: raw.pooling_mode_max_tokens,
            mean: raw.pooling_mode_mean_tokens,
            mean_sqrt_len: raw.pooling_mode_mean_sqrt_len_tokens,
        };
        if pooling.modes() == 0 {
            return Err(unsupported("no pooling mode is enabled"));
        }
        Ok(pooling)
    }
}

/// The sentence-transformers pipeline around the BERT model.
#[derive(Clone, Debug, PartialEq)]
pub struct SentenceConfig {
    /// Pooling modes.
    pub pooling: Pooling,
    /// Whether a `Normalize` module L2-normalises the output.
    pub normalize: bool,
    /// Longest input in tokens, \[CLS\] and \[SEP\] included (`max_seq_length`), if the directory
    /// says.
    pub max_seq_length: Option<usize>,
    /// Whether texts are lower-cased before tokenising (`do_lower_case`).
    pub lowercase: bool,
    /// Named prompts (`prompts` in `config_sentence_transformers.json`), e.g. `"query"` ->
    /// `"query: "`: text put in front of a text before it is tokenised.
    pub prompts: BTreeMap<String, String>,
    /// The prompt every text gets unless another is asked for (`default_prompt_name`), as in
    /// sentence-transformers' `encode`.
    pub default_prompt_name: Option<String>,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

impl SentenceConfig {
    /// Reads `modules.json` and what it points at. A directory without `modules.json` is a plain
    /// transformer: mean pooling, no normalisation (as sentence-transformers does).
    ///
    /// ```
    /// let sentence = minilm::SentenceConfig::from_dir(&minilm::default_model_dir()?)?;
    /// assert_eq!(sentence.pooling, minilm::Pooling::MEAN);
    /// assert!(sentence.normalize);
    /// assert_eq!(sentence.max_seq_length, Some(256));
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn from_dir(dir: &Path) -> Result<SentenceConfig> {
        let mut config = SentenceConfig {
            pooling: Pooling::MEAN,
            normalize: false,
            max_seq_length: None,
            lowercase: false,
            prompts: BTreeMap::new(),
            default_prompt_name: None,
        };
        read_prompts(&dir.join("config_sentence_transformers.json"), &mut config)?;
        let st_config = dir.join("sentence_bert_config.json");
        if st_config.is_file() {
            #[derive(Deserialize)]
            struct Raw {
                max_seq_length: Option<usize>,
                #[serde(default)]
                do_lower_case: bool,
            }
            let raw: Raw = read_json(&st_config)?;
            if raw.max_seq_length == Some(0) {
                return Err(Error::Unsupported {
                    path: st_config,
                    message: "max_seq_length is 0".into(),
                });
            }
            config.max_seq_length = raw.max_seq_length;
            config.lowercase = raw.do_lower_case;
        }
        if config.max_seq_length.is_none() {
            config.max_seq_length = tokenizer_max_length(&dir.join("tokenizer_config.json"))?;
        }
        let modules_path = dir.join("modules.json");
        if !modules_path.is_file() {
            return Ok(config);
        }
        let modules: Vec<ModuleEntry> = read_json(&modules_path)?;
        let kinds: Vec<&str> = modules
            .iter()
            .map(|m| m.kind.rsplit('.').next().unwrap_or_default())
            .collect();
        let unsupported = |message: String| Error::Unsupported {
            path: modules_path.clone(),
            message,
        };
        match kinds.as_slice() {
            ["Transformer", "Pooling"] | ["Transformer", "Pooling", "Normalize"] => {}
            _ => {
                return Err(unsupported(format!(
                    "module types {kinds:?} are not supported; expected Transformer, Pooling and optionally Normalize, in that order"
                )))
            }
        }
        if !modules[0].path.is_empty() {
            return Err(unsupported(format!(
                "the Transformer module lives in {:?}; only a Transformer at the model root is supported",
                modules[0].path
            )));
        }
        config.pooling = Pooling::from_file(&module_file(dir, &modules[1].path, "config.json")?)?;
        config.normalize = kinds.len() == 3;
        Ok(config)
    }
}

/// The named prompts of `config_sentence_transformers.json` (a missing file or key means none).
/// A `default_prompt_name` that names no prompt is an error, as in sentence-transformers.
fn read_prompts(path: &Path, config: &mut SentenceConfig) -> Result<()> {
    if !path.is_file() {
        return Ok(());
    }
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        prompts: BTreeMap<String, String>,
        default_prompt_name: Option<String>,
    }
    let raw: Raw = read_json(path)?;
    if let Some(name) = &raw.default_prompt_name {
        if !raw.prompts.contains_key(name) {
            return Err(Error::Unsupported {
                path: path.to_owned(),
                message: format!(
                    "default_prompt_name {name:?} is not one of the prompts {:?}",
                    raw.prompts.keys().collect::<Vec<_>>()
                ),
            });
        }
    }
    config.prompts = raw.prompts;
    config.default_prompt_name = raw.default_prompt_name;
    Ok(())
}

/// `model_max_length` from `tokenizer_config.json`, which sentence-transformers falls back to
/// (capped by the position embeddings) when `sentence_bert_config.json` gives no length.
/// Transformers writes a huge sentinel (about 1e30) for "no limit"; that counts as none.
fn tokenizer_max_length(path: &Path) -> Result<Option<usize>> {
    if !path.is_file() {
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct Raw {
        model_max_length: Option<f64>,
    }
    let raw: Raw = read_json(path)?;
    Ok(raw
        .model_max_length
        .filter(|&n| n >= 1.0 && n <= MAX_POSITIONS as f64)
        .map(|n| n as usize))
}

/// `dir/module_path/file`, refusing module paths that leave the model directory.
fn module_file(dir: &Path, module_path: &str, file: &str) -> Result<PathBuf> {
    let relative = Path::new(module_path);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::Unsupported {
            path: dir.join("modules.json"),
            message: format!("module path {module_path:?} leaves the model directory"),
        });
    }
    Ok(dir.join(relative).join(file))
}

/// Reads and parses a JSON file, with errors that name it.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads a whole file; a missing one is [`Error::MissingFile`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| io_error(path, source))
}

/// Maps an I/O error on `path` to [`Error::MissingFile`] or [`Error::Io`].
pub(crate) fn io_error(path: &Path, source: std::io::Error) -> Error {
    if source.kind() == std::io::ErrorKind::NotFound {
        Error::MissingFile(path.to_owned())
    } else {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}
