//! The public API: load a model once, embed texts many times.

use std::path::{Path, PathBuf};

use minilm_kernels::{Isa, Kernels};
use rayon::prelude::*;

use crate::config::{BertConfig, Pooling, SentenceConfig};
use crate::error::{Error, Result};
use crate::model::bert::{Bert, TokenBatch};
use crate::pool::pool_sequence;
use crate::tokenize::{TextTokenizer, Tokens};
use crate::weights::WeightFile;

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
    max_length: Option<usize>,
    isa: Option<Isa>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: None,
            batch_size: 32,
            max_length: None,
            isa: None,
        }
    }
}

impl Options {
    /// Threads of the embedder's private pool (default: the machine's available parallelism).
    pub fn threads(mut self, threads: usize) -> Options {
        self.threads = Some(threads);
        self
    }

    /// Texts per forward pass when embedding many (default 32).
    pub fn batch_size(mut self, batch_size: usize) -> Options {
        self.batch_size = batch_size;
        self
    }

    /// Longest input in tokens, [CLS] and [SEP] included; longer texts are truncated (default:
    /// the model's `max_seq_length`, 256 for all-MiniLM-L6-v2).
    pub fn max_length(mut self, max_length: usize) -> Options {
        self.max_length = Some(max_length);
        self
    }

    /// Forces a kernel path instead of the detected one (which honours `MINILM_ISA`).
    pub fn isa(mut self, isa: Isa) -> Options {
        self.isa = Some(isa);
        self
    }
}

/// A loaded sentence-embedding model. Share one across threads: it is `Send + Sync`, and each
/// call runs on the embedder's own thread pool, never on rayon's global one.
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
    pool: rayon::ThreadPool,
    model_dir: PathBuf,
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
        let tokenizer =
            TextTokenizer::from_file(&dir.join("tokenizer.json"), max_length, sentence.lowercase)?;
        let weights = WeightFile::open(&dir.join("model.safetensors"))?;
        let bert = Bert::load(&config, &weights.tensors()?, kernels)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("minilm-{i}"))
            .build()
            .map_err(|e| Error::ThreadPool(e.to_string()))?;
        Ok(Embedder {
            bert,
            tokenizer,
            sentence,
            max_length,
            batch_size: options.batch_size,
            pool,
            model_dir: dir.to_owned(),
        })
    }

    /// Downloads (or finds in the Hugging Face cache) a model by Hub id, e.g.
    /// `sentence-transformers/all-MiniLM-L6-v2`, optionally pinned as `id@revision`, and loads it.
    /// `HF_HOME` and `HF_HUB_OFFLINE` are honoured.
    #[cfg(feature = "hub")]
    pub fn from_hub(model_id: &str, options: &Options) -> Result<Embedder> {
        Embedder::from_dir(crate::hub::download(model_id)?, options)
    }

    /// The embedding of one text.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let mut vectors = self.embed_batch(&[text])?;
        Ok(vectors.pop().unwrap_or_default())
    }

    /// The embeddings of `texts`, in order, computed [`Options::batch_size`] texts at a time.
    /// A text's embedding does not depend on the other texts.
    pub fn embed_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let mut vectors = Vec::with_capacity(texts.len());
        for (chunk_index, chunk) in texts.chunks(self.batch_size).enumerate() {
            let first = chunk_index * self.batch_size;
            let batch = self.tokenize_batch(chunk, first)?;
            let hidden_rows = self.pool.install(|| self.bert.forward(&batch, &mut |_| {}));
            let h = self.bert.config().hidden_size;
            for range in &batch.sequences {
                let mut out = vec![0.0; self.dim()];
                let rows = &hidden_rows[range.start * h..range.end * h];
                pool_sequence(
                    self.bert.kernels(),
                    self.sentence.pooling,
                    self.sentence.normalize,
                    rows,
                    h,
                    &mut out,
                );
                vectors.push(out);
            }
        }
        Ok(vectors)
    }

    /// The token ids the model sees for `text` ([CLS] … [SEP], truncated to the max length).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenize_one(text, 0)?.ids)
    }

    /// The encoder's hidden states for `text`: the embedding layer's output, then each layer's,
    /// each `tokens x hidden` floats row-major. For inspection and parity checks.
    pub fn hidden_states(&self, text: &str) -> Result<Vec<Vec<f32>>> {
        let batch = self.tokenize_batch(&[text], 0)?;
        let mut states = Vec::with_capacity(self.bert.config().num_layers + 1);
        self.pool.install(|| {
            self.bert
                .forward(&batch, &mut |rows| states.push(rows.to_vec()))
        });
        Ok(states)
    }

    /// Length of each embedding.
    pub fn dim(&self) -> usize {
        self.bert.config().hidden_size * self.sentence.pooling.modes()
    }

    /// Longest input in tokens ([CLS] and [SEP] included).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Threads in the embedder's private pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Texts per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The kernel path in use.
    pub fn isa(&self) -> Isa {
        self.bert.kernels().isa()
    }

    /// A descriptive name of the kernel path, e.g. `x86_64-f32-scalar`, for logs.
    pub fn kernel_name(&self) -> String {
        self.bert.kernels().name()
    }

    /// The pooling modes the model uses.
    pub fn pooling(&self) -> Pooling {
        self.sentence.pooling
    }

    /// Whether embeddings are L2-normalised (the model has a `Normalize` module).
    pub fn normalizes(&self) -> bool {
        self.sentence.normalize
    }

    /// The BERT hyper-parameters.
    pub fn config(&self) -> &BertConfig {
        self.bert.config()
    }

    /// The directory the model was loaded from.
    pub fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    fn tokenize_one(&self, text: &str, index: usize) -> Result<Tokens> {
        let tokens = self.tokenizer.encode(text, index)?;
        let config = self.bert.config();
        if let Some(&id) = tokens
            .ids
            .iter()
            .find(|&&id| id as usize >= config.vocab_size)
        {
            return Err(Error::Tokenize {
                index,
                message: format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    config.vocab_size
                ),
            });
        }
        if let Some(&id) = tokens
            .type_ids
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
        if tokens.ids.len() > self.max_length {
            return Err(Error::Tokenize {
                index,
                message: format!(
                    "{} tokens after truncation to {}",
                    tokens.ids.len(),
                    self.max_length
                ),
            });
        }
        Ok(tokens)
    }

    /// Tokenises `texts` on the private pool; `first` is the caller's index of `texts[0]`.
    fn tokenize_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        first: usize,
    ) -> Result<TokenBatch> {
        let encoded: Vec<Tokens> = self.pool.install(|| {
            texts
                .par_iter()
                .enumerate()
                .map(|(i, text)| self.tokenize_one(text.as_ref(), first + i))
                .collect::<Result<_>>()
        })?;
        let total: usize = encoded.iter().map(|t| t.ids.len()).sum();
        let mut batch = TokenBatch {
            ids: Vec::with_capacity(total),
            type_ids: Vec::with_capacity(total),
            sequences: Vec::with_capacity(encoded.len()),
        };
        for tokens in encoded {
            let start = batch.ids.len();
            batch.ids.extend(tokens.ids);
            batch.type_ids.extend(tokens.type_ids);
            batch.sequences.push(start..batch.ids.len());
        }
        Ok(batch)
    }
}
