//! Models from the Hugging Face Hub, through `hf-hub` and its cache (feature `hub`).

use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};
use serde::Deserialize;

use self::FetchError::{Failed, Unreachable};
use crate::error::{Error, Result};

/// Files every model needs.
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Files a sentence-transformers model has besides the modules' own configs (fetched when the
/// repository has them). The last two are not read here, but belong to a complete copy of the
/// model (`minilm fetch` installs exactly the files it pins).
const SENTENCE_FILES: [&str; 6] = [
    "modules.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "config_sentence_transformers.json",
    "special_tokens_map.json",
    "vocab.txt",
];

/// Fetches `model_id` (optionally `model_id@revision`) into the Hub cache, or, when
/// `HF_HUB_OFFLINE` is set, finds it there; returns the snapshot directory.
///
/// Online, the repository's file list decides what is fetched: every required file, every
/// sentence-transformers file the repository has, and each module config `modules.json` names.
/// Any failure on a file that exists is an error, so a flaky connection cannot silently turn a
/// sentence-transformers model into a plain transformer. When the Hub cannot be reached at all,
/// a copy already in the cache is used (as the Python `huggingface_hub` does); the error names
/// both the Hub's answer and the cache directory looked in.
pub(crate) fn download(spec: &str) -> Result<PathBuf> {
    let (model_id, revision) = crate::model_id::split_revision(spec)?;
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
    let cache = hf_hub::Cache::from_env();
    let cache_dir = cache.path().join(repo.folder_name());
    let from_cache = |why: &str| {
        cached_snapshot(&cache, &repo).ok_or_else(|| {
            hub_error(format!(
                "{why}; not in the Hub cache either ({}, revision {})",
                cache_dir.display(),
                repo.revision()
            ))
        })
    };
    if offline {
        return from_cache("HF_HUB_OFFLINE is set");
    }
    match fetch(&repo, &hub_error) {
        Ok(dir) => Ok(dir),
        Err(Unreachable(message)) => from_cache(&message),
        Err(Failed(error)) => Err(error),
    }
}

/// Why an online fetch failed: the Hub could not be asked at all (so a cached copy may serve),
/// or it answered and something was wrong.
enum FetchError {
    Unreachable(String),
    Failed(Error),
}

/// The snapshot directory of `repo` in the cache, if its `config.json` is there: the revision
/// is looked up as a branch or tag (`refs/<revision>`), or taken as a commit hash.
fn cached_snapshot(cache: &hf_hub::Cache, repo: &Repo) -> Option<PathBuf> {
    if let Some(config) = cache.repo(repo.clone()).get("config.json") {
        return snapshot_dir(config);
    }
    let revision = repo.revision();
    let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    let snapshot = cache
        .path()
        .join(repo.folder_name())
        .join("snapshots")
        .join(revision);
    (is_commit && snapshot.join("config.json").is_file()).then_some(snapshot)
}

fn fetch(
    repo: &Repo,
    hub_error: &dyn Fn(String) -> Error,
) -> std::result::Result<PathBuf, FetchError> {
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| Failed(hub_error(e.to_string())))?;
    let api_repo = api.repo(repo.clone());
    let listed: Vec<String> = api_repo
        .info()
        .map_err(|e| Unreachable(format!("cannot list the repository: {e}")))?
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .collect();
    let fetch = |file: &str| {
        api_repo
            .get(file)
            .map_err(|e| Failed(hub_error(format!("{file}: {e}"))))
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
        let modules: Vec<Module> = crate::config::read_json(&modules_path).map_err(Failed)?;
        for module in modules.iter().filter(|m| !m.path.is_empty()) {
            let file = format!("{}/config.json", module.path);
            if listed.contains(&file) {
                fetch(&file)?;
            }
        }
    }
    snapshot_dir(config).ok_or_else(|| Failed(hub_error("unexpected cache layout".into())))
}

fn snapshot_dir(config_path: PathBuf) -> Option<PathBuf> {
    config_path.parent().map(PathBuf::from)
}
