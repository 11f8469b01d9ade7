//! End to end, text in → vector out: one short sentence (the latency case) and a batch of 32
//! real STS-B sentences (the throughput case), on 1 and 2 threads. Prints the kernel path.
//!
//! Runs the portable scalar path and the detected one (`MINILM_ISA` overrides detection) in
//! f32, and the detected one in int8 (quantised at load), on 1 and 2 threads:
//! `cargo bench --bench end_to_end`. Bench names say `precision-isa`.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use minilm::{Embedder, Isa, Options, Precision};
use minilm_kernels::Kernels;

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
    // The portable path beside the detected one, so one run gives the speed-up ratio.
    let best = Kernels::detect().expect("a kernel path").isa();
    let mut runs = vec![(Precision::F32, best), (Precision::Int8, best)];
    if best != Isa::Scalar {
        runs.insert(0, (Precision::F32, Isa::Scalar));
    }
    let runs = runs
        .into_iter()
        .flat_map(|(precision, isa)| [(precision, isa, 1), (precision, isa, 2)]);
    for (precision, isa, threads) in runs {
        let options = Options::default()
            .threads(threads)
            .isa(isa)
            .precision(precision);
        let embedder = Embedder::from_dir(&dir, &options).unwrap();
        eprintln!(
            "kernel path: {}, threads: {threads}",
            embedder.kernel_name()
        );
        let tokens: usize = batch
            .iter()
            .map(|t| embedder.token_ids(t).unwrap().len())
            .sum();
        eprintln!("batch: {} sentences, {tokens} tokens", batch.len());
        let id =
            |name: &str| BenchmarkId::new(format!("{name}/{}-{isa}", precision.name()), threads);

        group.throughput(Throughput::Elements(1));
        group.bench_function(id("one_short_sentence"), |b| {
            b.iter(|| embedder.embed(black_box(SHORT)).unwrap())
        });
        group.throughput(Throughput::Elements(batch.len() as u64));
        group.bench_function(id("batch_of_32"), |b| {
            b.iter(|| embedder.embed_batch(black_box(&batch)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
