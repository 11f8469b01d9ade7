//! `minilm similarity`: the cosine of two texts' embeddings.

use std::io::Write;

use minilm::EmbedOptions;

use crate::error::{CliError, CliResult};
use crate::model_args::ModelArgs;

/// Print the cosine similarity of two texts' embeddings (1 for the same text).
///
/// Examples:
///
///   minilm similarity "A man is eating food." "A man is eating pasta."
///
///   minilm similarity --json "The cat sits outside." "The new movie is awesome."
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SimilarityArgs {
    /// The first text.
    #[arg(value_name = "A")]
    a: String,

    /// The second text.
    #[arg(value_name = "B")]
    b: String,

    #[command(flatten)]
    prompt: crate::prompt::PromptArgs,

    /// Print {"a": A, "b": B, "cosine": C} instead of the number alone.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    model: ModelArgs,
}

/// Prints the cosine of the two texts' embeddings (a notice on stderr, unless `quiet`, when
/// one was truncated).
pub fn run(args: SimilarityArgs, quiet: bool) -> CliResult {
    let embedder = &args.model.load()?;
    let options = args.prompt.apply(EmbedOptions::new(), embedder)?;
    let dim = embedder.output_dim(&options)?;
    let mut vectors = vec![0.0; 2 * dim];
    let report = embedder
        .embed_batch_with_into(&[&args.a, &args.b], &options, &mut vectors)
        .map_err(|e| {
            crate::long_text::describe(e, |index| {
                format!("text {} ({})", index + 1, ["A", "B"][index.min(1)])
            })
        })?;
    let mut tally = crate::long_text::Tally::default();
    tally.add(&report);
    tally.print(embedder, "texts", quiet);
    let cosine = minilm::cosine(&vectors[..dim], &vectors[dim..]);
    let line = if args.json {
        serde_json::json!({ "a": args.a, "b": args.b, "cosine": cosine }).to_string()
    } else {
        cosine.to_string()
    };
    writeln!(std::io::stdout(), "{line}").map_err(CliError::output)
}
