//! After warm-up, embedding token ids allocates nothing: not in the forward pass, the kernels'
//! scratch, the thread pool hand-offs, nor the pooling. A counting global allocator sees every
//! allocation of every thread; this file holds one test so that nothing else runs beside it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use minilm::{Embedder, Options, Precision};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn embedding_token_ids_allocates_nothing_after_warm_up() {
    let texts = [
        "A man is playing a guitar.",
        "The quick brown fox jumps over the lazy dog, then naps in the afternoon sun for a while.",
        "Hi",
        "Three sentences of different lengths make batches of different shapes, and the longest \
         one here runs to several dozen tokens so that attention splits its heads across threads.",
    ];
    for (threads, precision) in [
        (1, Precision::F32),
        (2, Precision::F32),
        (1, Precision::Int8),
        (2, Precision::Int8),
    ] {
        let options = Options::default()
            .threads(threads)
            .batch_size(3)
            .precision(precision);
        let embedder = Embedder::from_dir(common::model_dir(), &options).unwrap();
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| embedder.token_ids(t).unwrap())
            .collect();
        let all: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let mut out = vec![0.0f32; all.len() * embedder.dim()];
        let mut expected = vec![0.0f32; out.len()];
        embedder.embed_batch_into(&texts, &mut expected).unwrap();
        let batches = [&all[..], &all[1..], &all[2..3], &all[..1]];
        let mut outputs: Vec<Vec<f32>> = batches
            .iter()
            .map(|b| vec![0.0f32; b.len() * embedder.dim()])
            .collect();
        // Warm-up: every shape once sizes every buffer (the largest pass decides).
        for (batch, part) in batches.iter().zip(&mut outputs) {
            embedder.embed_token_ids_into(batch, part).unwrap();
        }
        for (batch, part) in batches.iter().zip(&mut outputs) {
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            embedder.embed_token_ids_into(batch, part).unwrap();
            let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
            assert_eq!(
                allocations,
                0,
                "{precision:?}, {threads} thread(s), a batch of {} texts: {allocations} allocations",
                batch.len()
            );
        }
        embedder.embed_token_ids_into(&all, &mut out).unwrap();
        assert!(
            out.iter()
                .zip(&expected)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{threads} thread(s): token ids give other embeddings than the texts"
        );
    }
}
