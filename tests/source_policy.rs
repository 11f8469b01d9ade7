//! House rules that are cheap to check mechanically: `unsafe` code lives in `kernels/` only.
//! Every other crate root (library, CLI, tests, benches, examples, fuzz targets) forbids it,
//! except two targets that cannot: the allocation-counting test (a `GlobalAlloc` impl is
//! `unsafe` by definition) and the GEMM bench (the peer `gemm` crate's entry point is an
//! `unsafe fn`); each `unsafe` there carries a `// SAFETY:` line.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

const EXCEPTIONS: [&str; 2] = ["tests/no_alloc.rs", "benches/gemm.rs"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs` files directly in `dir` (relative to the package root).
fn rust_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| format!("{dir}/{}", path.file_name().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    files
}

fn read(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_crate_root_outside_kernels_forbids_unsafe_code() {
    let mut roots = vec![
        "src/lib.rs".to_owned(),
        "src/bin/minilm/main.rs".to_owned(),
        "tests/fuzz/src/lib.rs".to_owned(),
    ];
    for dir in [
        "tests",
        "benches",
        "examples",
        "tests/fuzz/fuzz_targets",
        "tests/fuzz/examples",
    ] {
        roots.extend(rust_files(dir));
    }
    assert!(roots.len() > 20, "found only {roots:?}");
    for file in &roots {
        let text = read(file);
        if EXCEPTIONS.contains(&file.as_str()) {
            let unsafe_uses = text.matches("unsafe ").count() + text.matches("unsafe{").count();
            let reasons = text.matches("// SAFETY:").count();
            assert!(
                unsafe_uses > 0 && reasons >= unsafe_uses - text.matches("unsafe fn").count(),
                "{file}: {unsafe_uses} unsafe, {reasons} SAFETY comments"
            );
        } else {
            assert!(
                text.contains("#![forbid(unsafe_code)]"),
                "{file} does not forbid unsafe code"
            );
        }
    }
}

#[test]
fn the_engine_has_no_unsafe_at_all() {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    if line.contains("unsafe") && !line.contains("forbid(unsafe_code)") {
                        found.push(format!("{}:{}: {line}", path.display(), n + 1));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("src"), &mut found);
    assert!(
        found.is_empty(),
        "unsafe in the engine:\n{}",
        found.join("\n")
    );
}
