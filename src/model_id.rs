//! Hugging Face Hub model ids as users write them: `owner/name`, optionally `@revision`.

use crate::error::{Error, Result};

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
