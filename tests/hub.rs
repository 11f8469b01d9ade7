//! Models by Hub id through the Hugging Face cache (feature `hub`): `HF_HUB_OFFLINE`, revision
//! pinning by branch, tag or commit, the fallback to the cache when the Hub is unreachable, and
//! the error that names every place tried. No network: the Hub endpoint points at a closed port
//! and the cache is built by the test in the layout `huggingface_hub` and `hf-hub` share.
#![forbid(unsafe_code)]

mod common;

use std::path::{Path, PathBuf};

use common::{model_dir, same_bits, TempDir};
use minilm::{Embedder, Error, Options};

const ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
const MAIN: &str = "1111111111111111111111111111111111111111";
const TAGGED: &str = "2222222222222222222222222222222222222222";

/// A snapshot of the real model in `hub/models--sentence-transformers--all-MiniLM-L6-v2`,
/// its files linked to the fetched copy, and a ref naming it.
fn add_snapshot(source: &Path, hf_home: &Path, commit: &str, refs: &[&str]) -> PathBuf {
    let repo = hf_home.join("hub/models--sentence-transformers--all-MiniLM-L6-v2");
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(snapshot.join("1_Pooling")).unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ] {
        std::os::unix::fs::symlink(source.join(file), snapshot.join(file)).unwrap();
    }
    for name in refs {
        let path = repo.join("refs").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, commit).unwrap();
    }
    snapshot
}

fn not_found(spec: &str) -> String {
    match minilm::resolve_model(Some(spec)) {
        Err(e @ Error::ModelNotFound { .. }) => e.to_string(),
        other => panic!("{spec}: expected ModelNotFound, got {other:?}"),
    }
}

/// One test: the environment variables it sets are the process's.
#[test]
fn hub_ids_resolve_through_the_cache() {
    let source = model_dir();
    let reference = Embedder::from_dir(&source, &Options::default().threads(1)).unwrap();
    let expected = reference.embed("A man is playing a guitar.").unwrap();

    let hf_home = TempDir::new("hf-home");
    let minilm_home = TempDir::new("minilm-home"); // no local models
    std::env::set_var("HF_HOME", hf_home.path());
    std::env::set_var("MINILM_HOME", minilm_home.path());
    std::env::remove_var("MINILM_MODEL_DIR");
    // Online attempts fail at once: nothing listens there.
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");

    // Nothing cached: the error names the local models directory, the Hub's answer and the
    // cache directory with the revision.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let error = not_found(ID);
    println!("{error}");
    let local = minilm_home.path().join("models").join(ID);
    assert!(error.contains(&local.display().to_string()), "{error}");
    assert!(error.contains("HF_HUB_OFFLINE is set"), "{error}");
    assert!(
        error.contains("models--sentence-transformers--all-MiniLM-L6-v2"),
        "{error}"
    );
    assert!(error.contains("revision main"), "{error}");

    let main = add_snapshot(&source, hf_home.path(), MAIN, &["main"]);
    let tagged = add_snapshot(&source, hf_home.path(), TAGGED, &["v1.0", "refs/pr/7"]);

    // Offline: branch, tag, pull-request ref and commit hash each find their snapshot.
    assert_eq!(minilm::resolve_model(Some(ID)).unwrap(), main);
    assert_eq!(
        minilm::resolve_model(Some(&format!("{ID}@v1.0"))).unwrap(),
        tagged
    );
    assert_eq!(
        minilm::resolve_model(Some(&format!("{ID}@refs/pr/7"))).unwrap(),
        tagged
    );
    assert_eq!(
        minilm::resolve_model(Some(&format!("{ID}@{MAIN}"))).unwrap(),
        main
    );
    let error = not_found(&format!("{ID}@v9"));
    assert!(error.contains("revision v9"), "{error}");
    // A pinned revision never takes the unversioned local copy.
    assert!(!error.contains(&local.display().to_string()), "{error}");

    // The model loads from the cache and embeds as from its directory.
    let embedder =
        Embedder::from_hub(&format!("{ID}@v1.0"), &Options::default().threads(1)).unwrap();
    assert_eq!(embedder.model_dir(), tagged);
    assert!(same_bits(
        &embedder.embed("A man is playing a guitar.").unwrap(),
        &expected
    ));

    // Online with the Hub unreachable: the cached copy serves; without one, the error has the
    // Hub's answer and the cache looked in.
    std::env::remove_var("HF_HUB_OFFLINE");
    assert_eq!(minilm::resolve_model(Some(ID)).unwrap(), main);
    let error = not_found("someone/not-cached");
    assert!(error.contains("cannot list the repository"), "{error}");
    assert!(error.contains("models--someone--not-cached"), "{error}");

    // HF_HUB_OFFLINE=0 means online, as in huggingface_hub.
    std::env::set_var("HF_HUB_OFFLINE", "0");
    assert!(not_found("someone/not-cached").contains("cannot list the repository"));
}
