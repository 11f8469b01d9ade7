//! `--prompt` / `--prompt-name`: text put in front of each text before it is embedded, as
//! sentence-transformers' `encode(prompt=..., prompt_name=...)` does.

use minilm::{EmbedOptions, Embedder};

use crate::error::CliResult;

/// The prompt flags `embed`, `similarity` and `search` share.
#[derive(clap::Args, Default)]
pub struct PromptArgs {
    /// Put TEXT in front of every text before embedding (e.g. "query: " for the e5 models).
    #[arg(long, value_name = "TEXT", conflicts_with = "prompt_name")]
    prompt: Option<String>,

    /// Put the model's prompt NAME (from its config_sentence_transformers.json, see `minilm
    /// info`) in front of every text, e.g. `query` for bge-small-en-v1.5.
    #[arg(long, value_name = "NAME")]
    prompt_name: Option<String>,
}

impl PromptArgs {
    /// `options` with the prompt asked for; unchanged when neither flag is given (the prompt
    /// `options` already has then applies: the model's default prompt, if it names one, for
    /// [`EmbedOptions::new`]). The library resolves the name; it is checked here first only to
    /// name the flag in the error.
    pub fn apply(&self, options: EmbedOptions, embedder: &Embedder) -> CliResult<EmbedOptions> {
        if let Some(text) = &self.prompt {
            return Ok(options.prompt(text.as_str()));
        }
        let Some(name) = &self.prompt_name else {
            return Ok(options);
        };
        if embedder.prompt(name).is_none() {
            let names: Vec<&str> = embedder.prompts().keys().map(String::as_str).collect();
            return Err(if names.is_empty() {
                format!("--prompt-name {name}: the model names no prompts").into()
            } else {
                format!(
                    "--prompt-name {name}: the model's prompts are {}",
                    names.join(", ")
                )
                .into()
            });
        }
        Ok(options.prompt_name(name.as_str()))
    }
}
