//! Where models live on disk, and how a model name becomes a directory.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The Hub id of the default model.
pub const DEFAULT_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The directory `tools/fetch-model.sh` fills: `$MINILM_HOME/models` (default
/// `~/.cache/minilm/models`).
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
pub fn default_model_dir() -> Result<PathBuf> {
    resolve_model(None)
}

/// Finds a model's directory from what a user typed: an existing directory is taken as is; a
/// model id (`owner/name`) is looked up under [`models_home`], then, with the `hub` feature, on
/// the Hugging Face Hub (and its cache). `None` means the default model (see
/// [`default_model_dir`]). The error lists every place tried.
pub fn resolve_model(spec: Option<&str>) -> Result<PathBuf> {
    let mut tried = Vec::new();
    let spec = match spec {
        Some(spec) => {
            let path = PathBuf::from(spec);
            if path.is_dir() {
                return Ok(path);
            }
            if !looks_like_model_id(spec) {
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
    let id = spec.split('@').next().unwrap_or(spec);
    if let Some(local) = models_home().map(|home| home.join(id)) {
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

/// `owner/name` or `owner/name@revision`: one slash, no leading dot or slash.
fn looks_like_model_id(spec: &str) -> bool {
    let id = spec.split('@').next().unwrap_or(spec);
    let mut parts = id.split('/');
    let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let valid = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    valid(owner) && valid(name)
}

#[cfg(test)]
mod tests {
    use super::looks_like_model_id;

    #[test]
    fn tells_model_ids_from_paths() {
        assert!(looks_like_model_id(
            "sentence-transformers/all-MiniLM-L6-v2"
        ));
        assert!(looks_like_model_id("BAAI/bge-small-en-v1.5@main"));
        for path in [
            "/abs/dir",
            "./rel",
            "../up/dir",
            "a/b/c",
            "plain",
            "models/",
            "~/x/y",
        ] {
            assert!(!looks_like_model_id(path), "{path}");
        }
    }
}
