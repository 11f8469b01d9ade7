//! Models from the Hugging Face Hub, through `hf-hub` and its cache (feature `hub`).

use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};

use crate::error::{Error, Result};

/// Files a sentence-transformers model may have; the first three are required.
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
const OPTIONAL: [&str; 3] = [
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
];

/// Fetches `model_id` (optionally `model_id@revision`) into the Hub cache, or finds it there
/// when `HF_HUB_OFFLINE` is set, and returns the snapshot directory.
pub(crate) fn download(spec: &str) -> Result<PathBuf> {
    let (model_id, revision) = match spec.split_once('@') {
        Some((id, rev)) => (id, rev.to_owned()),
        None => (spec, "main".to_owned()),
    };
    let hub_error = |message: String| Error::Hub {
        model_id: model_id.to_owned(),
        message,
    };
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0");
    let repo = Repo::with_revision(model_id.to_owned(), RepoType::Model, revision);
    if offline {
        let cache = hf_hub::Cache::from_env().repo(repo);
        let config = cache
            .get("config.json")
            .ok_or_else(|| hub_error("not in the Hub cache and HF_HUB_OFFLINE is set".into()))?;
        return snapshot_dir(config).ok_or_else(|| hub_error("unexpected cache layout".into()));
    }
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| hub_error(e.to_string()))?;
    let api_repo = api.repo(repo);
    let mut config = None;
    for file in REQUIRED {
        let path = api_repo
            .get(file)
            .map_err(|e| hub_error(format!("{file}: {e}")))?;
        config.get_or_insert(path);
    }
    for file in OPTIONAL {
        // Absent optional files are normal (a plain transformer has no modules.json).
        let _ = api_repo.get(file);
    }
    config
        .and_then(snapshot_dir)
        .ok_or_else(|| hub_error("unexpected cache layout".into()))
}

fn snapshot_dir(config_path: PathBuf) -> Option<PathBuf> {
    config_path.parent().map(PathBuf::from)
}
