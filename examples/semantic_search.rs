//! Semantic search over the lines of a text file: every non-blank line is embedded, then the
//! lines are ranked by cosine similarity to a query.
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

use minilm::{Embedder, Options};

const USAGE: &str = "usage: semantic_search FILE QUERY [--top K] [--model DIR|ID]";

/// Lines embedded per `embed_batch` call: only one chunk's vectors are held at a time, their
/// scores are kept.
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
    let query = embedder.embed(&args.query)?;

    let mut hits = Vec::with_capacity(lines.len());
    for chunk in lines.chunks(CHUNK) {
        let texts: Vec<&str> = chunk.iter().map(|&(_, line)| line).collect();
        for (&(number, line), vector) in chunk.iter().zip(embedder.embed_batch(&texts)?) {
            // The vectors are unit length, so the dot product is the cosine.
            let score: f32 = query.iter().zip(&vector).map(|(a, b)| a * b).sum();
            hits.push((score, number, line));
        }
    }
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));

    let mut out = std::io::stdout().lock();
    for (score, number, line) in hits.iter().take(args.top) {
        writeln!(out, "{score:.4}  {number}: {line}")?;
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
