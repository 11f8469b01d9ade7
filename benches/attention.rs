//! Self-attention of one sequence (12 heads of 32, MiniLM's shape), on every kernel path, for
//! 12, 64 and 256 tokens. Throughput counts score elements (heads x tokens²).
#![forbid(unsafe_code)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use minilm_kernels::Kernels;

fn attention(c: &mut Criterion) {
    let (heads, head_dim) = (12, 32);
    let hidden = heads * head_dim;
    let mut group = c.benchmark_group("attention");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    for kernels in common::paths() {
        for seq in [12, 64, 256] {
            let qkv = common::values(seq * 3 * hidden, 6, 1.0);
            let mut out = vec![0.0; seq * hidden];
            let mut scratch = vec![0.0; Kernels::attention_scratch_len(seq, head_dim)];
            group.throughput(Throughput::Elements((heads * seq * seq) as u64));
            group.bench_function(
                BenchmarkId::new(kernels.isa().name(), format!("{seq}_tokens")),
                |b| {
                    b.iter(|| {
                        kernels.attention(black_box(&qkv), seq, heads, &mut out, &mut scratch)
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, attention);
criterion_main!(benches);
