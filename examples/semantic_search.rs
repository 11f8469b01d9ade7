//! Semantic search over the lines of a text file: every non-blank line is embedded as a
//! document, the query as a query (each with the model's prompt for it, if it has one), then
//! `minilm::top_k` ranks the lines by cosine similarity to the query.
//!
//! ```sh
//! cargo run --release --example semantic_search -- notes.txt "how do I bake bread?"
//! cargo run --release --example semantic_search -- notes.txt "bread" --top 3 --model DIR
//! ```
//!
//! Prints one line per hit, best first: the score, the line number and the line. The model is
//! `--model DIR|ID`, else the default one (`$MINILM_MODEL_DIR`, else the copy
//! `tools/fetch-model.sh` made).
#![forbid(unsafe_code)]

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use minilm::{EmbedOptions, Embedder, Options};

const USAGE: &str = "usage: semantic_search FILE QUERY [--top K] [--model DIR|ID]";

/// Lines embedded per call. Every line's vector is kept for the ranking (1.5 KB a line for
/// all-MiniLM-L6-v2).
const CHUNK: usize = 256;

struct Args {
    file: PathBuf,
    query: String,
    top: usize,
    model: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let (mut top, mut model) = (5, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--top" => {
                let value = args.next().ok_or("--top needs a number")?;
                top = value
                    .parse()
                    .map_err(|_| format!("--top: {value:?} is not a number"))?;
            }
            "--model" => model = Some(args.next().ok_or("--model needs a directory or id")?),
            "-h" | "--help" => return Err(USAGE.into()),
            _ => positional.push(arg),
        }
    }
    let [file, query] = <[String; 2]>::try_from(positional).map_err(|_| USAGE.to_owned())?;
    Ok(Args {
        file: file.into(),
        query,
        top,
        model,
    })
}

fn search(args: &Args) -> Result<(), Box<dyn Error>> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let lines: Vec<(usize, &str)> = (1..)
        .zip(text.lines())
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();

    let embedder = Embedder::from_dir(
        minilm::resolve_model(args.model.as_deref())?,
        &Options::default(),
    )?;
    let query = embedder.embed_query(&args.query)?;

    let document = EmbedOptions::new().document();
    let dim = embedder.dim();
    let mut vectors = vec![0.0f32; lines.len() * dim];
    for (chunk, out) in lines.chunks(CHUNK).zip(vectors.chunks_mut(CHUNK * dim)) {
        let texts: Vec<&str> = chunk.iter().map(|&(_, line)| line).collect();
        embedder.embed_batch_with_into(&texts, &document, out)?;
    }

    // Best first; equal scores keep file order.
    let mut out = std::io::stdout().lock();
    for hit in minilm::top_k(&query, &vectors, dim, args.top) {
        let (number, line) = lines[hit.index];
        writeln!(out, "{:.4}  {number}: {line}", hit.score)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("semantic_search: {message}");
            return ExitCode::from(2);
        }
    };
    match search(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("semantic_search: {e}");
            ExitCode::FAILURE
        }
    }
}
