//! LayerNorm per element, on every kernel path: 1280 rows x 384 (a 32-sentence batch's worth
//! of tokens at MiniLM's hidden size) and 12 rows (one short sentence).
#![forbid(unsafe_code)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn layernorm(c: &mut Criterion) {
    let mut group = c.benchmark_group("layernorm");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    let gamma = common::values(384, 1, 1.0);
    let beta = common::values(384, 2, 0.1);
    for kernels in common::paths() {
        for rows in [12, 1280] {
            let input = common::values(rows * 384, 3, 3.0);
            let mut x = input.clone();
            group.throughput(Throughput::Elements((rows * 384) as u64));
            group.bench_function(
                BenchmarkId::new(kernels.isa().name(), format!("{rows}x384")),
                |b| {
                    b.iter(|| {
                        x.copy_from_slice(&input);
                        kernels.layernorm(black_box(&mut x), &gamma, &beta, 1e-12);
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, layernorm);
criterion_main!(benches);
