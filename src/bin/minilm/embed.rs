//! `minilm embed`: one vector per text, in input order, streamed a batch at a time; f32, or
//! quantised to int8, uint8, binary or ubinary as sentence-transformers' `encode(...,
//! precision=...)` quantises.

use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use minilm::{quantize_embeddings, EmbedOptions, Embedder, OutputPrecision, Ranges};

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
    /// float32, dim values per text, no header. With --output-precision other than float32:
    /// integers in JSON, one byte per element in npy (int8 and binary as int8, uint8 and
    /// ubinary as uint8) and raw.
    #[arg(long, short = 'f', value_enum, default_value_t = output::Format::Jsonl)]
    format: output::Format,

    /// Write to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// L2-normalise every vector, after --truncate-dim (sentence-transformers'
    /// normalize_embeddings=True). Default: the model's own pipeline (all-MiniLM-L6-v2's
    /// vectors are unit length).
    #[arg(long, conflicts_with = "no_normalize")]
    normalize: bool,

    /// Leave out the model's Normalize module: the pooled vectors as they are.
    #[arg(long)]
    no_normalize: bool,

    /// Keep the first N dimensions of every vector (Matryoshka models), cut after the model's
    /// pipeline: unit length again only with --normalize.
    #[arg(long, value_name = "N")]
    truncate_dim: Option<usize>,

    /// Element type of the vectors, as sentence-transformers' precision=: `int8` / `uint8`
    /// scale each dimension into its range (over all the texts of the run, or the --calibration
    /// texts), one byte per dimension; `binary` / `ubinary` keep the sign bits, eight
    /// dimensions per byte (dim/8 bytes per text, as int8 or uint8).
    #[arg(
        long,
        value_name = "PRECISION",
        default_value = "float32",
        value_parser = output_precision_parser()
    )]
    output_precision: OutputPrecision,

    /// With --output-precision int8 or uint8: take each dimension's range from the texts of
    /// FILE (one per line, embedded with the same options) instead of from the run's own texts,
    /// so a vector's bytes do not depend on what else is embedded with it (and output streams).
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
}

/// `--output-precision`'s values: the library's names, listed in the help.
fn output_precision_parser() -> impl TypedValueParser<Value = OutputPrecision> {
    PossibleValuesParser::new(OutputPrecision::ALL.map(OutputPrecision::name))
        .try_map(|name| name.parse::<OutputPrecision>())
}

impl EmbedArgs {
    /// The per-call options the flags ask for (as f32: quantising is done on the writing side).
    fn embed_options(&self, embedder: &Embedder) -> CliResult<EmbedOptions> {
        let mut options = self.prompt.apply(EmbedOptions::new(), embedder)?;
        if self.normalize || self.no_normalize {
            options = options.normalize(self.normalize);
        }
        if let Some(dim) = self.truncate_dim {
            options = options.truncate_dim(dim);
        }
        Ok(options)
    }
}

/// Embeds every text and writes the vectors, under a progress bar for `--input`.
pub fn run(mut args: EmbedArgs, progress: progress::Settings) -> CliResult {
    let precision = args.output_precision;
    if args.calibration.is_some() && !precision.needs_ranges() {
        return Err("--calibration applies to --output-precision int8 and uint8".into());
    }
    // int8 / uint8 without --calibration scale into the ranges of every vector of the run (as
    // sentence-transformers does): nothing can be written before the last text is embedded.
    let own_ranges = precision.needs_ranges() && args.calibration.is_none();
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
        (None, false) => Source::Listed(std::mem::take(&mut args.texts).into_iter()),
        (Some(path), true) => {
            let texts = input::Texts::open(path, layout)?;
            // An .npy header states the row count before the first row. A file gets its
            // header rewritten at the end; stdout or a pipe cannot be rewound, so there the
            // texts are read first (the one case, with int8 / uint8 on their own ranges, where
            // memory follows the input's size).
            if own_ranges || output::needs_count(args.output.as_deref(), args.format) {
                Source::Listed(texts.read_all()?.into_iter())
            } else {
                Source::Streamed(texts)
            }
        }
    };
    let count = match &source {
        Source::Listed(texts) => Some(texts.len()),
        Source::Streamed(_) => None,
    };
    if own_ranges && count == Some(1) {
        return Err(format!(
            "--output-precision {precision} takes each dimension's range from the texts \
             embedded, so it needs at least 2 (or --calibration FILE)"
        )
        .into());
    }

    let embedder = args.model.load()?;
    let options = args.embed_options(&embedder)?;
    // The one way `output_dim` fails: a cut outside the model's vectors.
    let dim = embedder.output_dim(&options).map_err(|_| {
        format!(
            "--truncate-dim {}: must be from 1 to the model's dimension {}",
            args.truncate_dim.unwrap_or_default(),
            embedder.dim()
        )
    })?;
    let step = args.model.batch_size.max(1);
    let calibrated = match &args.calibration {
        Some(path) => Some(calibrate(path, &embedder, &options, step, progress.quiet)?),
        None => None,
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
    let mut writer = output::Writer::create(
        args.output.as_deref(),
        args.format,
        precision,
        precision.row_len(dim),
        count,
    )?;
    let mut done = 0;
    let mut tally = long_text::Tally::default();
    let mut floats = Vec::new();
    // The run's vectors, kept for their ranges (int8 / uint8 without --calibration).
    let mut held = Vec::new();
    loop {
        let chunk = match &mut source {
            Source::Listed(texts) => texts.by_ref().take(step).collect(),
            Source::Streamed(texts) => texts.next_chunk(step)?,
        };
        if chunk.is_empty() {
            break;
        }
        floats.resize(chunk.len() * dim, 0.0);
        // Indices in the library's error count from the chunk; report the input's.
        let report = embedder
            .embed_batch_with_into(&chunk, &options, &mut floats)
            .map_err(|e| long_text::describe(e, |index| format!("text {}", done + index)))?;
        tally.add(&report);
        if own_ranges {
            held.extend_from_slice(&floats);
        } else {
            let rows = quantize_embeddings(&floats, dim, precision, calibrated.as_ref())?;
            bar.suspend(|| -> CliResult {
                writer.write(&rows)?;
                writer.end_batch()
            })?;
        }
        done += chunk.len();
        bar.advance(chunk.len());
    }
    bar.finish();
    if !held.is_empty() {
        writer.write(&quantize_embeddings(&held, dim, precision, None)?)?;
    }
    writer.finish()?;
    tally.print(&embedder, "texts", progress.quiet);
    // The process ends here: freeing the vocabulary's 60,000 strings and unmapping the weights
    // one by one would take milliseconds the operating system does at once on exit.
    std::mem::forget(embedder);
    Ok(())
}

/// The per-dimension ranges of the vectors of `path`'s texts (one per line), embedded with
/// `options`, `step` at a time.
fn calibrate(
    path: &Path,
    embedder: &Embedder,
    options: &EmbedOptions,
    step: usize,
    quiet: bool,
) -> CliResult<Ranges> {
    let texts = input::Texts::open(path, input::Layout::Lines)?.read_all()?;
    if texts.is_empty() {
        return Err(format!("--calibration {}: no texts", path.display()).into());
    }
    let dim = embedder.output_dim(options)?;
    let mut vectors = vec![0.0; texts.len() * dim];
    let mut tally = long_text::Tally::default();
    for (b, (chunk, out)) in texts
        .chunks(step)
        .zip(vectors.chunks_mut(step * dim))
        .enumerate()
    {
        let report = embedder
            .embed_batch_with_into(chunk, options, out)
            .map_err(|e| {
                long_text::describe(e, |index| {
                    format!("{} line {}", path.display(), b * step + index + 1)
                })
            })?;
        tally.add(&report);
    }
    tally.print(embedder, "calibration texts", quiet);
    Ok(Ranges::from_embeddings(&vectors, dim)?)
}

/// Where `embed` takes its texts from.
enum Source {
    /// Already in memory (command-line arguments, or a file read whole).
    Listed(std::vec::IntoIter<String>),
    /// Read a batch at a time from a file or stdin.
    Streamed(input::Texts),
}
