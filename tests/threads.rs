//! The engine computes on exactly the configured number of threads: the calling thread and its
//! own workers, of which loading starts `threads - 1`; embedding (alone, in batches, from several
//! callers) starts none, and rayon's global pool is never touched. Threads are counted in /proc/self/task, so this file holds one test
//! and nothing else runs beside it.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

mod common;

use minilm::{Embedder, Options};

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

/// The thread count once it reaches `expected`, or after a second of waiting (threads that
/// have been told to end take a moment to go).
fn os_threads_settled_at(expected: usize) -> usize {
    let mut count = os_threads();
    for _ in 0..100 {
        if count == expected {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        count = os_threads();
    }
    count
}

#[test]
fn the_engine_uses_its_own_pool_of_the_configured_size() {
    let texts: Vec<String> = (0..40)
        .map(|i| format!("sentence {i} {}", "word ".repeat(i * 5)))
        .collect();
    let before = os_threads();
    for threads in [1, 3] {
        let embedder =
            Embedder::from_dir(common::model_dir(), &Options::default().threads(threads)).unwrap();
        let loaded = os_threads();
        // The caller is the team's first thread; the others are the embedder's own workers.
        assert_eq!(
            loaded,
            before + threads - 1,
            "loading with {threads} thread(s)"
        );
        embedder.embed_batch(&texts).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| embedder.embed_batch(&texts[..8]).unwrap());
            }
        });
        // The three caller threads have ended; the workers alone remain.
        let after = os_threads_settled_at(loaded);
        assert_eq!(
            after, loaded,
            "embedding with {threads} thread(s) started threads"
        );
        drop(embedder);
    }
    // Rayon's global pool would start one thread per core on first use; it was never used.
    let last = os_threads_settled_at(before);
    assert_eq!(
        last, before,
        "threads left after the embedders were dropped"
    );
}
