//! `minilm`: sentence embeddings from the command line.
//!
//! This file is the command tree and the dispatch: each command's flags, help and work live in
//! its own file (`embed.rs`, `similarity.rs`, `search.rs`, `info.rs`, `bench.rs`,
//! `quantize.rs`, `serve.rs`, `fetch.rs`); `model_args.rs` holds the model flags they share and
//! `error.rs` the error every command returns.
#![forbid(unsafe_code)]

mod bench;
mod cache;
mod embed;
mod error;
mod fetch;
mod info;
mod input;
mod long_text;
mod model_args;
mod output;
mod progress;
mod prompt;
mod quantize;
mod search;
#[cfg(feature = "server")]
mod serve;
mod similarity;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{CliError, CliResult};

/// The command line: a command and the flags every command takes. Its long help is
/// [`long_about`], built at run time so that it lists the kernel paths from the kernels crate.
#[derive(Parser)]
#[command(name = "minilm", version, about, long_about = long_about())]
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

/// `minilm --help`'s description: what the tool is, where the default model comes from, the
/// `MINILM_ISA` values, examples.
fn long_about() -> String {
    format!(
        "\
Sentence embeddings with all-MiniLM-L6-v2 (or another BERT sentence-transformers model), in
pure Rust.

The default model is the copy tools/fetch-model.sh puts in $MINILM_HOME/models (default
~/.cache/minilm/models), or $MINILM_MODEL_DIR when set. A kernel path is forced with
MINILM_ISA={}. Examples:

  minilm embed \"A man is eating food.\" \"A man is eating pasta.\"

  minilm similarity \"A man is eating food.\" \"A man is eating pasta.\"

  minilm search --corpus faq.txt \"how do I reset my password\" --top-k 3

  minilm info --json",
        minilm::Isa::names()
    )
}

/// The commands; each one's help is its arguments' doc comment.
#[derive(Subcommand)]
enum Command {
    Embed(embed::EmbedArgs),
    Similarity(similarity::SimilarityArgs),
    Search(search::SearchArgs),
    Info(info::InfoArgs),
    Bench(bench::BenchArgs),
    Quantize(quantize::QuantizeArgs),
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
    Fetch(fetch::FetchArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full; a usage error is one line, like every error.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => return report(&CliError::usage(&e)),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

/// Runs the command asked for.
fn run(cli: Cli) -> CliResult {
    let progress = progress::Settings {
        mode: cli.progress,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Embed(args) => embed::run(args, progress),
        Command::Similarity(args) => similarity::run(args, cli.quiet),
        Command::Search(args) => search::run(args, progress),
        Command::Info(args) => info::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Quantize(args) => quantize::run(args, cli.quiet),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(args, cli.quiet),
        Command::Fetch(args) => fetch::run(args, cli.quiet),
    }
}

/// Prints `error` as one line on stderr and gives its exit code.
fn report(error: &CliError) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "minilm: {error}");
    ExitCode::from(error.exit_code())
}
