//! `minilm similarity`: the cosine of two texts' embeddings.

use std::io::Write;

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

/// The cosine of `a` and `b`, 0 when either is all zeros. Summed in f64: for normalised
/// embeddings it equals their dot product to within f32 rounding.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norms = (aa * bb).sqrt();
    if norms > 0.0 {
        (dot / norms) as f32
    } else {
        0.0
    }
}

/// Prints the cosine of the two texts' embeddings (a notice on stderr, unless `quiet`, when
/// one was truncated).
pub fn run(args: SimilarityArgs, quiet: bool) -> CliResult {
    let embedder = &args.model.load()?;
    let prompt = args.prompt.resolve(embedder)?;
    let (vectors, report) =
        crate::prompt::embed_batch(embedder, prompt.as_deref(), &[&args.a, &args.b]).map_err(
            |e| {
                crate::long_text::describe(e, |index| {
                    format!("text {} ({})", index + 1, ["A", "B"][index.min(1)])
                })
            },
        )?;
    let mut tally = crate::long_text::Tally::default();
    tally.add(&report);
    tally.print(embedder, "texts", quiet);
    let [a, b] = vectors.as_slice() else {
        return Err(format!("expected 2 vectors, got {}", vectors.len()).into());
    };
    let cosine = cosine(a, b);
    let line = if args.json {
        serde_json::json!({ "a": args.a, "b": args.b, "cosine": cosine }).to_string()
    } else {
        cosine.to_string()
    };
    writeln!(std::io::stdout(), "{line}").map_err(CliError::output)
}
