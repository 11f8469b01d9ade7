//! `--model`, `--threads`, `--batch-size`, `--max-length`, `--precision` and the long-text
//! flags: which model every embedding command loads, and how it runs.

use minilm::{Embedder, Options, Precision};

use crate::error::CliResult;
use crate::long_text::LongTextArgs;

/// Which model, and how to run it.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Model: a sentence-transformers directory, or a Hub id such as
    /// sentence-transformers/all-MiniLM-L6-v2 (optionally id@revision).
    #[arg(long, value_name = "DIR|ID")]
    model: Option<String>,

    /// Threads to use (default: all available cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Texts per forward pass.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub batch_size: usize,

    /// Truncate texts to N tokens, [CLS] and [SEP] included (default: the model's
    /// max_seq_length, 256 for all-MiniLM-L6-v2).
    #[arg(long, value_name = "N", alias = "max-input-length")]
    max_length: Option<usize>,

    /// Arithmetic of the dense layers: f32 (matches sentence-transformers) or int8 (faster;
    /// an f32 model's weights are quantised at load). Default: the model file's.
    #[arg(long, value_name = "f32|int8")]
    precision: Option<String>,

    #[command(flatten)]
    long_text: LongTextArgs,
}

impl ModelArgs {
    /// Loads the model with these flags, `--batch-size` texts per forward pass.
    pub fn load(&self) -> CliResult<Embedder> {
        self.load_with(Options::default().batch_size(self.batch_size))
    }

    /// Loads the model with these flags applied on top of `options`.
    pub fn load_with(&self, options: Options) -> CliResult<Embedder> {
        let mut options = self.long_text.apply(options)?;
        if let Some(precision) = &self.precision {
            options = options.precision(precision.parse::<Precision>()?);
        }
        if let Some(threads) = self.threads {
            options = options.threads(threads);
        }
        if let Some(max_length) = self.max_length {
            options = options.max_length(max_length);
        }
        let dir = minilm::resolve_model(self.model.as_deref())?;
        Ok(Embedder::from_dir(&dir, &options)?)
    }
}
