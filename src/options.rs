//! How an [`Embedder`](crate::Embedder) is built: threads, batching, max length, kernel path,
//! precision of the dense layers, long-text mode.

use minilm_kernels::Isa;

use crate::error::{Error, Result};
use crate::long_text::{LongText, DEFAULT_MAX_CHUNKS};

/// How an [`Embedder`](crate::Embedder) runs. Start from [`Options::default`] and override what you need.
///
/// ```
/// let options = minilm::Options::default().threads(2).batch_size(16).max_length(128);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub(crate) threads: Option<usize>,
    pub(crate) batch_size: usize,
    pub(crate) batch_tokens: usize,
    pub(crate) max_length: Option<usize>,
    pub(crate) isa: Option<Isa>,
    pub(crate) precision: Option<Precision>,
    pub(crate) long_text: LongText,
    pub(crate) max_chunks: usize,
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
    /// [`LongTextReport::truncated`](crate::LongTextReport::truncated). Bounds what one text can cost.
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
