//! Where models live on disk, and how a model name becomes a directory.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::model_id::split_revision;

/// The Hub id of the default model.
///
/// ```
/// assert_eq!(minilm::DEFAULT_MODEL_ID, "sentence-transformers/all-MiniLM-L6-v2");
/// ```
pub const DEFAULT_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The directory `tools/fetch-model.sh` fills: `$MINILM_HOME/models` (default
/// `~/.cache/minilm/models`).
///
/// ```
/// if let Some(home) = minilm::models_home() {
///     println!("tools/fetch-model.sh puts models in {}", home.display());
/// }
/// ```
pub fn models_home() -> Option<PathBuf> {
    let home = match std::env::var_os("MINILM_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?)
            .join(".cache")
            .join("minilm"),
    };
    Some(home.join("models"))
}

/// The default model's directory: `$MINILM_MODEL_DIR` when set, otherwise the copy
/// `tools/fetch-model.sh` puts under [`models_home`].
///
/// ```
/// let dir = minilm::default_model_dir()?;
/// assert!(dir.join("model.safetensors").is_file());
/// # Ok::<(), minilm::Error>(())
/// ```
pub fn default_model_dir() -> Result<PathBuf> {
    resolve_model(None)
}

/// Finds a model's directory from what a user typed: an existing directory is taken as is; a
/// model id (`owner/name`) is looked up under [`models_home`], then, with the `hub` feature, on
/// the Hugging Face Hub (and its cache). `None` means the default model (see
/// [`default_model_dir`]). The error lists every place tried.
///
/// ```
/// // A directory is taken as is.
/// let dir = minilm::default_model_dir()?;
/// assert_eq!(minilm::resolve_model(Some(dir.to_str().unwrap()))?, dir);
/// // Something that is neither a directory nor owner/name is an error naming what was tried.
/// let error = minilm::resolve_model(Some("no-such-dir")).unwrap_err();
/// assert!(error.to_string().contains("no-such-dir"));
/// # Ok::<(), minilm::Error>(())
/// ```
pub fn resolve_model(spec: Option<&str>) -> Result<PathBuf> {
    let mut tried = Vec::new();
    let spec = match spec {
        Some(spec) => {
            let path = PathBuf::from(spec);
            if path.is_dir() {
                return Ok(path);
            }
            if split_revision(spec).is_err() {
                return Err(Error::ModelNotFound {
                    tried: vec![format!("directory {spec} (does not exist)")],
                });
            }
            tried.push(format!("directory {spec}"));
            spec
        }
        None => {
            if let Some(dir) = std::env::var_os("MINILM_MODEL_DIR").filter(|d| !d.is_empty()) {
                let dir = PathBuf::from(dir);
                if dir.is_dir() {
                    return Ok(dir);
                }
                tried.push(format!("$MINILM_MODEL_DIR={}", dir.display()));
            }
            DEFAULT_MODEL_ID
        }
    };
    let (id, revision) = split_revision(spec)?;
    // The local models directory holds one unversioned copy: only for requests without a revision.
    if let (Some(home), None) = (models_home(), revision) {
        let local = home.join(id);
        if local.join("config.json").is_file() {
            return Ok(local);
        }
        tried.push(local.display().to_string());
    }
    #[cfg(feature = "hub")]
    match crate::hub::download(spec) {
        Ok(dir) => return Ok(dir),
        Err(e) => tried.push(e.to_string()),
    }
    Err(Error::ModelNotFound { tried })
}
