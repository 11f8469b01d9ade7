//! `--prompt` / `--prompt-name`: text put in front of each text before it is embedded, as
//! sentence-transformers' `encode(prompt=..., prompt_name=...)` does.

use minilm::Embedder;

use crate::error::CliResult;

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
    /// The prompt asked for: `None` when neither flag is given (the model's default prompt,
    /// if it names one, then applies).
    pub fn resolve(&self, embedder: &Embedder) -> CliResult<Option<String>> {
        if let Some(text) = &self.prompt {
            return Ok(Some(text.clone()));
        }
        let Some(name) = &self.prompt_name else {
            return Ok(None);
        };
        named(embedder, name).map(Some).ok_or_else(|| {
            let names: Vec<&str> = embedder.prompts().keys().map(String::as_str).collect();
            if names.is_empty() {
                format!("--prompt-name {name}: the model names no prompts").into()
            } else {
                format!(
                    "--prompt-name {name}: the model's prompts are {}",
                    names.join(", ")
                )
                .into()
            }
        })
    }
}

/// The text of the model's prompt `name`.
pub fn named(embedder: &Embedder, name: &str) -> Option<String> {
    embedder.prompt(name).map(str::to_owned)
}

/// `texts` embedded with `prompt`, or as `embed_batch` does when it is `None`, and what was
/// done with long texts.
pub fn embed_batch<S: AsRef<str> + Sync>(
    embedder: &Embedder,
    prompt: Option<&str>,
    texts: &[S],
) -> minilm::Result<(Vec<Vec<f32>>, minilm::LongTextReport)> {
    let dim = embedder.dim();
    let mut flat = vec![0.0f32; texts.len() * dim];
    let report = match prompt {
        Some(prompt) => embedder.embed_batch_with_prompt_into(prompt, texts, &mut flat)?,
        None => embedder.embed_batch_into(texts, &mut flat)?,
    };
    let vectors = flat.chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect();
    Ok((vectors, report))
}
