//! `minilm bench`: minilm's side of a speed comparison, as a table or one JSON line per workload.
//!
//! Two workloads, each on one loaded embedder:
//! - latency: one text embedded alone, call after call (after warm-up calls);
//! - throughput: every line of a file embedded in batches, several timed rounds after an untimed
//!   warm-up on the first four batches.
//!
//! Without `--text` or `--input` it runs both on STS-B dev sentences built into the binary (the
//! copy in tests/data/stsb, CC BY-SA 4.0): the first sentence of 10-14 tokens, and the first
//! 2000 sentences in file order. `tools/bench-peers` runs the same workloads on
//! sentence-transformers and ONNX Runtime.

use std::path::PathBuf;
use std::time::Instant;

use minilm::Embedder;

use crate::error::CliResult;
use crate::input;
use crate::model_args::ModelArgs;

/// STS-B dev pairs (CSV: sentence1,sentence2,score), the default workload texts.
const STSB_DEV: &str = include_str!("../../../tests/data/stsb/stsb-en-dev.csv");

/// Time embedding: one text alone (latency) and a file of texts (throughput).
///
/// Without --text or --input, runs both on built-in STS-B dev sentences (a 10-14 token
/// sentence, then 2000 sentences in file order). Examples:
///
///   minilm bench --threads 1
///
///   minilm bench --text "A man is playing a guitar." --calls 500 --json
///
///   minilm bench --input sentences.txt --batch-size 32 --rounds 5
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,

    /// Latency: embed TEXT alone, --calls times.
    #[arg(long, value_name = "TEXT", conflicts_with = "input")]
    text: Option<String>,

    /// Throughput: embed every line of FILE (one text per line), --rounds times.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,

    /// Timed calls of the latency workload.
    #[arg(long, value_name = "N", default_value_t = 200)]
    calls: usize,

    /// Untimed calls before the latency workload.
    #[arg(long, value_name = "N", default_value_t = 10)]
    warmup: usize,

    /// Timed rounds of the throughput workload (after an untimed warm-up on its first four
    /// batches).
    #[arg(long, value_name = "N", default_value_t = 3)]
    rounds: usize,

    /// Print one JSON object per workload instead of a table.
    #[arg(long)]
    json: bool,
}

/// The texts of the default workloads: (short sentence, 2000 sentences).
fn default_texts(embedder: &Embedder) -> CliResult<(String, Vec<String>)> {
    let mut sentences = Vec::new();
    for line in STSB_DEV.lines() {
        let (a, b) = split_pair(line).ok_or("built-in STS-B copy: malformed line")?;
        sentences.push(a);
        sentences.push(b);
    }
    let short = sentences
        .iter()
        .find(|s| {
            embedder
                .token_ids(s)
                .is_ok_and(|ids| (10..=14).contains(&ids.len()))
        })
        .cloned()
        .ok_or("no short sentence in the built-in corpus")?;
    sentences.truncate(2000);
    Ok((short, sentences))
}

/// The two sentences of one `sentence1,sentence2,score` CSV line (quotes undone).
fn split_pair(line: &str) -> Option<(String, String)> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    while fields.len() < 2 {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            if chars.next()? != ',' {
                return None;
            }
        } else {
            loop {
                match chars.next()? {
                    ',' => break,
                    c => field.push(c),
                }
            }
        }
        fields.push(field);
    }
    let b = fields.pop()?;
    Some((fields.pop()?, b))
}

/// The `q`-quantile of sorted `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

struct Latency {
    tokens: usize,
    calls: usize,
    /// Sorted per-call times in ms.
    ms: Vec<f64>,
}

fn latency(embedder: &Embedder, text: &str, calls: usize, warmup: usize) -> CliResult<Latency> {
    let tokens = embedder.token_ids(text)?.len();
    for _ in 0..warmup {
        embedder.embed(text)?;
    }
    let mut ms = Vec::with_capacity(calls);
    for _ in 0..calls.max(1) {
        let start = Instant::now();
        let vector = embedder.embed(text)?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(vector);
    }
    ms.sort_by(f64::total_cmp);
    Ok(Latency {
        tokens,
        calls: ms.len(),
        ms,
    })
}

struct Throughput {
    texts: usize,
    tokens: usize,
    rounds_s: Vec<f64>,
}

fn throughput(embedder: &Embedder, texts: &[String], rounds: usize) -> CliResult<Throughput> {
    let mut tokens = 0;
    for text in texts {
        tokens += embedder.token_ids(text)?.len();
    }
    // Warm-up as tools/bench-peers gives the peers: the first four batches.
    let warmup = &texts[..texts.len().min(4 * embedder.batch_size())];
    embedder.embed_batch(warmup)?;
    let mut rounds_s = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let vectors = embedder.embed_batch(texts)?;
        rounds_s.push(start.elapsed().as_secs_f64());
        std::hint::black_box(vectors);
    }
    Ok(Throughput {
        texts: texts.len(),
        tokens,
        rounds_s,
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

/// Loads the model and runs the workloads asked for (both by default), printing a table or
/// JSON lines.
pub fn run(args: BenchArgs) -> CliResult {
    let embedder = &args.model.load()?;
    let (short, sentences) = match (&args.text, &args.input) {
        (Some(text), _) => (Some(text.clone()), None),
        (None, Some(path)) => (
            None,
            Some(input::Texts::open(path, input::Layout::Lines)?.read_all()?),
        ),
        (None, None) => {
            let (short, sentences) = default_texts(embedder)?;
            (Some(short), Some(sentences))
        }
    };
    let isa = embedder.kernel_name();
    let blocking = embedder.gemm_blocking();
    let threads = embedder.threads();
    if !args.json {
        println!(
            "minilm {}: kernel path {isa} ({blocking}), {threads} thread(s), batch size {}",
            env!("CARGO_PKG_VERSION"),
            embedder.batch_size()
        );
    }
    if let Some(text) = short {
        let l = latency(embedder, &text, args.calls, args.warmup)?;
        let (median, p90, p99, min) = (
            quantile(&l.ms, 0.5),
            quantile(&l.ms, 0.9),
            quantile(&l.ms, 0.99),
            l.ms[0],
        );
        if args.json {
            let line = serde_json::json!({
                "workload": "latency", "isa": isa, "gemm": blocking, "threads": threads,
                "tokens": l.tokens,
                "calls": l.calls, "median_ms": median, "p90_ms": p90, "p99_ms": p99,
                "min_ms": min,
            });
            println!("{line}");
        } else {
            println!(
                "latency, one text of {} tokens, {} calls: median {median:.3} ms, p90 {p90:.3} \
                 ms, p99 {p99:.3} ms, min {min:.3} ms",
                l.tokens, l.calls
            );
        }
    }
    if let Some(texts) = sentences {
        let t = throughput(embedder, &texts, args.rounds)?;
        let median_s = median(&t.rounds_s);
        let texts_per_s = t.texts as f64 / median_s;
        if args.json {
            let line = serde_json::json!({
                "workload": "throughput", "isa": isa, "gemm": blocking, "threads": threads,
                "batch_size": embedder.batch_size(), "texts": t.texts, "tokens": t.tokens,
                "rounds_s": t.rounds_s, "median_s": median_s, "texts_per_s": texts_per_s,
            });
            println!("{line}");
        } else {
            println!(
                "throughput, {} texts ({} tokens), median of {} rounds: {median_s:.3} s, \
                 {texts_per_s:.1} texts/s, {:.0} tokens/s",
                t.texts,
                t.tokens,
                t.rounds_s.len(),
                t.tokens as f64 / median_s
            );
        }
    }
    Ok(())
}
