//! End to end, text in → vector out: one short sentence (the latency case) and a batch of 32
//! real STS-B sentences (the throughput case), on 1 and 2 threads. Prints the kernel path.
//!
//! `cargo bench --bench end_to_end`; `MINILM_ISA=scalar cargo bench ...` forces a path.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use minilm::{Embedder, Options};

const SHORT: &str = "A man is playing a guitar on stage.";

/// The first `n` STS-B dev sentences whose rows need no CSV unquoting.
fn stsb_sentences(n: usize) -> Vec<String> {
    let csv = include_str!("../tests/data/stsb/stsb-en-dev.csv");
    csv.lines()
        .filter(|line| !line.contains('"'))
        .filter_map(|line| line.split(',').next())
        .take(n)
        .map(str::to_owned)
        .collect()
}

fn end_to_end(c: &mut Criterion) {
    let dir = minilm::default_model_dir().expect("run tools/fetch-model.sh first");
    let batch = stsb_sentences(32);
    let mut group = c.benchmark_group("embed");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for threads in [1, 2] {
        let embedder = Embedder::from_dir(&dir, &Options::default().threads(threads)).unwrap();
        eprintln!(
            "kernel path: {}, threads: {threads}",
            embedder.kernel_name()
        );
        let tokens: usize = batch
            .iter()
            .map(|t| embedder.token_ids(t).unwrap().len())
            .sum();
        eprintln!("batch: {} sentences, {tokens} tokens", batch.len());

        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("one_short_sentence", threads),
            &threads,
            |b, _| b.iter(|| embedder.embed(black_box(SHORT)).unwrap()),
        );
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("batch_of_32", threads),
            &threads,
            |b, _| b.iter(|| embedder.embed_batch(black_box(&batch)).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
