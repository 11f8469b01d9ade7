//! Sentence embeddings from BERT-family sentence-transformers models (all-MiniLM-L6-v2 by
//! default), in pure Rust on the hand-written kernels of [`minilm_kernels`].
//!
//! Load a model directory once with [`Embedder::from_dir`], then embed texts from any thread.
//! Output matches sentence-transformers: same tokens, same pooling, same normalisation.
//!
//! ```
//! use minilm::{Embedder, Options};
//!
//! let embedder = Embedder::from_dir(minilm::default_model_dir()?, &Options::default())?;
//! let v = embedder.embed("The quick brown fox jumps over the lazy dog.")?;
//! assert_eq!(v.len(), 384);
//! # Ok::<(), minilm::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod calibrate;
mod config;
mod embed;
mod embed_options;
mod embedder;
mod error;
#[cfg(feature = "hub")]
mod hub;
mod locate;
mod long_text;
mod model;
mod model_id;
mod options;
mod output_precision;
mod pool;
mod quantize;
mod runner;
#[cfg(feature = "server")]
pub mod server;
mod similarity;
mod text_plan;
mod text_segments;
mod tokenize;
mod tokenizer_file;
mod weights;

pub use config::{BertConfig, Pooling, SentenceConfig};
pub use embed_options::{EmbedOptions, PromptChoice};
pub use embedder::Embedder;
pub use error::{Error, Result};
pub use locate::{default_model_dir, models_home, resolve_model, DEFAULT_MODEL_ID};
pub use long_text::{LongText, LongTextReport, DEFAULT_CHUNK_OVERLAP, DEFAULT_MAX_CHUNKS};
pub use minilm_kernels::{CacheSizes, Isa};
pub use options::{Options, Precision};
pub use output_precision::{quantize_embeddings, Embeddings, OutputPrecision, Ranges};
pub use quantize::{quantize_model, Calibration, QuantizeSummary};
pub use similarity::{cosine, top_k, Hit};
