//! The library's error type. Every message names the file, tensor or text at fault.

use std::path::PathBuf;

/// Everything that can go wrong loading a model or embedding text.
///
/// ```
/// use minilm::{Embedder, Error, Options};
///
/// match Embedder::from_dir(minilm::default_model_dir()?, &Options::default().batch_size(0)) {
///     Err(Error::InvalidOption(message)) => assert!(message.contains("batch size")),
///     other => panic!("expected InvalidOption, got {other:?}"),
/// }
/// # Ok::<(), minilm::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file the model needs is not in its directory.
    #[error("missing model file {0}")]
    MissingFile(PathBuf),
    /// A JSON file is malformed or lacks a required field.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A configuration value is outside what this runtime supports.
    #[error("{path}: {message}")]
    Unsupported {
        /// The file holding the value.
        path: PathBuf,
        /// What is unsupported.
        message: String,
    },
    /// The safetensors file is truncated or malformed.
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor the model needs is absent.
    #[error("{path}: missing tensor {name}")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor (without any `bert.` prefix).
        name: String,
    },
    /// A tensor has a shape other than the configuration implies.
    #[error("{path}: tensor {name} has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The weights file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a dtype other than F32, F16 or BF16.
    #[error("{path}: tensor {name} has dtype {dtype}; supported: F32, F16, BF16")]
    TensorDtype {
        /// The weights file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// A weight is NaN or infinite. Such a model would embed every text as NaN (or as
    /// garbage), so it is refused at load rather than reported per text.
    #[error("{path}: tensor {name} holds {value} at element {index}; weights must be finite")]
    NonFiniteWeight {
        /// The weights file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The first bad element, row-major.
        index: usize,
        /// Its value (NaN, inf or -inf).
        value: f32,
    },
    /// `tokenizer.json` could not be loaded.
    #[error("{path}: cannot load tokenizer: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What the tokenizer library said.
        message: String,
    },
    /// A text could not be tokenised, or produced ids the model cannot embed.
    #[error("text {index}: {message}")]
    Tokenize {
        /// Position of the text in the caller's input.
        index: usize,
        /// What went wrong.
        message: String,
    },
    /// A text is longer than the model reads at once, and [`crate::LongText::Error`] was asked
    /// for.
    #[error(
        "text {index} is {}{tokens} tokens long; the model reads at most {max_length}",
        if *exact { "" } else { "over " }
    )]
    TextTooLong {
        /// Position of the text in the caller's input.
        index: usize,
        /// Its tokens, \[CLS\] and \[SEP\] included, without truncation (counted up to a limit
        /// when `exact` is false).
        tokens: usize,
        /// `tokens` is the whole count, not a lower bound.
        exact: bool,
        /// The most tokens the embedder reads.
        max_length: usize,
    },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The requested kernel path cannot run here.
    #[error(transparent)]
    Kernel(#[from] minilm_kernels::IsaError),
    /// The private thread pool could not be started.
    #[error("cannot start thread pool: {0}")]
    ThreadPool(String),
    /// No model was found in any of the places tried.
    #[error("no model found (tried {}); run `minilm fetch` (or tools/fetch-model.sh) or pass a model directory", tried.join(", "))]
    ModelNotFound {
        /// Every place looked at, in order.
        tried: Vec<String>,
    },
    /// The Hugging Face Hub could not provide the model.
    #[error("Hugging Face Hub, model {model_id}: {message}")]
    Hub {
        /// The model id asked for.
        model_id: String,
        /// What went wrong.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
