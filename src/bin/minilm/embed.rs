//! `minilm embed`: one vector per text, in input order, streamed a batch at a time.

use std::path::PathBuf;

use crate::error::CliResult;
use crate::input::{self, InputFormat};
use crate::model_args::ModelArgs;
use crate::{long_text, output, progress, prompt};

/// Embed texts and print one vector per text, in input order.
///
/// Texts come from the command line, or from --input (one per line; `-` reads stdin).
/// Examples:
///
///   minilm embed "A man is eating food." "A man is eating pasta."
///
///   minilm embed --input sentences.txt --format npy --output vectors.npy
///
///   printf '"line one\\nstill one text"\n' | minilm embed --input - --input-format jsonl
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct EmbedArgs {
    /// Texts to embed (instead of --input).
    #[arg(value_name = "TEXT")]
    texts: Vec<String>,

    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    prompt: prompt::PromptArgs,

    /// Read texts from FILE (`-` for stdin) instead of the command line.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: Option<PathBuf>,

    /// How --input holds texts: `text` (default), one per line; `jsonl`, one JSON string per
    /// line (so a text may hold newlines and any Unicode; blank lines are skipped).
    #[arg(long, value_enum)]
    input_format: Option<InputFormat>,

    /// Output: `jsonl`, one JSON array of floats per text (shortest round-trip f32); `json`, one
    /// array of arrays; `npy`, a float32 NumPy array of shape (texts, dim); `raw`, little-endian
    /// float32, dim values per text, no header.
    #[arg(long, short = 'f', value_enum, default_value_t = output::Format::Jsonl)]
    format: output::Format,

    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Where `embed` takes its texts from.
enum Source {
    /// Already in memory (command-line arguments).
    Listed(std::vec::IntoIter<String>),
    /// Read a batch at a time from a file or stdin.
    Streamed(input::Texts),
}

/// Embeds every text and writes the vectors, under a progress bar for `--input`.
pub fn run(args: EmbedArgs, progress: progress::Settings) -> CliResult {
    let layout = args.input_format.unwrap_or(InputFormat::Text).layout();
    let mut source = match (&args.input, args.texts.is_empty()) {
        (Some(_), false) => {
            return Err("give texts on the command line or --input, not both".into())
        }
        (None, true) => {
            return Err("nothing to embed: give TEXT arguments or --input FILE (see --help)".into())
        }
        (None, false) if args.input_format.is_some() => {
            return Err("--input-format applies to --input, not to TEXT arguments".into())
        }
        (None, false) => Source::Listed(args.texts.into_iter()),
        (Some(path), true) => {
            let texts = input::Texts::open(path, layout)?;
            // An .npy header states the row count before the first row. A file gets its
            // header rewritten at the end; stdout or a pipe cannot be rewound, so there the
            // texts are read first (the one case where memory follows the input's size).
            if output::needs_count(args.output.as_deref(), args.format) {
                Source::Listed(texts.read_all()?.into_iter())
            } else {
                Source::Streamed(texts)
            }
        }
    };

    let embedder = args.model.load()?;
    let prompt = args.prompt.resolve(&embedder)?;
    let count = match &source {
        Source::Listed(texts) => Some(texts.len()),
        Source::Streamed(_) => None,
    };
    // Texts from a file are counted ahead (a second read) only when a bar may show; an input
    // given on the command line is too short to need one.
    let mut bar = match (&args.input, count) {
        (None, _) => progress::Progress::hidden(),
        (Some(_), Some(count)) => progress::Progress::start(progress, Some(count as u64)),
        (Some(path), None) => {
            let total = progress
                .may_draw()
                .then(|| input::count_texts(path, layout))
                .flatten();
            progress::Progress::start(progress, total)
        }
    };
    let mut writer =
        output::Writer::create(args.output.as_deref(), args.format, embedder.dim(), count)?;
    let step = args.model.batch_size.max(1);
    let mut done = 0;
    let mut tally = long_text::Tally::default();
    loop {
        let chunk = match &mut source {
            Source::Listed(texts) => texts.by_ref().take(step).collect(),
            Source::Streamed(texts) => texts.next_chunk(step)?,
        };
        if chunk.is_empty() {
            break;
        }
        // Indices in the library's error count from the chunk; report the input's.
        let (vectors, report) = prompt::embed_batch(&embedder, prompt.as_deref(), &chunk)
            .map_err(|e| long_text::describe(e, |index| format!("text {}", done + index)))?;
        tally.add(&report);
        bar.suspend(|| -> CliResult {
            for vector in &vectors {
                writer.write(vector)?;
            }
            writer.end_batch()
        })?;
        done += chunk.len();
        bar.advance(chunk.len());
    }
    bar.finish();
    writer.finish()?;
    tally.print(&embedder, "texts", progress.quiet);
    Ok(())
}
