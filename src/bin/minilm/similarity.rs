//! `minilm similarity`: the cosine of two texts' embeddings.

use std::io::Write;

use minilm::Embedder;

#[derive(clap::Args)]
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

pub fn run(args: SimilarityArgs, embedder: &Embedder, quiet: bool) -> Result<(), String> {
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
        return Err(format!("expected 2 vectors, got {}", vectors.len()));
    };
    let cosine = cosine(a, b);
    let line = if args.json {
        serde_json::json!({ "a": args.a, "b": args.b, "cosine": cosine }).to_string()
    } else {
        cosine.to_string()
    };
    writeln!(std::io::stdout(), "{line}").map_err(|e| format!("cannot write output: {e}"))
}
