//! Models from the Hugging Face Hub, through `hf-hub` and its cache (feature `hub`).

use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Files every model needs.
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Files a sentence-transformers model has besides the modules' own configs.
const SENTENCE_FILES: [&str; 3] = [
    "modules.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
];

/// Fetches `model_id` (optionally `model_id@revision`) into the Hub cache, or, when
/// `HF_HUB_OFFLINE` is set, finds it there; returns the snapshot directory.
///
/// Online, the repository's file list decides what is fetched: every required file, every
/// sentence-transformers file the repository has, and each module config `modules.json` names.
/// Any failure on a file that exists is an error, so a flaky connection cannot silently turn a
/// sentence-transformers model into a plain transformer.
pub(crate) fn download(spec: &str) -> Result<PathBuf> {
    let (model_id, revision) = crate::locate::split_revision(spec)?;
    let hub_error = |message: String| Error::Hub {
        model_id: model_id.to_owned(),
        message,
    };
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0");
    let repo = Repo::with_revision(
        model_id.to_owned(),
        RepoType::Model,
        revision.unwrap_or("main").to_owned(),
    );
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
    let listed: Vec<String> = api_repo
        .info()
        .map_err(|e| hub_error(format!("cannot list the repository: {e}")))?
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .collect();
    let fetch = |file: &str| {
        api_repo
            .get(file)
            .map_err(|e| hub_error(format!("{file}: {e}")))
    };
    let config = fetch(REQUIRED[0])?;
    for file in &REQUIRED[1..] {
        fetch(file)?;
    }
    for file in SENTENCE_FILES {
        if listed.iter().any(|f| f == file) {
            fetch(file)?;
        }
    }
    if listed.iter().any(|f| f == "modules.json") {
        #[derive(Deserialize)]
        struct Module {
            #[serde(default)]
            path: String,
        }
        let modules_path = fetch("modules.json")?;
        let modules: Vec<Module> = crate::config::read_json(&modules_path)?;
        for module in modules.iter().filter(|m| !m.path.is_empty()) {
            let file = format!("{}/config.json", module.path);
            if listed.contains(&file) {
                fetch(&file)?;
            }
        }
    }
    snapshot_dir(config).ok_or_else(|| hub_error("unexpected cache layout".into()))
}

fn snapshot_dir(config_path: PathBuf) -> Option<PathBuf> {
    config_path.parent().map(PathBuf::from)
}
