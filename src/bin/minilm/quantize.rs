//! `minilm quantize`: an int8 copy of a model directory.

use std::io::Write;
use std::path::PathBuf;

use minilm::Calibration;

use crate::error::CliResult;
use crate::input;

/// Write an int8 copy of a model directory (loads directly, in int8).
///
/// Dense-layer weights become int8 with one scale per output channel; everything else is
/// copied. Example:
///
///   minilm quantize --output ~/models/all-MiniLM-L6-v2-int8
///
///   minilm embed --model ~/models/all-MiniLM-L6-v2-int8 "A man is eating food."
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct QuantizeArgs {
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

/// Writes the int8 copy and, unless `quiet`, one line on stderr saying what changed.
pub fn run(args: QuantizeArgs, quiet: bool) -> CliResult {
    let dir = minilm::resolve_model(args.model.as_deref())?;
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
    let summary = minilm::quantize_model(&dir, &args.output, calibration)?;
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
