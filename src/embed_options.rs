//! Per-call settings: which prompt, whether to normalise, how many dimensions and which
//! precision to return, what to do with long texts. The counterpart of sentence-transformers'
//! `encode(..., prompt=, prompt_name=, normalize_embeddings=, truncate_dim=, precision=)`.

use crate::long_text::LongText;
use crate::output_precision::{OutputPrecision, Ranges};

/// Which prompt a call puts in front of each text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptChoice {
    /// The model's default prompt (`default_prompt_name`), if it names one.
    #[default]
    ModelDefault,
    /// This text, as it is (an empty one adds nothing).
    Text(String),
    /// The model's prompt of this name; a name the model lacks is an error.
    Named(String),
    /// Queries: the model's `query` prompt, else its default (as sentence-transformers'
    /// `encode_query`; see the README, "Output options and helpers", for where 6.2 differs).
    Query,
    /// Documents: the model's first prompt of `document`, `passage`, `corpus`, else its
    /// default (the order sentence-transformers' `encode_document` documents).
    Document,
}

/// How one call embeds, on top of the embedder's [`Options`](crate::Options). The default
/// embeds as [`Embedder::embed_batch`](crate::Embedder::embed_batch) does.
///
/// ```
/// use minilm::{EmbedOptions, OutputPrecision};
/// let options = EmbedOptions::new().query().truncate_dim(128).normalize(true);
/// assert_eq!(options.get_truncate_dim(), Some(128));
/// let stored = EmbedOptions::new().document().precision(OutputPrecision::Binary);
/// assert_eq!(stored.get_precision(), OutputPrecision::Binary);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbedOptions {
    pub(crate) prompt: PromptChoice,
    pub(crate) normalize: Option<bool>,
    pub(crate) truncate_dim: Option<usize>,
    pub(crate) long_text: Option<LongText>,
    pub(crate) precision: OutputPrecision,
    pub(crate) ranges: Option<Ranges>,
}

impl EmbedOptions {
    /// The defaults: the model's default prompt and pipeline, full dimension, f32.
    pub fn new() -> EmbedOptions {
        EmbedOptions::default()
    }

    /// Put `text` in front of every text (see
    /// [`Embedder::embed_with_prompt`](crate::Embedder::embed_with_prompt)).
    pub fn prompt(mut self, text: impl Into<String>) -> EmbedOptions {
        self.prompt = PromptChoice::Text(text.into());
        self
    }

    /// Put the model's prompt `name` in front of every text; the call fails if the model has
    /// no such prompt (see [`Embedder::prompts`](crate::Embedder::prompts)).
    pub fn prompt_name(mut self, name: impl Into<String>) -> EmbedOptions {
        self.prompt = PromptChoice::Named(name.into());
        self
    }

    /// Embed queries: the model's `query` prompt, if it has one, as sentence-transformers'
    /// `encode_query` does.
    pub fn query(mut self) -> EmbedOptions {
        self.prompt = PromptChoice::Query;
        self
    }

    /// Embed documents: the model's `document`, `passage` or `corpus` prompt (the first it has),
    /// as sentence-transformers' `encode_document` does.
    pub fn document(mut self) -> EmbedOptions {
        self.prompt = PromptChoice::Document;
        self
    }

    /// `true`: L2-normalise each returned vector (after any [`EmbedOptions::truncate_dim`]),
    /// as `normalize_embeddings=True` does. `false`: leave out the model's own `Normalize`
    /// module, returning the pooled vector as it is (text-embeddings-inference's
    /// `normalize: false`). Unset: the model's own pipeline.
    pub fn normalize(mut self, normalize: bool) -> EmbedOptions {
        self.normalize = Some(normalize);
        self
    }

    /// Keep the first `dim` dimensions of each vector (Matryoshka models: bge, nomic, ...), as
    /// `truncate_dim` does: cut after the model's pipeline, so a normalised model's cut vector
    /// is not unit length unless [`EmbedOptions::normalize`] is `true`. Must be from 1 to the
    /// model's dimension.
    pub fn truncate_dim(mut self, dim: usize) -> EmbedOptions {
        self.truncate_dim = Some(dim);
        self
    }

    /// What to do with texts longer than the model reads at once, for this call.
    pub fn long_text(mut self, long_text: LongText) -> EmbedOptions {
        self.long_text = Some(long_text);
        self
    }

    /// The element type [`Embedder::encode`](crate::Embedder::encode) returns (see
    /// [`quantize_embeddings`](crate::quantize_embeddings)).
    pub fn precision(mut self, precision: OutputPrecision) -> EmbedOptions {
        self.precision = precision;
        self
    }

    /// Fixed per-dimension ranges for `int8` / `uint8` output (otherwise the call's own
    /// vectors give them, as in sentence-transformers).
    pub fn ranges(mut self, ranges: Ranges) -> EmbedOptions {
        self.ranges = Some(ranges);
        self
    }

    /// The prompt setting.
    pub fn get_prompt(&self) -> &PromptChoice {
        &self.prompt
    }

    /// The normalisation setting (`None`: the model's).
    pub fn get_normalize(&self) -> Option<bool> {
        self.normalize
    }

    /// The truncation setting.
    pub fn get_truncate_dim(&self) -> Option<usize> {
        self.truncate_dim
    }

    /// The long-text setting (`None`: the embedder's).
    pub fn get_long_text(&self) -> Option<LongText> {
        self.long_text
    }

    /// The output precision.
    pub fn get_precision(&self) -> OutputPrecision {
        self.precision
    }

    /// The fixed ranges, if any.
    pub fn get_ranges(&self) -> Option<&Ranges> {
        self.ranges.as_ref()
    }
}
