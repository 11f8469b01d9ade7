//! Dense products `C = A · Wᵀ` on MiniLM's shapes, on one thread and on all threads: our AVX-512
//! and AVX2 microkernels against the `gemm` crate (0.19, built with its `x86-v4` AVX-512
//! kernels) on the same data.
//!
//! Throughput is in FLOPs: each benchmark counts `2·m·n·k` "elements", so criterion's
//! `elem/s` column reads as FLOP/s (`Gelem/s` = GFLOP/s).
//!
//! Shapes (k, n): (384, 1152) QKV, (384, 1536) FFN in, (1536, 384) FFN out, (384, 384) attention
//! out; m in {1, 4, 12, 16} token rows (one short sentence, the latency case) and 1280 (a batch).
//! Our weights are packed outside the timed loop, as the engine does at load; the `gemm` crate
//! gets `Wᵀ` already transposed to `k x n` row-major (its fastest layout here, also prepared
//! outside the loop). On one thread ours is `Kernels::gemm` and the `gemm` crate gets
//! `Parallelism::None`; on `t` threads both run inside a rayon pool of `t` threads, ours through
//! `Kernels::gemm_parallel` (the engine's split), the `gemm` crate with `Parallelism::Rayon(t)`.
//!
//! `cargo bench --bench gemm`; `GEMM_BENCH_M=1,12` / `GEMM_BENCH_SHAPES=384x1152` /
//! `GEMM_BENCH_THREADS=1,2` narrow the sweep (threads default to 1 and all cores).
//!
//! `GEMM_BENCH_TABLE=1 cargo bench --bench gemm` prints a ratio table instead of running
//! criterion. For each shape and `m` it runs rounds for `GEMM_BENCH_SECONDS` (1.5 s): a round
//! times a short burst of every implementation on every thread count back to back (the fastest
//! of 4 calls after an untimed one), so the implementations of one round see the same machine
//! speed. It prints the best and median burst in GFLOP/s, and the *median over rounds of the
//! per-round ratio* ours/`gemm` (speed) and ours at `t` threads / ours at the first thread
//! count. On a shared host whose speed drifts over seconds, pairing within a round is what makes
//! the ratios repeatable; best-of-run figures alone are not. The table also gives the FMA peak
//! (`Kernels::fma_peak_gflops`, per thread count, at the start and the end) and our best burst
//! as a percentage of it.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use minilm_kernels::{Epilogue, Isa, Kernels, PackedWeights, TaskRunner};
use rayon::prelude::*;

const SHAPES: [(usize, usize); 4] = [(384, 1152), (384, 1536), (1536, 384), (384, 384)];
const ROWS: [usize; 5] = [1, 4, 12, 16, 1280];

/// A comma-separated override of a list from the environment.
fn env_list<T: Copy>(name: &str, all: &[T], parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
    match std::env::var(name) {
        Ok(list) if !list.trim().is_empty() => {
            list.split(',').filter_map(|s| parse(s.trim())).collect()
        }
        _ => all.to_vec(),
    }
}

/// Our kernels' tasks on the current rayon pool (as the engine runs them).
struct PoolTasks;

impl TaskRunner for PoolTasks {
    fn threads(&self) -> usize {
        rayon::current_num_threads()
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        (0..tasks).into_par_iter().with_max_len(1).for_each(task);
    }
}

/// One thread count of the sweep: a rayon pool of that size (none for 1 thread).
struct Threads {
    count: usize,
    pool: Option<rayon::ThreadPool>,
}

impl Threads {
    fn new(count: usize) -> Threads {
        let pool = (count > 1).then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(count)
                .build()
                .expect("bench thread pool")
        });
        Threads { count, pool }
    }

    /// Runs `f` on the pool's threads (or the calling thread for 1).
    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }

    /// Our product on these threads.
    fn ours(&self, kernels: &Kernels, a: &[f32], m: usize, w: &PackedWeights, c: &mut [f32]) {
        if self.count == 1 {
            kernels.gemm(a, m, w, Epilogue::None, c)
        } else {
            kernels.gemm_parallel(a, m, w, Epilogue::None, c, &PoolTasks)
        }
    }

    /// The `gemm` crate's product on these threads (`Parallelism::None` for 1).
    fn theirs(&self, a: &[f32], b: &[f32], c: &mut [f32], shape: (usize, usize, usize)) {
        let parallelism = if self.count == 1 {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(self.count)
        };
        gemm_crate(a, b, c, shape, parallelism)
    }
}

/// `C = A · B` for row-major `A` (m x k) and `B` (k x n) with the `gemm` crate.
fn gemm_crate(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    (m, k, n): (usize, usize, usize),
    parallelism: gemm::Parallelism,
) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    // SAFETY: the strides describe row-major m x k, k x n and m x n matrices, whose lengths were
    // just checked; `read_dst` is false, so `c`'s old contents are never read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Our paths on this CPU (one per f32 kernel set: the VNNI and dotprod paths share their base's
/// f32 GEMM), announced once.
fn our_paths() -> Vec<&'static Kernels> {
    let ours: Vec<&'static Kernels> = [Isa::Avx512, Isa::Avx2, Isa::Neon]
        .into_iter()
        .filter_map(|isa| Kernels::for_isa(isa).ok())
        .collect();
    let names: Vec<String> = ours.iter().map(|k| k.name()).collect();
    eprintln!(
        "gemm bench: ours on [{}] vs gemm crate (x86-v4 on x86-64); detected path: {}",
        names.join(", "),
        Kernels::detect()
            .map(|k| k.name())
            .unwrap_or_else(|e| e.to_string()),
    );
    ours
}

/// The (k, n) shapes, row counts and thread counts to run.
fn sweep() -> (Vec<(usize, usize)>, Vec<usize>, Vec<Threads>) {
    let parse_shape = |s: &str| {
        let (k, n) = s.split_once('x')?;
        Some((k.parse().ok()?, n.parse().ok()?))
    };
    let shapes = env_list("GEMM_BENCH_SHAPES", &SHAPES, parse_shape);
    let rows = env_list("GEMM_BENCH_M", &ROWS, |s| s.parse().ok());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut all = vec![1, cores];
    all.dedup();
    let threads = env_list("GEMM_BENCH_THREADS", &all, |s| s.parse().ok())
        .into_iter()
        .filter(|&t| t > 0)
        .map(Threads::new)
        .collect();
    (shapes, rows, threads)
}

/// `weight` (n x k) transposed to k x n, the layout handed to the `gemm` crate.
fn transposed(weight: &[f32], n: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; k * n];
    for j in 0..n {
        for p in 0..k {
            out[p * n + j] = weight[j * k + p];
        }
    }
    out
}

/// Seconds of the fastest of a short burst of calls of `f` (one untimed call first, so a burst
/// starts with its own data in cache).
fn burst(mut f: impl FnMut()) -> f64 {
    f();
    (0..BURST_CALLS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// Timed calls per burst.
const BURST_CALLS: usize = 4;

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The AVX-512 (or best available) FMA peak in GFLOP/s on `count` threads at once (the sum).
fn fma_peak(kernels: &Kernels, count: usize) -> f64 {
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| kernels.fma_peak_gflops(Duration::from_millis(300))))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).sum()
    })
}

/// The paired ratio table (see the module docs).
fn ratio_table() {
    let ours = our_paths();
    let (shapes, rows, threads) = sweep();
    println!(
        "{}; caches {}",
        ours.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
        minilm_kernels::CacheSizes::detect()
    );
    for kernels in &ours {
        let tile = kernels.gemm_tile();
        let b = kernels.gemm_blocking();
        println!(
            "{}: tile {}x{}, blocking kc {}, weight block {} KiB, A block {} KiB",
            kernels.isa(),
            tile.0,
            tile.1,
            b.kc,
            b.weight_block_bytes >> 10,
            b.a_block_bytes >> 10
        );
    }
    // peaks[thread count][path]: each path against its own FMA loop (on AMD Zen 4, a 512-bit
    // FMA runs as two 256-bit halves, so the AVX2 and AVX-512 peaks can be the same).
    let peaks: Vec<Vec<f64>> = threads
        .iter()
        .map(|t| {
            ours.iter()
                .map(|kernels| fma_peak(kernels, t.count))
                .collect()
        })
        .collect();
    for (t, peak) in threads.iter().zip(&peaks) {
        for (kernels, peak) in ours.iter().zip(peak) {
            println!(
                "FMA peak ({}), {} thread(s): {peak:.1} GFLOP/s",
                kernels.isa().name(),
                t.count
            );
        }
    }
    let seconds: f64 = std::env::var("GEMM_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.5);
    let mut header = format!("{:>5} {:>5} {:>5} {:>3}", "k", "n", "m", "thr");
    for kernels in &ours {
        header += &format!(" {:>15}", format!("{} best/med", kernels.isa().name()));
    }
    println!(
        "GFLOP/s (best and median burst); ratios are medians over rounds of the per-round \
         ratio, each round timing every implementation back to back ({seconds} s per row)"
    );
    println!(
        "{header} {:>15} {:>11} {:>11} {:>9}",
        "gemm best/med", "ours/gemm", "ours/1-thr", "%peak"
    );
    let impls = ours.len() + 1;
    for (k, n) in shapes {
        let (weight_t, packed) = prepare_weights(&ours, k, n);
        for &m in &rows {
            let a = common::values(m * k, 2, 1.0);
            let mut out = vec![0.0f32; m * n];
            let flops = (2 * m * n * k) as f64;
            // secs[round][thread count][implementation, the gemm crate last]
            let mut secs: Vec<Vec<Vec<f64>>> = Vec::new();
            let start = Instant::now();
            while secs.len() < 3 || (start.elapsed().as_secs_f64() < seconds && secs.len() < 500) {
                let round = threads
                    .iter()
                    .map(|threads| {
                        threads.install(|| {
                            let mut times: Vec<f64> = ours
                                .iter()
                                .zip(&packed)
                                .map(|(kernels, packed)| {
                                    burst(|| {
                                        threads.ours(kernels, black_box(&a), m, packed, &mut out)
                                    })
                                })
                                .collect();
                            times.push(burst(|| {
                                threads.theirs(black_box(&a), &weight_t, &mut out, (m, k, n))
                            }));
                            times
                        })
                    })
                    .collect();
                secs.push(round);
            }
            for (t, threads) in threads.iter().enumerate() {
                let mut line = format!("{k:>5} {n:>5} {m:>5} {:>3}", threads.count);
                for i in 0..impls {
                    let mut gflops: Vec<f64> = secs.iter().map(|r| flops / r[t][i] / 1e9).collect();
                    let med = median(&mut gflops);
                    line += &format!(
                        " {:>15}",
                        format!("{:.1}/{med:.1}", gflops[gflops.len() - 1])
                    );
                }
                let ratio = |f: &dyn Fn(&Vec<Vec<f64>>, usize) -> f64| -> String {
                    (0..ours.len())
                        .map(|i| {
                            let mut r: Vec<f64> = secs.iter().map(|round| f(round, i)).collect();
                            format!("{:.2}", median(&mut r))
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                };
                // Speed ratios: time of the other / time of ours.
                let vs_gemm = ratio(&|round, i| round[t][impls - 1] / round[t][i]);
                let vs_first = ratio(&|round, i| round[0][i] / round[t][i]);
                // Each path's best burst against its own FMA peak measured at the start.
                let percent = (0..ours.len())
                    .map(|i| {
                        let best = secs
                            .iter()
                            .map(|r| flops / r[t][i] / 1e9)
                            .fold(0.0f64, f64::max);
                        format!("{:.0}", 100.0 * best / peaks[t][i])
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                println!("{line} {vs_gemm:>11} {vs_first:>11} {percent:>8}%");
            }
        }
    }
    for (t, peak) in threads.iter().zip(&peaks) {
        for (kernels, peak) in ours.iter().zip(peak) {
            println!(
                "FMA peak at the end ({}), {} thread(s): {:.1} GFLOP/s (at the start: {peak:.1})",
                kernels.isa().name(),
                t.count,
                fma_peak(kernels, t.count)
            );
        }
    }
}

/// The bench weight for `(k, n)`: transposed for the gemm crate, and packed for each of our paths.
fn prepare_weights(
    ours: &[&'static Kernels],
    k: usize,
    n: usize,
) -> (Vec<f32>, Vec<PackedWeights>) {
    let weight = common::values(n * k, 1, 0.05);
    let packed = ours
        .iter()
        .map(|kernels| kernels.pack_weights(&weight, n, k))
        .collect();
    (transposed(&weight, n, k), packed)
}

fn gemm_shapes(c: &mut Criterion) {
    let ours = our_paths();
    let (shapes, rows, threads) = sweep();
    for (k, n) in shapes {
        let mut group = c.benchmark_group(format!("gemm_k{k}_n{n}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(800));
        let (weight_t, packed) = prepare_weights(&ours, k, n);
        for &m in &rows {
            let a = common::values(m * k, 2, 1.0);
            let mut out = vec![0.0f32; m * n];
            group.throughput(Throughput::Elements((2 * m * n * k) as u64));
            for threads in &threads {
                let t = threads.count;
                for (kernels, packed) in ours.iter().zip(&packed) {
                    let id = BenchmarkId::new(format!("{}/{t}t", kernels.isa().name()), m);
                    group.bench_function(id, |b| {
                        threads.install(|| {
                            b.iter(|| threads.ours(kernels, black_box(&a), m, packed, &mut out))
                        })
                    });
                }
                group.bench_function(BenchmarkId::new(format!("gemm-crate/{t}t"), m), |b| {
                    threads.install(|| {
                        b.iter(|| threads.theirs(black_box(&a), &weight_t, &mut out, (m, k, n)))
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, gemm_shapes);

fn main() {
    if std::env::var_os("GEMM_BENCH_TABLE").is_some_and(|v| !v.is_empty() && v != "0") {
        ratio_table();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
