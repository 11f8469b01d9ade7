//! The embedder: a model directory loaded once (config, weights, tokenizer, threads), and what
//! it is. The embedding calls themselves are in `embed.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minilm_kernels::{Isa, Kernels};

use crate::calibrate::{builtin_texts, AT_LOAD_TEXTS};
use crate::config::{BertConfig, Pooling, SentenceConfig};
use crate::error::{Error, Result};
use crate::long_text::LongText;
use crate::model::bert::Bert;
use crate::options::{Options, Precision};
use crate::runner::Runner;
use crate::text_plan::Planner;
use crate::tokenize::TextTokenizer;
use crate::weights::WeightFile;

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
    /// The model and the threads and buffers that run it.
    pub(crate) runner: Runner,
    /// The tokenizer and the limits texts are cut to.
    pub(crate) planner: Planner,
    pub(crate) sentence: SentenceConfig,
    /// The long-text mode calls use unless they say otherwise.
    pub(crate) long_text: LongText,
    model_dir: PathBuf,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_dir", &self.model_dir)
            .field("dim", &self.dim())
            .field("max_length", &self.max_length())
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
        let runner = Runner::new(
            bert,
            sentence.pooling,
            options.batch_size,
            options.batch_tokens,
            threads,
        )?;
        let mut embedder = Embedder {
            runner,
            planner: Planner::new(tokenizer, &config, max_length, options.max_chunks),
            sentence,
            long_text: options.long_text,
            model_dir: dir.to_owned(),
        };
        if calibrate {
            let builtin = builtin_texts();
            let texts: Vec<&str> = builtin[..AT_LOAD_TEXTS]
                .iter()
                .map(String::as_str)
                .collect();
            let smoothing = crate::calibrate::smoothing(
                &embedder.runner,
                &embedder.planner,
                &tensors,
                &config,
                &texts,
            )?;
            embedder.runner.bert = Bert::load(
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

    /// The token ids the model sees for `text` (\[CLS\] … \[SEP\], truncated to the max length).
    /// No prompt is added, not even the default one.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.token_ids("Hello world")?, [101, 7592, 2088, 102]); // [CLS] hello world [SEP]
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.planner.tokenize_one(text, 0)?.ids)
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
        let tokens = self.planner.tokenize_one(text, 0)?;
        Ok(self.runner.hidden_states(&tokens))
    }

    /// Length of each embedding.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.dim(), 384);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn dim(&self) -> usize {
        self.runner.dim()
    }

    /// Longest input in tokens (\[CLS\] and \[SEP\] included).
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.max_length(), 256); // all-MiniLM-L6-v2's max_seq_length
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn max_length(&self) -> usize {
        self.planner.max_length
    }

    /// Threads in the embedder's private pool.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert!(embedder.threads() >= 1);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.runner.team.threads()
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
        self.planner.max_chunks
    }

    /// Texts per forward pass.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// assert_eq!(embedder.batch_size(), 32); // the default
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn batch_size(&self) -> usize {
        self.runner.batch_size
    }

    /// The kernel path in use.
    ///
    /// ```
    /// # let embedder = minilm::Embedder::from_dir(minilm::default_model_dir()?, &minilm::Options::default())?;
    /// println!("running on the {} path", embedder.isa().name());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn isa(&self) -> Isa {
        self.runner.bert.kernels().isa()
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
        let kernels = self.runner.bert.kernels();
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
        let kernels = self.runner.bert.kernels();
        match self.runner.bert.precision() {
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
        self.runner.bert.precision()
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
        self.runner.bert.config()
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
        Ok(self.word_pieces(text)?.len() + self.planner.tokenizer.specials())
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
        Ok(self.planner.tokenizer.pieces(None, text, None, 0)?.ids)
    }
}
