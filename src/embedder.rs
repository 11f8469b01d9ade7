//! The public API: load a model once, embed texts many times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use minilm_kernels::team::{Team, TeamGuard};
use minilm_kernels::{Isa, Kernels, TaskRunner};

use crate::calibrate::{builtin_texts, Smoothing, AT_LOAD_TEXTS};
use crate::config::{BertConfig, Pooling, SentenceConfig};
use crate::error::{Error, Result};
use crate::long_text::{
    chunk_pieces_needed, weighted_mean, windows, LongText, LongTextReport, DEFAULT_MAX_CHUNKS,
};
use crate::model::bert::{Activations, Bert, Dense, Tap, TokenBatch};
use crate::pool::pool_sequence;
use crate::tokenize::{TextTokenizer, Tokens};
use crate::weights::WeightFile;

/// How long the embedder's worker threads spin after a parallel region before they park: longer
/// than the gaps between the regions of a forward pass and between back-to-back passes, short
/// enough that an idle embedder costs no CPU within a fraction of a millisecond.
const TEAM_SPIN: Duration = Duration::from_micros(200);

/// How an [`Embedder`] runs. Start from [`Options::default`] and override what you need.
///
/// ```
/// let options = minilm::Options::default().threads(2).batch_size(16).max_length(128);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    threads: Option<usize>,
    batch_size: usize,
    batch_tokens: usize,
    max_length: Option<usize>,
    isa: Option<Isa>,
    precision: Option<Precision>,
    long_text: LongText,
    max_chunks: usize,
}

/// The arithmetic of the dense layers (four per encoder layer, 98% of the model's work).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Precision {
    /// f32 throughout: the same embeddings as sentence-transformers (cosine >= 0.99999).
    #[default]
    F32,
    /// int8 weights (symmetric, per output channel, quantised at load) and int8 activations
    /// (asymmetric, per token, quantised on the fly); embeddings, LayerNorm, softmax, GELU and
    /// attention stay f32. Several times faster dense layers; embeddings within cosine ~0.996
    /// of f32 (`kernels/DESIGN.md`, "int8", has the measured quality).
    Int8,
}

impl Precision {
    /// `f32` or `int8`.
    ///
    /// ```
    /// use minilm::Precision;
    /// assert_eq!(Precision::Int8.name(), "int8");
    /// assert_eq!("fp32".parse::<Precision>()?, Precision::F32);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;

    fn from_str(name: &str) -> Result<Precision> {
        match name.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Ok(Precision::F32),
            "int8" | "i8" => Ok(Precision::Int8),
            _ => Err(Error::InvalidOption(format!(
                "unknown precision {name:?} (expected f32 or int8)"
            ))),
        }
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: None,
            batch_size: 32,
            batch_tokens: 8192,
            max_length: None,
            isa: None,
            precision: None,
            long_text: LongText::Truncate,
            max_chunks: DEFAULT_MAX_CHUNKS,
        }
    }
}

impl Options {
    /// Threads of the embedder's private pool (default: the machine's available parallelism).
    ///
    /// ```
    /// let options = minilm::Options::default().threads(1);
    /// let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &options)?;
    /// assert_eq!(embedder.threads(), 1);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> Options {
        self.threads = Some(threads);
        self
    }

    /// Texts per forward pass when embedding many (default 32).
    ///
    /// ```
    /// let options = minilm::Options::default().batch_size(8);
    /// let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &options)?;
    /// assert_eq!(embedder.batch_size(), 8);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn batch_size(mut self, batch_size: usize) -> Options {
        self.batch_size = batch_size;
        self
    }

    /// Token budget of one forward pass (default 8192): a batch closes before the text that
    /// would take it over, so the activations held at once (about 9 KiB per token for
    /// all-MiniLM-L6-v2) stay bounded whatever the texts' lengths. A single text longer than the
    /// budget still runs, alone.
    ///
    /// ```
    /// // At most 512 tokens per forward pass: many short texts still share one.
    /// let options = minilm::Options::default().batch_tokens(512);
    /// let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &options)?;
    /// assert_eq!(embedder.embed_batch(&["one", "two", "three"])?.len(), 3);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn batch_tokens(mut self, batch_tokens: usize) -> Options {
        self.batch_tokens = batch_tokens;
        self
    }

    /// Longest input in tokens, \[CLS\] and \[SEP\] included; longer texts are truncated (default:
    /// the model's `max_seq_length`, 256 for all-MiniLM-L6-v2).
    ///
    /// ```
    /// let options = minilm::Options::default().max_length(8);
    /// let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &options)?;
    /// let ids = embedder.token_ids("a sentence far longer than eight word pieces, truncated")?;
    /// assert_eq!(ids.len(), 8); // [CLS], six word pieces, [SEP]
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn max_length(mut self, max_length: usize) -> Options {
        self.max_length = Some(max_length);
        self
    }

    /// Forces a kernel path instead of the detected one (which honours `MINILM_ISA`).
    ///
    /// ```
    /// use minilm::{Embedder, Isa, Options};
    /// let embedder = Embedder::from_dir(minilm::default_model_dir()?, &Options::default().isa(Isa::Scalar))?;
    /// assert_eq!(embedder.isa(), Isa::Scalar);
    /// // A path this CPU cannot run is an error, not a crash.
    /// # #[cfg(target_arch = "x86_64")]
    /// assert!(Embedder::from_dir(minilm::default_model_dir()?, &Options::default().isa(Isa::Neon)).is_err());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn isa(mut self, isa: Isa) -> Options {
        self.isa = Some(isa);
        self
    }

    /// The dense layers' arithmetic. Default: the model file's — [`Precision::F32`] for an f32
    /// (or f16) file, quantising nothing; [`Precision::Int8`] for a file written by
    /// [`crate::quantize_model`]. `Int8` on an f32 file quantises its weights at load, smoothed
    /// with factors calibrated on 32 built-in sentences (an f32 pass over them at load, at this
    /// embedder's `max_length`; at the model's own maximum length, as by default, the same as
    /// [`crate::quantize_model`] with [`crate::Calibration::AtLoad`]); `F32` on an int8 file is
    /// an error.
    ///
    /// ```
    /// use minilm::{Embedder, Options, Precision};
    /// let int8 = Embedder::from_dir(minilm::default_model_dir()?, &Options::default().precision(Precision::Int8))?;
    /// assert_eq!(int8.precision(), Precision::Int8);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn precision(mut self, precision: Precision) -> Options {
        self.precision = Some(precision);
        self
    }

    /// What to do with texts longer than `max_length` tokens (default [`LongText::Truncate`], as
    /// sentence-transformers does). Whatever the mode, a text costs time and memory in
    /// proportion to what is embedded of it, not to its size in bytes: only as much of it is
    /// tokenised as that needs.
    ///
    /// ```
    /// use minilm::{Embedder, LongText, Options};
    /// let options = Options::default().max_length(16).long_text(LongText::Chunk { overlap: 4 });
    /// let embedder = Embedder::from_dir(minilm::default_model_dir()?, &options)?;
    /// let long = "Windows of fourteen word pieces, each sharing four with the next. ".repeat(5);
    /// let mut out = vec![0.0f32; embedder.dim()];
    /// let report = embedder.embed_batch_into(&[long], &mut out)?;
    /// assert_eq!((report.chunked, report.truncated), (1, 0));
    /// // LongText::Error refuses the text instead, naming it.
    /// let strict = Embedder::from_dir(minilm::default_model_dir()?, &options.long_text(LongText::Error))?;
    /// assert!(matches!(strict.embed(&"word ".repeat(20)), Err(minilm::Error::TextTooLong { index: 0, .. })));
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn long_text(mut self, long_text: LongText) -> Options {
        self.long_text = long_text;
        self
    }

    /// Windows one text may take in [`LongText::Chunk`] mode (default
    /// [`crate::DEFAULT_MAX_CHUNKS`]); the rest of a longer text is cut, and counted in
    /// [`LongTextReport::truncated`]. Bounds what one text can cost.
    ///
    /// ```
    /// let options = minilm::Options::default().max_chunks(8);
    /// # let _ = options;
    /// ```
    pub fn max_chunks(mut self, max_chunks: usize) -> Options {
        self.max_chunks = max_chunks;
        self
    }
}

/// How one call embeds: the embedder's own settings, or a server request's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallOptions {
    pub long_text: LongText,
    /// L2-normalise the vectors (the model's Normalize module, or a request's choice).
    pub normalize: bool,
}

/// What became of one text of a call: the tokens the model ran for it and whether it was cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextOutcome {
    pub windows: usize,
    pub tokens: usize,
    pub truncated: bool,
}

/// One text, tokenised and cut as the long-text mode says: one sequence, or several windows.
struct Planned {
    sequences: Vec<Tokens>,
    /// Word pieces of each window (empty for a single sequence).
    weights: Vec<usize>,
    truncated: bool,
}

/// A loaded sentence-embedding model. Share one across threads: it is `Send + Sync`, and each
/// call runs on the calling thread and the embedder's own worker threads (a
/// [`Team`](minilm_kernels::team::Team) of `threads - 1` workers that spin briefly between
/// parallel regions, then park), never on a global pool. Concurrent callers take turns, one
/// batch at a time, so no more than `threads` threads ever compute.
///
/// ```
/// use minilm::{Embedder, Options};
///
/// let embedder = Embedder::from_dir(minilm::default_model_dir()?, &Options::default())?;
/// let vectors = embedder.embed_batch(&["A man is eating food.", "A man is eating pasta."])?;
/// let cosine: f32 = vectors[0].iter().zip(&vectors[1]).map(|(a, b)| a * b).sum();
/// assert!(cosine > 0.5);
/// # Ok::<(), minilm::Error>(())
/// ```
pub struct Embedder {
    bert: Bert,
    tokenizer: TextTokenizer,
    sentence: SentenceConfig,
    max_length: usize,
    batch_size: usize,
    batch_tokens: usize,
    long_text: LongText,
    max_chunks: usize,
    team: Team,
    /// Buffers of finished passes, reused by later ones (one per concurrent caller at most).
    spare: Mutex<Vec<PassBuffers>>,
    /// The kernels' workspace peak every pool thread has been grown to (see
    /// [`Embedder::reserve_workspace`]).
    workspace_reserved: AtomicUsize,
    model_dir: PathBuf,
}

/// What one forward pass works in: the batch's tokens and the activations.
#[derive(Default)]
struct PassBuffers {
    batch: TokenBatch,
    act: Activations,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_dir", &self.model_dir)
            .field("dim", &self.dim())
            .field("max_length", &self.max_length)
            .field("threads", &self.threads())
            .field("isa", &self.isa())
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads a sentence-transformers model directory: `config.json`, `model.safetensors`,
    /// `tokenizer.json`, and (when present) `modules.json`, the pooling config and
    /// `sentence_bert_config.json`.
    ///
    /// ```
    /// use minilm::{Embedder, Error, Options};
    /// let embedder = Embedder::from_dir(minilm::default_model_dir()?, &Options::default())?;
    /// assert_eq!(embedder.dim(), 384);
    /// // A missing or broken directory is an error naming what is wrong.
    /// let missing = Embedder::from_dir("/no/such/model", &Options::default());
    /// assert!(matches!(missing, Err(Error::ModelNotFound { .. })));
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>, options: &Options) -> Result<Embedder> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::ModelNotFound {
                tried: vec![format!("directory {} (does not exist)", dir.display())],
            });
        }
        if options.batch_size == 0 {
            return Err(Error::InvalidOption("batch size must be at least 1".into()));
        }
        if options.batch_tokens == 0 {
            return Err(Error::InvalidOption(
                "batch token budget must be at least 1".into(),
            ));
        }
        let threads = match options.threads {
            Some(0) => {
                return Err(Error::InvalidOption(
                    "thread count must be at least 1".into(),
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let kernels = match options.isa {
            Some(isa) => Kernels::for_isa(isa)?,
            None => Kernels::detect()?,
        };

        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let sentence = SentenceConfig::from_dir(dir)?;
        let model_limit = config.max_position_embeddings;
        let max_length = match options.max_length {
            Some(0) => {
                return Err(Error::InvalidOption(
                    "max length must be at least 1 token".into(),
                ))
            }
            Some(n) if n > model_limit => {
                return Err(Error::InvalidOption(format!(
                    "max length {n} exceeds the model's {model_limit} position embeddings"
                )))
            }
            Some(n) => n,
            None => sentence
                .max_seq_length
                .unwrap_or(model_limit)
                .min(model_limit),
        };
        if options.max_chunks == 0 {
            return Err(Error::InvalidOption("max chunks must be at least 1".into()));
        }
        let weights = WeightFile::open(&dir.join("model.safetensors"))?;
        let tensors = weights.tensors()?;
        // int8 on an f32 file is calibrated (SmoothQuant, `calibrate.rs`): the f32 model loads
        // first and runs over a few built-in texts, then the weights are quantised with the
        // factors that gives.
        let calibrate = options.precision == Some(Precision::Int8) && !tensors.is_quantized();
        let precision = if calibrate {
            Some(Precision::F32)
        } else {
            options.precision
        };
        // The tokenizer (JSON parsing) and the weights (conversion and packing) load on two
        // threads: together they are most of the cold start.
        let tokenizer_path = dir.join("tokenizer.json");
        let (tokenizer, bert) = std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| {
                TextTokenizer::from_file(&tokenizer_path, max_length, sentence.lowercase)
            });
            let bert = Bert::load(&config, &tensors, kernels, precision, None);
            let tokenizer = tokenizer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (tokenizer, bert)
        });
        let (tokenizer, bert) = (tokenizer?, bert?);
        let width = max_length - tokenizer.specials();
        if let LongText::Chunk { overlap } = options.long_text {
            if overlap >= width {
                return Err(Error::InvalidOption(format!(
                    "chunk overlap {overlap} must be less than the {width} word pieces of a window"
                )));
            }
        }
        let team = Team::new(threads, "minilm", TEAM_SPIN)
            .map_err(|e| Error::ThreadPool(e.to_string()))?;
        let mut embedder = Embedder {
            bert,
            tokenizer,
            sentence,
            max_length,
            batch_size: options.batch_size,
            batch_tokens: options.batch_tokens,
            long_text: options.long_text,
            max_chunks: options.max_chunks,
            team,
            spare: Mutex::new(Vec::new()),
            workspace_reserved: AtomicUsize::new(0),
            model_dir: dir.to_owned(),
        };
        if calibrate {
            let builtin = builtin_texts();
            let texts: Vec<&str> = builtin[..AT_LOAD_TEXTS]
                .iter()
                .map(String::as_str)
                .collect();
            let smoothing = Smoothing::calibrate(&embedder, &tensors, &config, &texts)?;
            embedder.bert = Bert::load(
                &config,
                &tensors,
                kernels,
                Some(Precision::Int8),
                Some(&smoothing),
            )?;
        }
        Ok(embedder)
    }

    /// Downloads (or finds in the Hugging Face cache) a model by Hub id, e.g.
    /// `sentence-transformers/all-MiniLM-L6-v2`, optionally pinned as `id@revision`, and loads it.
    /// `HF_HOME` and `HF_HUB_OFFLINE` are honoured.
    ///
    /// ```no_run
    /// // Needs the Hub (or the model in the Hugging Face cache): not run as a test.
    /// let bge = minilm::Embedder::from_hub("BAAI/bge-small-en-v1.5", &minilm::Options::default())?;
    /// let pinned = minilm::Embedder::from_hub(
    ///     "sentence-transformers/all-MiniLM-L6-v2@main",
    ///     &minilm::Options::default(),
    /// )?;
    /// # Ok::<(), minilm::Error>(())
    /// ```
    #[cfg(feature = "hub")]
    pub fn from_hub(model_id: &str, options: &Options) -> Result<Embedder> {
        Embedder::from_dir(crate::hub::download(model_id)?, options)
    }

    /// The embedding of one text. A model whose `config_sentence_transformers.json` names a
    /// `default_prompt_name` gets that prompt in front of every text, as in
    /// sentence-transformers' `encode` (see [`Embedder::default_prompt`]).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let v = embedder.embed("The quick brown fox jumps over the lazy dog.")?;
    /// assert_eq!(v.len(), embedder.dim());
    /// let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    /// assert!((norm - 1.0).abs() < 1e-5); // all-MiniLM-L6-v2 normalises
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut vectors = self.embed_batch(&[text])?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// The embeddings of `texts`, in order. Texts are tokenised [`Options::batch_size`] at a
    /// time and run in forward passes of at most that many texts and
    /// [`Options::batch_tokens`] tokens. A text's embedding does not depend on the other texts.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let texts = vec!["first text".to_string(), "second text".to_string()];
    /// let vectors = embedder.embed_batch(&texts)?;
    /// assert_eq!(vectors.len(), 2);
    /// assert_eq!(vectors[1], embedder.embed("second text")?); // independent of the batch
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        self.embed_batch_prompted(self.default_prompt(), texts)
    }

    /// [`Embedder::embed_batch`] into a caller's buffer: `out` receives `texts.len()` rows of
    /// [`Embedder::dim`] floats. Returns what was done with texts longer than the model reads
    /// at once (see [`Options::long_text`]).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let mut out = vec![0.0f32; 2 * embedder.dim()]; // reuse it across calls
    /// embedder.embed_batch_into(&["first", "second"], &mut out)?;
    /// assert_eq!(&out[embedder.dim()..], &embedder.embed("second")?[..]);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_into<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        self.embed_prompted_into(self.default_prompt(), texts, self.call_options(), out)
    }

    /// The embedding of `prompt` followed by `text`, the way sentence-transformers'
    /// `encode(text, prompt=...)` computes it: the two are joined as they are (no space added)
    /// and tokenised together. Retrieval models ask for one on one side: bge-small-en-v1.5 on
    /// queries, the e5 models `"query: "` and `"passage: "`. A model's named prompts are in
    /// [`Embedder::prompts`]. The default prompt is not added; an empty `prompt` adds nothing.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &Default::default())?;
    /// let query = embedder.embed_with_prompt("query: ", "how do I bake bread")?;
    /// assert_eq!(query, embedder.embed("query: how do I bake bread")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_with_prompt(&self, prompt: &str, text: &str) -> Result<Vec<f32>> {
        let mut vectors = self.embed_batch_with_prompt(prompt, &[text])?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// [`Embedder::embed_with_prompt`] for many texts, each with the same prompt.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let passages = embedder.embed_batch_with_prompt("passage: ", &["Bread needs flour.", "Stocks fell."])?;
    /// assert_eq!(passages[0], embedder.embed("passage: Bread needs flour.")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_with_prompt<S: AsRef<str> + Sync>(
        &self,
        prompt: &str,
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>> {
        self.embed_batch_prompted(Some(prompt), texts)
    }

    /// [`Embedder::embed_batch_with_prompt`] into a caller's buffer, as
    /// [`Embedder::embed_batch_into`].
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let mut out = vec![0.0f32; embedder.dim()];
    /// embedder.embed_batch_with_prompt_into("query: ", &["bread"], &mut out)?;
    /// assert_eq!(out, embedder.embed_with_prompt("query: ", "bread")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_batch_with_prompt_into<S: AsRef<str> + Sync>(
        &self,
        prompt: &str,
        texts: &[S],
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        self.embed_prompted_into(Some(prompt), texts, self.call_options(), out)
    }

    /// The model's named prompts, from `config_sentence_transformers.json` (empty when it has
    /// none).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// for (name, text) in embedder.prompts() {
    ///     println!("prompt {name}: {text:?}");
    /// }
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn prompts(&self) -> &BTreeMap<String, String> {
        &self.sentence.prompts
    }

    /// The text of the named prompt, if the model has it.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &Default::default())?;
    /// // all-MiniLM-L6-v2 needs no prompt, so it names none.
    /// assert_eq!(embedder.prompt("query"), None);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn prompt(&self, name: &str) -> Option<&str> {
        self.sentence.prompts.get(name).map(String::as_str)
    }

    /// The prompt [`Embedder::embed`] and [`Embedder::embed_batch`] put in front of every text:
    /// the one `default_prompt_name` names, if the model sets it.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.default_prompt(), None); // all-MiniLM-L6-v2 sets none
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn default_prompt(&self) -> Option<&str> {
        let name = self.sentence.default_prompt_name.as_deref()?;
        self.prompt(name)
    }

    fn embed_batch_prompted<S: AsRef<str> + Sync>(
        &self,
        prompt: Option<&str>,
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>> {
        let dim = self.dim();
        let mut flat = vec![0.0; texts.len() * dim];
        self.embed_prompted_into(prompt, texts, self.call_options(), &mut flat)?;
        Ok(flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// The embedder's own call settings.
    pub(crate) fn call_options(&self) -> CallOptions {
        CallOptions {
            long_text: self.long_text,
            normalize: self.sentence.normalize,
        }
    }

    /// Embeds `texts`, each after `prompt`, into `out` as `call` says.
    pub(crate) fn embed_prompted_into<S: AsRef<str> + Sync>(
        &self,
        prompt: Option<&str>,
        texts: &[S],
        call: CallOptions,
        out: &mut [f32],
    ) -> Result<LongTextReport> {
        self.embed_prompted_outcomes(prompt, texts, call, out, &mut |_| {})
    }

    /// [`Embedder::embed_prompted_into`], telling `outcome` what became of each text in turn.
    pub(crate) fn embed_prompted_outcomes<S: AsRef<str> + Sync>(
        &self,
        prompt: Option<&str>,
        texts: &[S],
        call: CallOptions,
        out: &mut [f32],
        outcome: &mut dyn FnMut(TextOutcome),
    ) -> Result<LongTextReport> {
        self.check_output(texts.len(), out)?;
        let dim = self.dim();
        let mut pass = self.take_buffers();
        let mut report = LongTextReport::default();
        let mut result = Ok(());
        for (chunk_index, chunk) in texts.chunks(self.batch_size).enumerate() {
            let first = chunk_index * self.batch_size;
            let team = self.team.lock();
            result = self
                .tokenize_texts(&team, prompt, chunk, first, call.long_text)
                .map(|planned| {
                    let rows = &mut out[first * dim..(first + chunk.len()) * dim];
                    self.run_planned(&team, &mut pass, &planned, call.normalize, rows);
                    for (i, text) in planned.iter().enumerate() {
                        let tokens = text.sequences.iter().map(|t| t.ids.len()).sum();
                        report.record(first + i, text.sequences.len(), tokens, text.truncated);
                        outcome(TextOutcome {
                            windows: text.sequences.len(),
                            tokens,
                            truncated: text.truncated,
                        });
                    }
                });
            if result.is_err() {
                break;
            }
        }
        self.return_buffers(pass);
        result.map(|()| report)
    }

    /// Embeds planned texts into `out`, one row each: texts of one sequence straight into their
    /// row, windows of chunked texts into a scratch buffer, then averaged.
    fn run_planned(
        &self,
        team: &TeamGuard<'_>,
        pass: &mut PassBuffers,
        planned: &[Planned],
        normalize: bool,
        out: &mut [f32],
    ) {
        if planned.iter().all(|text| text.sequences.len() == 1) {
            let sequence = |i: usize| {
                let tokens = &planned[i].sequences[0];
                (&tokens.ids[..], Some(&tokens.type_ids[..]))
            };
            self.run_passes(team, pass, planned.len(), &sequence, &|_| normalize, out);
            return;
        }
        let dim = self.dim();
        // Window k of the call belongs to text owner[k]; a text of one window is pooled (and
        // normalised) as in the one-sequence case, so it gets the same vector.
        let mut owner = Vec::new();
        let mut windows: Vec<&Tokens> = Vec::new();
        for (t, text) in planned.iter().enumerate() {
            owner.extend(std::iter::repeat_n(t, text.sequences.len()));
            windows.extend(&text.sequences);
        }
        let sequence = |k: usize| (&windows[k].ids[..], Some(&windows[k].type_ids[..]));
        let single = |k: usize| planned[owner[k]].sequences.len() == 1;
        let mut rows = vec![0.0f32; windows.len() * dim];
        self.run_passes(
            team,
            pass,
            windows.len(),
            &sequence,
            &|k| normalize && single(k),
            &mut rows,
        );
        let mut next = 0;
        for (text, row) in planned.iter().zip(out.chunks_exact_mut(dim.max(1))) {
            let count = text.sequences.len();
            let window_rows = &rows[next * dim..(next + count) * dim];
            next += count;
            if count == 1 {
                row.copy_from_slice(window_rows);
                continue;
            }
            weighted_mean(window_rows, &text.weights, row);
            if normalize {
                self.bert.kernels().l2_normalize(row);
            }
        }
    }

    /// Embeddings of texts given as token ids (each as [`Embedder::token_ids`] returns them:
    /// `\[CLS\] … \[SEP\]`, at most [`Embedder::max_length`] ids, token type 0) into `out`,
    /// `sequences.len()` rows of [`Embedder::dim`] floats. For callers that tokenise once and
    /// embed often: once the embedder has run a batch at least as large, a call allocates
    /// nothing.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let ids = embedder.token_ids("tokenised once, embedded often")?;
    /// let mut out = vec![0.0f32; embedder.dim()];
    /// embedder.embed_token_ids_into(&[&ids], &mut out)?;
    /// assert_eq!(out, embedder.embed("tokenised once, embedded often")?);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn embed_token_ids_into(&self, sequences: &[&[u32]], out: &mut [f32]) -> Result<()> {
        self.check_output(sequences.len(), out)?;
        for (index, ids) in sequences.iter().enumerate() {
            self.check_ids(ids, &[], index)?;
        }
        let dim = self.dim();
        let mut pass = self.take_buffers();
        for (chunk_index, chunk) in sequences.chunks(self.batch_size).enumerate() {
            let first = chunk_index * self.batch_size;
            let sequence = |i: usize| (chunk[i], None);
            let rows = &mut out[first * dim..(first + chunk.len()) * dim];
            let normalize = self.sentence.normalize;
            self.run_passes(
                &self.team.lock(),
                &mut pass,
                chunk.len(),
                &sequence,
                &|_| normalize,
                rows,
            );
        }
        self.return_buffers(pass);
        Ok(())
    }

    /// Embeds `count` checked sequences (ids, and type ids or `None` for all 0) into `out`, in
    /// forward passes within the token budget; `normalize(i)` says whether sequence `i`'s
    /// vector is L2-normalised.
    fn run_passes<'a>(
        &self,
        team: &TeamGuard<'_>,
        pass: &mut PassBuffers,
        count: usize,
        sequence: &(dyn Fn(usize) -> (&'a [u32], Option<&'a [u32]>) + Sync),
        normalize: &dyn Fn(usize) -> bool,
        out: &mut [f32],
    ) {
        let dim = self.dim();
        let h = self.bert.config().hidden_size;
        let mut next = 0;
        while next < count {
            let start = next;
            pass.batch.clear();
            while next < count
                && (next == start
                    || pass.batch.ids.len() + sequence(next).0.len() <= self.batch_tokens)
            {
                let (ids, type_ids) = sequence(next);
                pass.batch.push(ids, type_ids);
                next += 1;
            }
            let PassBuffers { batch, act } = &mut *pass;
            self.bert.forward(batch, act, team, &mut |_, _| {});
            self.reserve_workspace(team);
            let rows = out[start * dim..next * dim].chunks_exact_mut(dim.max(1));
            for (i, (range, vector)) in batch.sequences.iter().zip(rows).enumerate() {
                pool_sequence(
                    self.bert.kernels(),
                    self.sentence.pooling,
                    normalize(start + i),
                    &act.hidden[range.start * h..range.end * h],
                    h,
                    vector,
                );
            }
        }
    }

    /// Grows every pool thread's kernel workspace to the largest need met so far, when that has
    /// risen since the last time. Which thread runs which kernel task is up to the scheduler, so
    /// without this a thread could meet a larger task for the first time long after warm-up and
    /// allocate in the hot path. Costs two atomic loads (no write) when nothing has changed.
    fn reserve_workspace(&self, team: &TeamGuard<'_>) {
        let peak = minilm_kernels::workspace::peak();
        if peak > self.workspace_reserved.load(Ordering::Relaxed)
            && peak > self.workspace_reserved.fetch_max(peak, Ordering::Relaxed)
        {
            team.broadcast(&|_| minilm_kernels::workspace::reserve());
        }
    }

    fn check_output(&self, count: usize, out: &[f32]) -> Result<()> {
        if out.len() != count * self.dim() {
            return Err(Error::InvalidOption(format!(
                "output buffer holds {} floats; {count} embeddings of {} need {}",
                out.len(),
                self.dim(),
                count * self.dim()
            )));
        }
        Ok(())
    }

    /// Pass buffers from an earlier call, or new ones.
    fn take_buffers(&self) -> PassBuffers {
        self.spare
            .lock()
            .map(|mut spare| spare.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn return_buffers(&self, pass: PassBuffers) {
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(pass);
        }
    }

    /// The token ids the model sees for `text` (\[CLS\] … \[SEP\], truncated to the max length).
    /// No prompt is added, not even the default one.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.token_ids("Hello world")?, [101, 7592, 2088, 102]); // [CLS] hello world [SEP]
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenize_one(text, 0)?.ids)
    }

    /// The encoder's hidden states for `text`: the embedding layer's output, then each layer's,
    /// each `tokens x hidden` floats row-major. For inspection and parity checks.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let states = embedder.hidden_states("Hello world")?;
    /// assert_eq!(states.len(), 1 + embedder.config().num_layers); // embeddings, then 6 layers
    /// assert_eq!(states[0].len(), 4 * embedder.config().hidden_size); // 4 tokens
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn hidden_states(&self, text: &str) -> Result<Vec<Vec<f32>>> {
        let tokens = self.tokenize_one(text, 0)?;
        let mut batch = TokenBatch::default();
        batch.push(&tokens.ids, Some(&tokens.type_ids));
        let mut states = Vec::with_capacity(self.bert.config().num_layers + 1);
        let mut act = Activations::default();
        self.bert
            .forward(&batch, &mut act, &self.team.lock(), &mut |tap, rows| {
                if matches!(tap, Tap::Embeddings | Tap::LayerOutput { .. }) {
                    states.push(rows.to_vec());
                }
            });
        Ok(states)
    }

    /// For each encoder layer and each of its dense layers (in [`Dense::ALL`] order), the
    /// largest magnitude each input channel takes over the tokens of `texts`: the statistics
    /// SmoothQuant calibrates with.
    pub(crate) fn dense_input_maxima(&self, texts: &[&str]) -> Result<Vec<Vec<Vec<f32>>>> {
        let config = self.bert.config();
        let widths = [
            config.hidden_size,
            config.hidden_size,
            config.hidden_size,
            config.intermediate_size,
        ];
        let mut maxima: Vec<Vec<Vec<f32>>> = (0..config.num_layers)
            .map(|_| widths.iter().map(|&k| vec![0.0f32; k]).collect())
            .collect();
        let mut act = Activations::default();
        for chunk in texts.chunks(self.batch_size.max(1)) {
            let mut batch = TokenBatch::default();
            for (index, text) in chunk.iter().enumerate() {
                let tokens = self.tokenize_one(text, index)?;
                batch.push(&tokens.ids, Some(&tokens.type_ids));
            }
            let team = self.team.lock();
            self.bert
                .forward(&batch, &mut act, &team, &mut |tap, rows| {
                    let Tap::DenseInput { layer, dense } = tap else {
                        return;
                    };
                    let slot = Dense::ALL.iter().position(|&d| d == dense).unwrap_or(0);
                    let max = &mut maxima[layer][slot];
                    for row in rows.chunks_exact(max.len().max(1)) {
                        for (m, &x) in max.iter_mut().zip(row) {
                            *m = m.max(x.abs());
                        }
                    }
                });
        }
        Ok(maxima)
    }

    /// Length of each embedding.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.dim(), 384);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn dim(&self) -> usize {
        self.bert.config().hidden_size * self.sentence.pooling.modes()
    }

    /// Longest input in tokens (\[CLS\] and \[SEP\] included).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.max_length(), 256); // all-MiniLM-L6-v2's max_seq_length
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Threads in the embedder's private pool.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert!(embedder.threads() >= 1);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.team.threads()
    }

    /// What is done with texts longer than [`Embedder::max_length`].
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.long_text(), minilm::LongText::Truncate); // the default
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn long_text(&self) -> LongText {
        self.long_text
    }

    /// Windows one text may take in [`LongText::Chunk`] mode.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.max_chunks(), minilm::DEFAULT_MAX_CHUNKS);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn max_chunks(&self) -> usize {
        self.max_chunks
    }

    /// Texts per forward pass.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.batch_size(), 32); // the default
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The kernel path in use.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// println!("running on the {} path", embedder.isa().name());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn isa(&self) -> Isa {
        self.bert.kernels().isa()
    }

    /// How the f32 GEMM runs on this CPU: the main register tile, the cache sizes detected at
    /// run time and the blocking derived from them, e.g. `tile 6x16, L1d 32 KiB, L2 512 KiB, L3
    /// 32 MiB (cpuid), kc 448, weight blocks 256 KiB, A blocks 128 KiB`. For logs and benches.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert!(embedder.gemm_blocking().starts_with("tile "));
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn gemm_blocking(&self) -> String {
        let kernels = self.bert.kernels();
        let (rows, cols) = kernels.gemm_tile();
        let b = kernels.gemm_blocking();
        format!(
            "tile {rows}x{cols}, {}, kc {}, weight blocks {} KiB, A blocks {} KiB",
            minilm_kernels::CacheSizes::detect(),
            b.kc,
            b.weight_block_bytes >> 10,
            b.a_block_bytes >> 10
        )
    }

    /// A descriptive name of the kernel path, e.g. `x86_64-f32-scalar`, for logs.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// println!("{}", embedder.kernel_name()); // e.g. x86_64-f32-avx512-vnni
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn kernel_name(&self) -> String {
        let kernels = self.bert.kernels();
        match self.bert.precision() {
            Precision::F32 => kernels.name(),
            precision => format!(
                "{}-{}-{}",
                std::env::consts::ARCH,
                precision.name(),
                kernels.isa()
            ),
        }
    }

    /// The dense layers' arithmetic.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.precision(), minilm::Precision::F32);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn precision(&self) -> Precision {
        self.bert.precision()
    }

    /// The pooling modes the model uses.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.pooling(), minilm::Pooling::MEAN);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn pooling(&self) -> Pooling {
        self.sentence.pooling
    }

    /// Whether embeddings are L2-normalised (the model has a `Normalize` module).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert!(embedder.normalizes());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn normalizes(&self) -> bool {
        self.sentence.normalize
    }

    /// The BERT hyper-parameters.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// let config = embedder.config();
    /// assert_eq!((config.num_layers, config.hidden_size, config.num_heads), (6, 384, 12));
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn config(&self) -> &BertConfig {
        self.bert.config()
    }

    /// The directory the model was loaded from.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert!(embedder.model_dir().join("config.json").is_file());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    /// `text` as the model reads it in truncate mode: its first word pieces, checked.
    fn tokenize_one(&self, text: &str, index: usize) -> Result<Tokens> {
        let planned = self.plan_text(None, text, index, LongText::Truncate)?;
        Ok(planned.sequences.into_iter().next().unwrap_or_default())
    }

    /// The tokens of `prompt` + `text` with their text and offsets (see
    /// `TextTokenizer::token_details`).
    #[cfg(feature = "server")]
    pub(crate) fn token_details(
        &self,
        prompt: Option<&str>,
        text: &str,
        special: bool,
        index: usize,
    ) -> Result<Vec<crate::tokenize::TokenDetail>> {
        self.tokenizer
            .token_details(prompt, text, self.max_length, special, index)
    }

    /// Word pieces the model reads at once: `max_length` less the special tokens.
    fn window_width(&self) -> usize {
        self.max_length - self.tokenizer.specials()
    }

    /// `prompt` and `text` tokenised and cut as the long-text mode says.
    fn plan_text(
        &self,
        prompt: Option<&str>,
        text: &str,
        index: usize,
        long_text: LongText,
    ) -> Result<Planned> {
        let width = self.window_width();
        let (need, overlap) = match long_text {
            LongText::Chunk { overlap } => (
                chunk_pieces_needed(width, overlap, self.max_chunks),
                overlap,
            ),
            _ => (width + 1, 0),
        };
        let pieces = self.tokenizer.pieces(prompt, text, Some(need), index)?;
        let ids = &pieces.ids;
        let mut planned = Planned {
            sequences: Vec::new(),
            weights: Vec::new(),
            truncated: ids.len() > width || pieces.capped,
        };
        match long_text {
            LongText::Chunk { .. } if ids.len() > width => {
                let spans = windows(ids.len(), width, overlap, self.max_chunks);
                planned.truncated =
                    spans.last().is_some_and(|last| last.end < ids.len()) || pieces.capped;
                for span in spans {
                    planned.weights.push(span.len());
                    planned.sequences.push(self.tokenizer.sequence(&ids[span]));
                }
            }
            LongText::Error if planned.truncated => {
                // Count on, to a bound, to say how long the text is.
                let limit = chunk_pieces_needed(width, 0, DEFAULT_MAX_CHUNKS);
                let counted = self.tokenizer.pieces(prompt, text, Some(limit), index)?;
                return Err(Error::TextTooLong {
                    index,
                    tokens: counted.ids.len() + self.tokenizer.specials(),
                    exact: counted.complete && !counted.capped,
                    max_length: self.max_length,
                });
            }
            _ => {
                let tokens = self.tokenizer.sequence(&ids[..ids.len().min(width)]);
                planned.sequences.push(tokens);
            }
        }
        for tokens in &planned.sequences {
            self.check_ids(&tokens.ids, &tokens.type_ids, index)?;
        }
        Ok(planned)
    }

    /// The number of tokens `text` has without truncation, \[CLS\] and \[SEP\] included (no
    /// prompt added): what [`Embedder::token_ids`] would return with no length limit. More than
    /// [`Embedder::max_length`] means embedding it truncates (or chunks) it. Costs time in
    /// proportion to the text, memory in proportion to its word pieces.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.token_count("Hello world")?, 4); // [CLS] hello world [SEP]
    /// let long = "word ".repeat(1000);
    /// assert_eq!(embedder.token_count(&long)?, 1002);
    /// assert_eq!(embedder.token_ids(&long)?.len(), 256); // what the model reads
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn token_count(&self, text: &str) -> Result<usize> {
        Ok(self.word_pieces(text)?.len() + self.tokenizer.specials())
    }

    /// All of `text`'s word piece ids, without special tokens or truncation (no prompt added),
    /// for callers that cut texts themselves. Each window `w` of them embeds with
    /// [`Embedder::embed_token_ids_into`] as `[CLS] w [SEP]` (ids 101 and 102 for
    /// all-MiniLM-L6-v2; [`Embedder::token_ids`] of an empty text gives them).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.word_pieces("Hello world")?, [7592, 2088]);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn word_pieces(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.pieces(None, text, None, 0)?.ids)
    }

    /// Errors unless the model can embed `ids` (with `type_ids`, or all type 0 when empty):
    /// every id inside the vocabulary and token types, at most `max_length` of them.
    fn check_ids(&self, ids: &[u32], type_ids: &[u32], index: usize) -> Result<()> {
        let config = self.bert.config();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= config.vocab_size) {
            return Err(Error::Tokenize {
                index,
                message: format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    config.vocab_size
                ),
            });
        }
        if !type_ids.is_empty() && type_ids.len() != ids.len() {
            return Err(Error::Tokenize {
                index,
                message: "token type ids do not match the token ids".into(),
            });
        }
        if let Some(&id) = type_ids
            .iter()
            .find(|&&id| id as usize >= config.type_vocab_size)
        {
            return Err(Error::Tokenize {
                index,
                message: format!(
                    "token type id {id} is outside the model's {} types",
                    config.type_vocab_size
                ),
            });
        }
        if ids.len() > self.max_length {
            return Err(Error::Tokenize {
                index,
                message: format!("{} tokens; the limit is {}", ids.len(), self.max_length),
            });
        }
        Ok(())
    }

    /// Tokenises `texts` on the team (in contiguous runs, several per thread, so texts of
    /// uneven length still spread); `first` is the caller's index of `texts[0]`.
    fn tokenize_texts<S: AsRef<str> + Sync>(
        &self,
        team: &TeamGuard<'_>,
        prompt: Option<&str>,
        texts: &[S],
        first: usize,
        long_text: LongText,
    ) -> Result<Vec<Planned>> {
        let tokenize = |i: usize| self.plan_text(prompt, texts[i].as_ref(), first + i, long_text);
        let tasks = texts.len().min(4 * team.threads()).max(1);
        if tasks == 1 {
            return (0..texts.len()).map(tokenize).collect();
        }
        let per_task = texts.len().div_ceil(tasks);
        let parts: Vec<Mutex<Vec<Result<Planned>>>> =
            (0..tasks).map(|_| Mutex::new(Vec::new())).collect();
        team.run(tasks, &|t| {
            let run = (t * per_task).min(texts.len())..((t + 1) * per_task).min(texts.len());
            let encoded = run.map(tokenize).collect();
            *parts[t].lock().unwrap_or_else(PoisonError::into_inner) = encoded;
        });
        parts
            .into_iter()
            .flat_map(|part| part.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }
}
