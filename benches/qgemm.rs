//! int8 GEMM against our own f32 GEMM on the model's four products, one thread, for every
//! int8 path this CPU runs (`cargo bench --bench qgemm`).
//!
//! Criterion reports each as elements/s with one element per multiply-add (`m·n·k`). Before
//! the criterion runs, a paired table prints int8 / f32 speed ratios measured in alternating
//! bursts (the host's speed drifts too much for comparing separate runs); `QGEMM_BENCH_TABLE=0`
//! skips it. The int8 time includes quantising `A` (it happens inside every call).
#![forbid(unsafe_code)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use minilm_kernels::{Epilogue, Isa, Kernels};

/// The model's products `(k, n)`: QKV, FFN in, FFN out, attention output.
const SHAPES: [(usize, usize); 4] = [(384, 1152), (384, 1536), (1536, 384), (384, 384)];
/// Token rows: one short sentence, a small batch, a 32-sentence batch (about 800 rows) and more.
const ROWS: [usize; 4] = [12, 128, 800, 1280];

/// The int8 paths to bench: every available one but the scalar reference.
fn int8_paths() -> Vec<&'static Kernels> {
    let paths: Vec<&'static Kernels> = common::paths()
        .into_iter()
        .filter(|k| k.isa() != Isa::Scalar)
        .collect();
    if paths.is_empty() {
        vec![Kernels::for_isa(Isa::Scalar).unwrap()]
    } else {
        paths
    }
}

/// Seconds of the fastest of 4 calls of `f` after one untimed call.
fn burst(mut f: impl FnMut()) -> f64 {
    f();
    (0..4)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn ratio_table() {
    println!("\nint8 / f32 GEMM speed, one thread, median of 7 paired rounds (GOP/s: 2 m n k per second)");
    println!("| path | (k, n) | m | f32 GOP/s | int8 GOP/s | int8 / f32 |");
    println!("|---|---|---|---|---|---|");
    for kernels in int8_paths() {
        for &(k, n) in &SHAPES {
            let w = common::values(n * k, 1, 0.1);
            let bias = common::values(n, 2, 0.1);
            let packed = kernels.pack_weights(&w, n, k);
            let quantized = kernels.quantize_weights(&w, n, k);
            for &m in &ROWS {
                let a = common::values(m * k, 3, 1.0);
                let mut c = vec![0.0; m * n];
                let mut ratios = Vec::new();
                let (mut f32_best, mut int8_best) = (f64::MAX, f64::MAX);
                for _ in 0..7 {
                    let f = burst(|| kernels.gemm(&a, m, &packed, Epilogue::Bias(&bias), &mut c));
                    let q =
                        burst(|| kernels.qgemm(&a, m, &quantized, Epilogue::Bias(&bias), &mut c));
                    ratios.push(f / q);
                    f32_best = f32_best.min(f);
                    int8_best = int8_best.min(q);
                }
                ratios.sort_by(f64::total_cmp);
                let ops = 2.0 * (m * n * k) as f64;
                println!(
                    "| {} | ({k}, {n}) | {m} | {:.0} | {:.0} | {:.2} |",
                    kernels.isa(),
                    ops / f32_best / 1e9,
                    ops / int8_best / 1e9,
                    ratios[3]
                );
            }
        }
    }
    println!();
}

fn qgemm_shapes(c: &mut Criterion) {
    let paths = int8_paths();
    for &(k, n) in &SHAPES {
        let mut group = c.benchmark_group(format!("qgemm_k{k}_n{n}"));
        group.sample_size(10);
        let w = common::values(n * k, 1, 0.1);
        let bias = common::values(n, 2, 0.1);
        for &m in &ROWS {
            let a = common::values(m * k, 3, 1.0);
            let mut out = vec![0.0; m * n];
            group.throughput(Throughput::Elements((m * n * k) as u64));
            for kernels in &paths {
                let packed = kernels.pack_weights(&w, n, k);
                let quantized = kernels.quantize_weights(&w, n, k);
                let isa = kernels.isa();
                group.bench_function(BenchmarkId::new(format!("f32/{isa}"), m), |b| {
                    b.iter(|| {
                        kernels.gemm(black_box(&a), m, &packed, Epilogue::Bias(&bias), &mut out)
                    })
                });
                group.bench_function(BenchmarkId::new(format!("int8/{isa}"), m), |b| {
                    b.iter(|| {
                        kernels.qgemm(
                            black_box(&a),
                            m,
                            &quantized,
                            Epilogue::Bias(&bias),
                            &mut out,
                        )
                    })
                });
            }
        }
        group.finish();
    }
}

fn main() {
    if std::env::var("QGEMM_BENCH_TABLE").as_deref() != Ok("0") {
        ratio_table();
    }
    let mut criterion = Criterion::default().configure_from_args();
    qgemm_shapes(&mut criterion);
    criterion.final_summary();
}
