//! Scaled softmax per element, on every kernel path, over attention-score rows of 12, 64 and
//! 256 keys (short, typical and maximum sequence lengths).
#![forbid(unsafe_code)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn softmax(c: &mut Criterion) {
    let mut group = c.benchmark_group("softmax");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    for kernels in common::paths() {
        for len in [12, 64, 256] {
            let rows = 4096 / len;
            let input = common::values(rows * len, 5, 8.0);
            let mut x = input.clone();
            group.throughput(Throughput::Elements(x.len() as u64));
            group.bench_function(
                BenchmarkId::new(kernels.isa().name(), format!("rows_of_{len}")),
                |b| {
                    b.iter(|| {
                        x.copy_from_slice(&input);
                        for row in x.chunks_exact_mut(len) {
                            kernels.softmax(black_box(row), 0.176_776_7);
                        }
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, softmax);
criterion_main!(benches);
