//! `minilm info`: what a loaded model is and how it runs.

use std::io::Write;

use crate::error::{CliError, CliResult};
use crate::model_args::ModelArgs;

/// Describe the model and how it runs: dimension, layers, pooling, max length, precision,
/// kernel path, threads.
///
/// Examples:
///
///   minilm info
///
///   MINILM_ISA=scalar minilm info --json --precision int8
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct InfoArgs {
    /// Print one JSON object instead of `name: value` lines.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    model: ModelArgs,
}

/// Loads the model and prints what it is and how it runs.
pub fn run(args: InfoArgs) -> CliResult {
    let embedder = &args.model.load()?;
    let config = embedder.config();
    let fields: Vec<(&str, serde_json::Value)> = vec![
        (
            "model_dir",
            embedder.model_dir().display().to_string().into(),
        ),
        ("dim", embedder.dim().into()),
        ("layers", config.num_layers.into()),
        ("hidden_size", config.hidden_size.into()),
        ("heads", config.num_heads.into()),
        ("intermediate_size", config.intermediate_size.into()),
        ("vocab_size", config.vocab_size.into()),
        ("pooling", embedder.pooling().to_string().into()),
        ("normalized", embedder.normalizes().into()),
        ("max_length", embedder.max_length().into()),
        ("precision", embedder.precision().name().into()),
        ("kernel", embedder.kernel_name().into()),
        ("isa", embedder.isa().name().into()),
        ("threads", embedder.threads().into()),
        ("batch_size", embedder.batch_size().into()),
        (
            "prompts",
            serde_json::to_value(embedder.prompts()).unwrap_or_default(),
        ),
        (
            "default_prompt",
            embedder
                .default_prompt()
                .map_or(serde_json::Value::Null, Into::into),
        ),
    ];
    let text = if args.json {
        // Written by hand to keep the fields in this order (serde_json's map sorts them).
        let members: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{}:{value}", serde_json::Value::from(*name)))
            .collect();
        format!("{{{}}}\n", members.join(","))
    } else {
        fields
            .iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(s) => format!("{name:<18}{s}\n"),
                other => format!("{name:<18}{other}\n"),
            })
            .collect()
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(CliError::output)
}
