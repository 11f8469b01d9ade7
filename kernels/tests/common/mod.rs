//! Helpers shared by the kernel test files: a seeded generator, tolerances, the paths and
//! shapes to sweep, and a runner with real threads.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use minilm_kernels::{Epilogue, Kernels, TaskRunner};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn uniform(&mut self, scale: f32) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        (2.0 * (bits as f32 / (1u64 << 24) as f32) - 1.0) * scale
    }
    pub fn vec(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| self.uniform(scale)).collect()
    }
}

/// |got - want| <= atol + rtol·|want| for every element.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - w).abs();
        assert!(
            err <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, want {w} (error {err:e})"
        );
    }
}

/// Each epilogue, with `bias` where it takes one.
pub fn every_epilogue(bias: &[f32]) -> [Epilogue<'_>; 4] {
    [
        Epilogue::None,
        Epilogue::Bias(bias),
        Epilogue::BiasGelu(bias),
        Epilogue::BiasResidual(bias),
    ]
}

/// The paths under test: every path this build and CPU run, or only the one `MINILM_ISA` names
/// (an unavailable one fails the test). Under qemu, where every instruction is emulated,
/// `tools/cross-aarch64.sh --test` tests each aarch64 path on its own emulated core this way; the
/// scalar path's own tests run natively.
pub fn paths() -> Vec<&'static Kernels> {
    let paths = match std::env::var("MINILM_ISA") {
        Ok(name) if !name.trim().is_empty() => {
            let isa = minilm_kernels::Isa::from_name(&name).expect("MINILM_ISA");
            vec![Kernels::for_isa(isa).expect("MINILM_ISA names a path this CPU cannot run")]
        }
        _ => Kernels::available(),
    };
    assert!(!paths.is_empty());
    static ANNOUNCED: std::sync::Once = std::sync::Once::new();
    ANNOUNCED.call_once(|| {
        let names: Vec<String> = paths.iter().map(|k| k.name()).collect();
        eprintln!("kernel paths under test: {}", names.join(", "));
    });
    paths
}

/// GEMM shapes `(m, k, n)`: a sweep, not a cross product. Every row-group height of every path
/// (1..=17 rows, then the 13/14-row groups of larger m), every `k` and `n` the brief lists (1, 7,
/// 31, 33, 255, 257 and the model's 384/1152/1536), empty `k` and `n`, and the model's four
/// products with enough rows to cross the row, panel and `k` blocks of the SIMD drivers.
pub fn gemm_shapes() -> Vec<(usize, usize, usize)> {
    let mut shapes = Vec::new();
    // Row-group heights (m), on a k that crosses a k block and an n with a partial panel.
    for m in 1..=17 {
        shapes.push((m, 33, 47));
    }
    for m in [29, 31, 33, 43, 255, 257] {
        shapes.push((m, 257, 33));
    }
    // k, with one small and one multi-group m.
    for k in [1, 7, 31, 33, 255, 257, 384, 1152, 1536] {
        shapes.push((3, k, 31));
        shapes.push((31, k, 17));
    }
    // n, with one small and one multi-group m.
    for n in [1, 7, 15, 16, 17, 31, 33, 255, 257, 384, 1152, 1536] {
        shapes.push((1, 33, n));
        shapes.push((16, 7, n));
        shapes.push((33, 31, n));
    }
    // Nothing to sum, nothing to write.
    shapes.extend([(5, 0, 17), (20, 0, 3), (4, 9, 0), (1, 1, 1)]);
    // The model's products (k, n) = (384, 1152), (384, 1536), (1536, 384), (384, 384).
    shapes.extend([
        (12, 384, 1152),
        (257, 384, 1152),
        (7, 384, 1536),
        (33, 384, 1536),
    ]);
    shapes.extend([
        (16, 1536, 384),
        (255, 1536, 384),
        (1, 384, 384),
        (100, 384, 384),
    ]);
    shapes
}

/// A runner with real threads (one scoped thread per task), counting the tasks it was given.
pub struct ScopedThreads {
    pub threads: usize,
    pub tasks_seen: AtomicUsize,
}

impl TaskRunner for ScopedThreads {
    fn threads(&self) -> usize {
        self.threads
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        self.tasks_seen.fetch_max(tasks, Ordering::Relaxed);
        std::thread::scope(|scope| {
            for t in 0..tasks {
                scope.spawn(move || task(t));
            }
        });
    }
}

impl ScopedThreads {
    pub fn new(threads: usize) -> ScopedThreads {
        ScopedThreads {
            threads,
            tasks_seen: AtomicUsize::new(0),
        }
    }

    /// The most tasks one `run` call was given.
    pub fn most_tasks(&self) -> usize {
        self.tasks_seen.load(Ordering::Relaxed)
    }
}
