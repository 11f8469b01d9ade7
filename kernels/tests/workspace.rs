//! The per-thread workspace: a thread grown to the process-wide peak ([`workspace::reserve`])
//! runs a kernel whose need another thread met first without allocating, while a thread that
//! was not reserved allocates for it. A counting global allocator sees every thread, so this
//! file holds one test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use minilm_kernels::{workspace, Epilogue, Kernels};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations made by `f` (on any thread) while it runs.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn a_reserved_thread_does_not_allocate_for_a_need_another_thread_met() {
    // The scalar GEMM works in place and takes no workspace; every SIMD path does.
    let simd: Vec<_> = Kernels::available()
        .into_iter()
        .filter(|k| k.isa() != minilm_kernels::Isa::Scalar)
        .collect();
    for kernels in simd {
        let (m, n, k) = (48, 384, 1536);
        let weights: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.01).collect();
        let a: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 * 0.1).collect();
        let w = kernels.pack_weights(&weights, n, k);
        let run = || {
            let mut c = vec![0.0f32; m * n];
            kernels.gemm(&a, m, &w, Epilogue::None, &mut c);
            c
        };
        // Another thread meets the need first, raising the peak.
        let expected = std::thread::scope(|s| s.spawn(run).join().unwrap());
        assert!(
            workspace::peak() > 0,
            "{}: no workspace used",
            kernels.name()
        );
        let mut c = vec![0.0f32; m * n];
        // A fresh thread that was not reserved allocates its workspace.
        let unreserved = std::thread::scope(|s| {
            s.spawn(|| {
                let mut c = vec![0.0f32; m * n];
                allocations(|| kernels.gemm(&a, m, &w, Epilogue::None, &mut c))
            })
            .join()
            .unwrap()
        });
        assert!(unreserved > 0, "{}: the check cannot fail", kernels.name());
        // A fresh thread that was reserved does not.
        let reserved = std::thread::scope(|s| {
            s.spawn(|| {
                workspace::reserve();
                allocations(|| kernels.gemm(&a, m, &w, Epilogue::None, &mut c))
            })
            .join()
            .unwrap()
        });
        assert_eq!(reserved, 0, "{}: allocated after reserve", kernels.name());
        assert_eq!(c, expected, "{}", kernels.name());
    }
}
