//! Dense products `C = A · Wᵀ` on MiniLM's shapes, single-threaded: our AVX-512 and AVX2
//! microkernels against the `gemm` crate (0.19, built with its `x86-v4` AVX-512 kernels) on the
//! same data.
//!
//! Throughput is in FLOPs: each benchmark counts `2·m·n·k` "elements", so criterion's
//! `elem/s` column reads as FLOP/s (`Gelem/s` = GFLOP/s).
//!
//! Shapes (k, n): (384, 1152) QKV, (384, 1536) FFN in, (1536, 384) FFN out, (384, 384) attention
//! out; m in {1, 4, 12, 16} token rows (one short sentence, the latency case) and 1280 (a batch).
//! Our weights are packed outside the timed loop, as the engine does at load; the `gemm` crate
//! gets `Wᵀ` already transposed to `k x n` row-major (its fastest layout here, also prepared
//! outside the loop). Both run on one thread (`Parallelism::None` for `gemm`).
//!
//! `cargo bench --bench gemm`; `GEMM_BENCH_M=1,12` / `GEMM_BENCH_SHAPES=384x1152` narrow the sweep.
//!
//! `GEMM_BENCH_TABLE=1 cargo bench --bench gemm` prints a ratio table instead of running
//! criterion: for each shape, several rounds that time every implementation back to back (the
//! fastest of repeated calls over ~60 ms each), then the best and median round in GFLOP/s and the
//! ratio ours/`gemm` of the best rounds. On a shared machine whose speed drifts over seconds,
//! interleaving is what keeps the comparison fair; `GEMM_BENCH_ROUNDS` sets the rounds (5).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use minilm_kernels::{Epilogue, Isa, Kernels, PackedWeights};

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

/// `C = A · B` for row-major `A` (m x k) and `B` (k x n) with the `gemm` crate, one thread.
fn gemm_crate(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
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
            gemm::Parallelism::None,
        )
    }
}

/// Our paths on this CPU, announced once.
fn our_paths() -> Vec<&'static Kernels> {
    let ours: Vec<&'static Kernels> = [Isa::Avx512, Isa::Avx2]
        .into_iter()
        .filter_map(|isa| Kernels::for_isa(isa).ok())
        .collect();
    let names: Vec<String> = ours.iter().map(|k| k.name()).collect();
    eprintln!(
        "gemm bench: ours on [{}] vs gemm crate (x86-v4), 1 thread; detected path: {}",
        names.join(", "),
        Kernels::detect()
            .map(|k| k.name())
            .unwrap_or_else(|e| e.to_string()),
    );
    ours
}

/// The (k, n) shapes and row counts to run.
fn sweep() -> (Vec<(usize, usize)>, Vec<usize>) {
    let parse_shape = |s: &str| {
        let (k, n) = s.split_once('x')?;
        Some((k.parse().ok()?, n.parse().ok()?))
    };
    let shapes = env_list("GEMM_BENCH_SHAPES", &SHAPES, parse_shape);
    let rows = env_list("GEMM_BENCH_M", &ROWS, |s| s.parse().ok());
    (shapes, rows)
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

/// GFLOP/s of the fastest of repeated calls of `f` over about 60 ms.
fn best_gflops(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let (start, mut best) = (Instant::now(), f64::MAX);
    while start.elapsed() < Duration::from_millis(60) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    flops / best / 1e9
}

/// The interleaved ratio table (see the module docs).
fn ratio_table() {
    let ours = our_paths();
    let (shapes, rows) = sweep();
    let rounds: usize = std::env::var("GEMM_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let mut header = format!("{:>5} {:>5} {:>5}", "k", "n", "m");
    for kernels in &ours {
        header += &format!(" {:>17}", format!("{} best/med", kernels.isa().name()));
    }
    println!("GFLOP/s, 1 thread, best and median of {rounds} interleaved rounds");
    println!("{header} {:>17} {:>11}", "gemm best/med", "ours/gemm");
    for (k, n) in shapes {
        let (weight_t, packed) = prepare_weights(&ours, k, n);
        for &m in &rows {
            let a = common::values(m * k, 2, 1.0);
            let mut out = vec![0.0f32; m * n];
            let flops = (2 * m * n * k) as f64;
            let mut results = vec![Vec::new(); ours.len() + 1];
            for _ in 0..rounds {
                for (i, (kernels, packed)) in ours.iter().zip(&packed).enumerate() {
                    results[i].push(best_gflops(flops, || {
                        kernels.gemm(black_box(&a), m, packed, Epilogue::None, &mut out)
                    }));
                }
                results[ours.len()].push(best_gflops(flops, || {
                    gemm_crate(black_box(&a), &weight_t, &mut out, m, k, n)
                }));
            }
            // (best, median) per implementation, the gemm crate last.
            let stats: Vec<(f64, f64)> = results
                .iter_mut()
                .map(|r| {
                    r.sort_by(f64::total_cmp);
                    (r[r.len() - 1], r[r.len() / 2])
                })
                .collect();
            let mut line = format!("{k:>5} {n:>5} {m:>5}");
            for (best, median) in &stats {
                line += &format!(" {:>17}", format!("{best:.1}/{median:.1}"));
            }
            let gemm_best = stats[ours.len()].0;
            let ratios: Vec<String> = stats[..ours.len()]
                .iter()
                .map(|(best, _)| format!("{:.2}", best / gemm_best))
                .collect();
            println!("{line} {:>11}", ratios.join("/"));
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
    let (shapes, rows) = sweep();
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
            for (kernels, packed) in ours.iter().zip(&packed) {
                group.bench_function(BenchmarkId::new(kernels.isa().name(), m), |b| {
                    b.iter(|| kernels.gemm(black_box(&a), m, packed, Epilogue::None, &mut out))
                });
            }
            group.bench_function(BenchmarkId::new("gemm-crate", m), |b| {
                b.iter(|| gemm_crate(black_box(&a), &weight_t, &mut out, m, k, n))
            });
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
