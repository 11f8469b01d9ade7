//! Exact-erf GELU per element, on every kernel path, over the intermediate activations of a
//! 32-sentence batch (1280 x 1536) and of one short sentence (12 x 1536).
#![forbid(unsafe_code)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn gelu(c: &mut Criterion) {
    let mut group = c.benchmark_group("gelu");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    for kernels in common::paths() {
        for rows in [12, 1280] {
            let input = common::values(rows * 1536, 4, 4.0);
            let mut x = input.clone();
            group.throughput(Throughput::Elements(x.len() as u64));
            group.bench_function(
                BenchmarkId::new(kernels.isa().name(), format!("{rows}x1536")),
                |b| {
                    b.iter(|| {
                        x.copy_from_slice(&input);
                        kernels.gelu(black_box(&mut x));
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, gelu);
criterion_main!(benches);
