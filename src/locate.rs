//! Where models live on disk, and how a model name becomes a directory.

use std::path::PathBuf;

use crate::error::{Error, Result};

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

/// Splits `owner/name[@revision]`, checking both parts: the id is exactly two path-safe
/// components; the revision (a branch, tag or commit, possibly `refs/pr/1`) has no `..`, no
/// leading `/` and only path-safe characters, since it becomes part of a cache path.
pub(crate) fn split_revision(spec: &str) -> Result<(&str, Option<&str>)> {
    let invalid = || {
        Error::InvalidOption(format!(
            "{spec:?} is not a model id (owner/name[@revision])"
        ))
    };
    let (id, revision) = match spec.split_once('@') {
        Some((id, revision)) => (id, Some(revision)),
        None => (spec, None),
    };
    let safe = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let mut parts = id.split('/');
    let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if !(safe(owner) && safe(name)) {
        return Err(invalid());
    }
    if let Some(revision) = revision {
        if !revision.split('/').all(safe) {
            return Err(invalid());
        }
    }
    Ok((id, revision))
}

#[cfg(test)]
mod tests {
    use super::split_revision;

    #[test]
    fn tells_model_ids_from_paths() {
        assert_eq!(
            split_revision("sentence-transformers/all-MiniLM-L6-v2").unwrap(),
            ("sentence-transformers/all-MiniLM-L6-v2", None)
        );
        assert_eq!(
            split_revision("BAAI/bge-small-en-v1.5@refs/pr/1").unwrap(),
            ("BAAI/bge-small-en-v1.5", Some("refs/pr/1"))
        );
        for bad in [
            "/abs/dir",
            "./rel",
            "../up/dir",
            "a/b/c",
            "plain",
            "models/",
            "~/x/y",
            "a/b@../../x",
            "a/b@/etc",
            "a/b@",
            "a/b@main/../..",
        ] {
            assert!(split_revision(bad).is_err(), "{bad}");
        }
    }
}
