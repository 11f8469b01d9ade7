//! Every kernel on every path this CPU runs, against plain f64 references, over sizes that are
//! not tile multiples. A new ISA path gets the whole suite by appearing in `Kernels::available()`.

use minilm_kernels::activation::{erf_reference, erfc_reference, gelu_reference};
use std::sync::atomic::{AtomicUsize, Ordering};

use minilm_kernels::{Epilogue, Kernels};

mod common;
use common::{assert_close, every_epilogue, gemm_shapes, paths, Rng, ScopedThreads};

/// Sizes that straddle every plausible tile and vector width.
const SIZES: [usize; 9] = [1, 2, 7, 16, 31, 33, 64, 255, 257];

#[test]
fn gemm_with_every_epilogue_matches_f64() {
    let mut rng = Rng::new(1);
    let shapes = gemm_shapes();
    for kernels in paths() {
        for &(m, k, n) in &shapes {
            let a = rng.vec(m * k, 1.0);
            let w = rng.vec(n * k, 1.0);
            let bias = rng.vec(n, 1.0);
            let residual = rng.vec(m * n, 1.0);
            let packed = kernels.pack_weights(&w, n, k);
            let dots: Vec<f64> = (0..m * n)
                .map(|idx| {
                    let (i, j) = (idx / n, idx % n);
                    (0..k)
                        .map(|p| f64::from(a[i * k + p]) * f64::from(w[j * k + p]))
                        .sum()
                })
                .collect();
            // f32 accumulation over k terms of magnitude <= 1: error grows like sqrt(k)·ulp.
            let atol = 1e-6 * (k.max(1) as f64).sqrt() * 4.0;
            let what = |e: &str| format!("{} gemm {e} m={m} k={k} n={n}", kernels.name());

            let mut c = vec![f32::NAN; m * n];
            kernels.gemm(&a, m, &packed, Epilogue::None, &mut c);
            assert_close(&what("none"), &c, &dots, atol, 1e-6);

            kernels.gemm(&a, m, &packed, Epilogue::Bias(&bias), &mut c);
            let want: Vec<f64> = dots
                .iter()
                .enumerate()
                .map(|(i, d)| d + f64::from(bias[i % n]))
                .collect();
            assert_close(&what("bias"), &c, &want, atol, 1e-6);

            kernels.gemm(&a, m, &packed, Epilogue::BiasGelu(&bias), &mut c);
            let want: Vec<f64> = dots
                .iter()
                .enumerate()
                .map(|(i, d)| gelu_reference(d + f64::from(bias[i % n])))
                .collect();
            assert_close(&what("bias+gelu"), &c, &want, atol, 1e-6);

            let mut c = residual.clone();
            kernels.gemm(&a, m, &packed, Epilogue::BiasResidual(&bias), &mut c);
            let want: Vec<f64> = dots
                .iter()
                .enumerate()
                .map(|(i, d)| d + f64::from(bias[i % n]) + f64::from(residual[i]))
                .collect();
            assert_close(&what("bias+residual"), &c, &want, atol, 1e-6);
        }
    }
}

/// A row's output must not depend on the batch around it: every path sums each element in the
/// same order whatever tile, row group or block computes it, so a row alone (m = 1), in a small
/// group and inside a large blocked batch is bit-identical, for every epilogue.
#[test]
fn gemm_rows_are_bit_identical_alone_or_in_a_batch() {
    let mut rng = Rng::new(2);
    for kernels in paths() {
        for &(m, k, n) in &[(37, 384, 1152), (300, 1536, 384), (17, 257, 33)] {
            let a = rng.vec(m * k, 1.0);
            let w = rng.vec(n * k, 0.1);
            let bias = rng.vec(n, 1.0);
            let residual = rng.vec(m * n, 1.0);
            let packed = kernels.pack_weights(&w, n, k);
            for epilogue in every_epilogue(&bias) {
                let mut batch = residual.clone();
                kernels.gemm(&a, m, &packed, epilogue, &mut batch);
                // Each row alone, then windows of 5 and 16 rows (single-group paths).
                for (window, rows) in [(1, 0..m), (5, 0..m - 5), (16, 0..m - 16)] {
                    for i in rows.step_by(if window == 1 { 1 } else { 7 }) {
                        let mut part = residual[i * n..(i + window) * n].to_vec();
                        let a_part = &a[i * k..(i + window) * k];
                        kernels.gemm(a_part, window, &packed, epilogue, &mut part);
                        let whole = &batch[i * n..(i + window) * n];
                        if let Some(j) =
                            (0..part.len()).find(|&j| part[j].to_bits() != whole[j].to_bits())
                        {
                            panic!(
                                "{} {epilogue:?}: m={m} k={k} n={n}: rows {i}..{} computed alone \
                                 differ from the batch at element {j}: {} vs {}",
                                kernels.name(),
                                i + window,
                                part[j],
                                whole[j]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Splitting a product across threads (row blocks for many rows, column slices for few) must
/// give exactly the single-thread result, for every epilogue, thread count and ragged shape.
#[test]
fn gemm_parallel_is_bit_identical_to_one_thread() {
    let mut rng = Rng::new(3);
    for kernels in paths() {
        // (m, k, n): few rows (column split, ragged last slice), many rows (row split), and
        // sizes that are no tile multiple; all large enough to be split.
        for &(m, k, n) in &[
            (1, 1000, 1157),
            (7, 384, 1152),
            (13, 1536, 384),
            (33, 257, 255),
            (65, 384, 384),
            (257, 384, 1157),
        ] {
            let a = rng.vec(m * k, 1.0);
            let w = rng.vec(n * k, 0.1);
            let bias = rng.vec(n, 1.0);
            let residual = rng.vec(m * n, 1.0);
            let packed = kernels.pack_weights(&w, n, k);
            for epilogue in every_epilogue(&bias) {
                let mut single = residual.clone();
                kernels.gemm(&a, m, &packed, epilogue, &mut single);
                for threads in [2, 3, 8] {
                    let runner = ScopedThreads {
                        threads,
                        tasks_seen: AtomicUsize::new(0),
                    };
                    let mut split = residual.clone();
                    kernels.gemm_parallel(&a, m, &packed, epilogue, &mut split, &runner);
                    let what = format!(
                        "{} {epilogue:?}: m={m} k={k} n={n}, {threads} threads",
                        kernels.name()
                    );
                    assert!(
                        runner.tasks_seen.load(Ordering::Relaxed) > 1,
                        "{what}: the product was not split"
                    );
                    if let Some(j) =
                        (0..split.len()).find(|&j| split[j].to_bits() != single[j].to_bits())
                    {
                        panic!("{what}: element {j}: {} vs {}", split[j], single[j]);
                    }
                }
            }
        }
    }
}

#[test]
fn gemm_with_no_rows_writes_nothing() {
    for kernels in paths() {
        let packed = kernels.pack_weights(&[1.0; 6], 2, 3);
        let mut c: Vec<f32> = Vec::new();
        kernels.gemm(&[], 0, &packed, Epilogue::None, &mut c);
    }
}

#[test]
fn packing_from_a_row_source_asks_rows_in_order_and_matches_packing_a_slice() {
    let mut rng = Rng::new(11);
    for kernels in paths() {
        for (n, k) in [(1, 1), (17, 33), (47, 7), (33, 0), (0, 5), (100, 257)] {
            let weight = rng.vec(n * k, 1.0);
            let mut asked = Vec::new();
            let from_rows = kernels.pack_weight_rows(n, k, &mut |j, row| {
                asked.push(j);
                row.copy_from_slice(&weight[j * k..(j + 1) * k]);
            });
            let want: Vec<usize> = if k == 0 { Vec::new() } else { (0..n).collect() };
            assert_eq!(asked, want, "n {n} k {k}");
            let from_slice = kernels.pack_weights(&weight, n, k);
            let m = 5;
            let a = rng.vec(m * k, 1.0);
            let (mut c1, mut c2) = (vec![0.0; m * n], vec![0.0; m * n]);
            kernels.gemm(&a, m, &from_rows, Epilogue::None, &mut c1);
            kernels.gemm(&a, m, &from_slice, Epilogue::None, &mut c2);
            assert_eq!(c1, c2, "{} n {n} k {k}", kernels.name());
        }
    }
}

#[test]
fn erf_reference_matches_known_values() {
    // Values from CPython's math.erf / math.erfc (correctly rounded or within an ulp).
    let known = [
        (0.0, 0.0),
        (0.1, 0.112_462_916_018_284_9),
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (3.0, 0.999_977_909_503_001_4),
        (4.5, 1.0 - 1.966_160_441_542_887e-10),
        (-1.0, -0.842_700_792_949_714_9),
        (1.999_999, 0.995_322_244_351_926),
    ];
    for (x, want) in known {
        let got = erf_reference(x);
        assert!(
            (got - want).abs() <= 4.0 * f64::EPSILON,
            "erf({x}) = {got}, want {want}"
        );
    }
    // erfc in the tail, where relative precision matters (GELU of large negative inputs).
    let tail = [
        (0.5, 0.479_500_122_186_953_5),
        (2.0, 4.677_734_981_047_266e-3),
        (2.9, 4.109_787_809_945_886e-5),
        (3.0, 2.209_049_699_858_544e-5),
        (5.0, 1.537_459_794_428_035e-12),
        (10.0, 2.088_487_583_762_545e-45),
        (26.0, 5.663_192_408_856_143e-296),
    ];
    for (x, want) in tail {
        let got = erfc_reference(x);
        // 1 - erf below x = 3 gives up some relative precision; the continued fraction beyond.
        let tolerance = if x < 3.0 { 1e-10 } else { 1e-13 };
        assert!(
            ((got - want) / want).abs() <= tolerance,
            "erfc({x}) = {got:e}, want {want:e}"
        );
    }
    assert_eq!(erf_reference(7.0), 1.0);
    assert_eq!(erf_reference(-7.0), -1.0);
    assert!(erf_reference(f64::NAN).is_nan());
}

#[test]
fn gelu_matches_f64_over_the_useful_range() {
    for kernels in paths() {
        // Every 97th f32 bit pattern between -12 and 12 (about 22 million values), plus the
        // extremes and special values.
        let mut xs: Vec<f32> = (0u32..u32::MAX)
            .step_by(97)
            .map(f32::from_bits)
            .filter(|x| x.is_finite() && x.abs() <= 12.0)
            .collect();
        xs.extend([
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            12.0,
            -12.0,
            40.0,
            -40.0,
            f32::MAX,
            f32::MIN,
        ]);
        let mut got = xs.clone();
        kernels.gelu(&mut got);
        // The scalar path rounds an f64 result once: within an f32 ulp. The vector paths use a
        // polynomial erfc and exp whose documented bound is 6e-7 relative (about 5 ulp).
        let bound = match kernels.isa() {
            minilm_kernels::Isa::Scalar => f64::from(f32::EPSILON),
            _ => 6e-7,
        };
        let mut worst = (0.0f64, 0.0f32);
        for (&x, &g) in xs.iter().zip(&got) {
            let want = gelu_reference(f64::from(x));
            // Relative error, with an absolute floor far below anything a model sees.
            let err = (f64::from(g) - want).abs() / want.abs().max(1e-30);
            if err > worst.0 {
                worst = (err, x);
            }
        }
        eprintln!(
            "{}: gelu max relative error {:.3e} at x = {}",
            kernels.name(),
            worst.0,
            worst.1
        );
        assert!(
            worst.0 <= bound,
            "{}: gelu({}) relative error {:e} exceeds {bound:e}",
            kernels.name(),
            worst.1,
            worst.0
        );
        let mut special = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        kernels.gelu(&mut special);
        assert_eq!(special[0], f32::INFINITY);
        assert!(special[1].abs() <= 1e-30, "gelu(-inf) = {}", special[1]);
        assert!(special[2].is_nan());
    }
}

#[test]
fn layernorm_matches_f64() {
    let mut rng = Rng::new(2);
    for kernels in paths() {
        for &width in &SIZES {
            for rows in [1, 3] {
                let x = rng.vec(rows * width, 3.0);
                let gamma = rng.vec(width, 1.5);
                let beta = rng.vec(width, 0.5);
                let mut got = x.clone();
                kernels.layernorm(&mut got, &gamma, &beta, 1e-12);
                let mut want = Vec::new();
                for row in x.chunks(width) {
                    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / width as f64;
                    let var = row
                        .iter()
                        .map(|&v| (f64::from(v) - mean).powi(2))
                        .sum::<f64>()
                        / width as f64;
                    for (j, &v) in row.iter().enumerate() {
                        want.push(
                            (f64::from(v) - mean) / (var + 1e-12).sqrt() * f64::from(gamma[j])
                                + f64::from(beta[j]),
                        );
                    }
                }
                // A constant row (width 1) normalises to beta.
                assert_close(
                    &format!("{} layernorm w={width}", kernels.name()),
                    &got,
                    &want,
                    2e-6,
                    2e-6,
                );
            }
        }
    }
}

#[test]
fn softmax_matches_f64() {
    let mut rng = Rng::new(3);
    for kernels in paths() {
        for &len in &SIZES {
            for scale in [1.0f32, 0.176_776_7] {
                let x = rng.vec(len, 20.0);
                let mut got = x.clone();
                kernels.softmax(&mut got, scale);
                let max = x
                    .iter()
                    .map(|&v| f64::from(v * scale))
                    .fold(f64::MIN, f64::max);
                let exps: Vec<f64> = x
                    .iter()
                    .map(|&v| (f64::from(v * scale) - max).exp())
                    .collect();
                let sum: f64 = exps.iter().sum();
                let want: Vec<f64> = exps.iter().map(|e| e / sum).collect();
                assert_close(
                    &format!("{} softmax len={len}", kernels.name()),
                    &got,
                    &want,
                    1e-7,
                    1e-5,
                );
            }
        }
        let mut empty: [f32; 0] = [];
        kernels.softmax(&mut empty, 1.0);
    }
}

#[test]
fn attention_matches_f64() {
    let mut rng = Rng::new(4);
    for kernels in paths() {
        for &(heads, head_dim) in &[(1, 1), (2, 7), (12, 32), (3, 33)] {
            for &seq in &[1, 2, 7, 33, 257] {
                let hidden = heads * head_dim;
                let qkv = rng.vec(seq * 3 * hidden, 2.0);
                let mut out = vec![f32::NAN; seq * hidden];
                let mut scratch = vec![0.0; Kernels::attention_scratch_len(seq, head_dim)];
                kernels.attention(&qkv, seq, heads, &mut out, &mut scratch);
                let at = |row: usize, col: usize| f64::from(qkv[row * 3 * hidden + col]);
                let scale = 1.0 / (head_dim as f64).sqrt();
                let mut want = vec![0.0f64; seq * hidden];
                for h in 0..heads {
                    for i in 0..seq {
                        let scores: Vec<f64> = (0..seq)
                            .map(|j| {
                                (0..head_dim)
                                    .map(|d| {
                                        at(i, h * head_dim + d) * at(j, hidden + h * head_dim + d)
                                    })
                                    .sum::<f64>()
                                    * scale
                            })
                            .collect();
                        let max = scores.iter().copied().fold(f64::MIN, f64::max);
                        let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                        let sum: f64 = exps.iter().sum();
                        for d in 0..head_dim {
                            want[i * hidden + h * head_dim + d] = (0..seq)
                                .map(|j| exps[j] / sum * at(j, 2 * hidden + h * head_dim + d))
                                .sum();
                        }
                    }
                }
                let what = format!(
                    "{} attention heads={heads} d={head_dim} seq={seq}",
                    kernels.name()
                );
                assert_close(&what, &out, &want, 2e-5, 1e-5);
            }
        }
    }
}

/// A batch's attention split across threads (by sequence, and by head groups when there are
/// few sequences) must equal each sequence's attention on its own, bit for bit.
#[test]
fn attention_batch_is_bit_identical_to_each_sequence_alone() {
    let mut rng = Rng::new(6);
    for kernels in paths() {
        for &(heads, head_dim) in &[(12, 32), (3, 33)] {
            let hidden = heads * head_dim;
            // One long text (head groups), a few (head groups), many of mixed lengths (by
            // sequence), with an empty sequence among them.
            let batches: [&[usize]; 3] = [&[257], &[40, 1, 90], &[7, 33, 0, 12, 64, 5, 18, 3, 9]];
            for lengths in batches {
                let mut sequences = Vec::new();
                let mut rows = 0;
                for &len in lengths {
                    sequences.push(rows..rows + len);
                    rows += len;
                }
                let qkv = rng.vec(rows * 3 * hidden, 2.0);
                let mut alone = vec![f32::NAN; rows * hidden];
                for range in &sequences {
                    let len = range.len();
                    if len == 0 {
                        continue;
                    }
                    let mut scratch = vec![0.0; Kernels::attention_scratch_len(len, head_dim)];
                    kernels.attention(
                        &qkv[range.start * 3 * hidden..range.end * 3 * hidden],
                        len,
                        heads,
                        &mut alone[range.start * hidden..range.end * hidden],
                        &mut scratch,
                    );
                }
                for threads in [1, 2, 3, 8] {
                    let runner = ScopedThreads {
                        threads,
                        tasks_seen: AtomicUsize::new(0),
                    };
                    let mut batch = vec![f32::NAN; rows * hidden];
                    kernels.attention_batch(&qkv, &sequences, heads, &mut batch, &runner);
                    let what = format!(
                        "{} attention_batch heads={heads} d={head_dim} lengths={lengths:?}, \
                         {threads} threads",
                        kernels.name()
                    );
                    if threads > 1 {
                        assert!(
                            runner.tasks_seen.load(Ordering::Relaxed) > 1,
                            "{what}: the batch was not split"
                        );
                    }
                    if let Some(j) =
                        (0..batch.len()).find(|&j| batch[j].to_bits() != alone[j].to_bits())
                    {
                        panic!("{what}: element {j}: {} vs {}", batch[j], alone[j]);
                    }
                }
            }
        }
    }
}

#[test]
fn pooling_and_normalisation_match_f64() {
    let mut rng = Rng::new(5);
    for kernels in paths() {
        for &width in &SIZES {
            for rows in [1, 2, 7, 33] {
                let x = rng.vec(rows * width, 1.0);
                let mut mean = vec![f32::NAN; width];
                kernels.mean_pool(&x, &mut mean);
                let want: Vec<f64> = (0..width)
                    .map(|j| {
                        (0..rows).map(|i| f64::from(x[i * width + j])).sum::<f64>() / rows as f64
                    })
                    .collect();
                assert_close(
                    &format!("{} mean_pool", kernels.name()),
                    &mean,
                    &want,
                    1e-6,
                    1e-6,
                );

                let mut max = vec![f32::NAN; width];
                kernels.max_pool(&x, &mut max);
                let want: Vec<f64> = (0..width)
                    .map(|j| {
                        (0..rows)
                            .map(|i| f64::from(x[i * width + j]))
                            .fold(f64::MIN, f64::max)
                    })
                    .collect();
                assert_close(
                    &format!("{} max_pool", kernels.name()),
                    &max,
                    &want,
                    0.0,
                    0.0,
                );
            }
            let mut v = rng.vec(width, 4.0);
            let norm = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
            let want: Vec<f64> = v.iter().map(|&x| f64::from(x) / norm).collect();
            kernels.l2_normalize(&mut v);
            assert_close(
                &format!("{} l2_normalize", kernels.name()),
                &v,
                &want,
                1e-7,
                1e-6,
            );
        }
        let mut zeros = [0.0f32; 5];
        kernels.l2_normalize(&mut zeros);
        assert_eq!(zeros, [0.0; 5], "a zero vector stays zero");
        let mut out = [1.0f32; 3];
        kernels.mean_pool(&[], &mut out);
        assert_eq!(out, [0.0; 3], "no rows pool to zero");
    }
}

#[test]
fn isa_names_parse_and_unavailable_paths_are_errors() {
    use minilm_kernels::{Isa, IsaError};
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Ok(isa));
        match Kernels::for_isa(isa) {
            Ok(kernels) => assert_eq!(kernels.isa(), isa),
            Err(e) => assert_eq!(e, IsaError::Unavailable(isa)),
        }
    }
    assert_eq!(Isa::from_name("AVX512"), Ok(Isa::Avx512));
    assert!(matches!(
        Isa::from_name("sse9"),
        Err(IsaError::UnknownName(_))
    ));
    assert!(
        Kernels::for_isa(Isa::Scalar).is_ok(),
        "the scalar path always exists"
    );
}

/// An unknown `MINILM_ISA` value is answered with every name there is, from the one list.
#[test]
fn unknown_isa_name_error_lists_every_name() {
    use minilm_kernels::Isa;
    let message = Isa::from_name("sse9").unwrap_err().to_string();
    assert!(message.contains("\"sse9\""), "{message}");
    let names = Isa::names();
    assert!(message.contains(&names), "{message}");
    let listed: Vec<&str> = names.split('|').collect();
    assert_eq!(
        listed,
        Isa::ALL.map(Isa::name),
        "Isa::names is Isa::ALL's names"
    );
    for name in [
        "scalar",
        "avx2",
        "avx-vnni",
        "avx512",
        "avx512-vnni",
        "neon",
        "neon-dotprod",
    ] {
        assert!(listed.contains(&name), "{name} missing from {message}");
    }
}

/// The FMA peak probe runs on every path and gives a plausible rate (it is timed, so only its
/// sanity is checked: positive and finite).
#[test]
fn fma_peak_is_measurable_on_every_path() {
    for kernels in paths() {
        let gflops = kernels.fma_peak_gflops(std::time::Duration::from_millis(5));
        assert!(
            gflops.is_finite() && gflops > 0.0,
            "{}: {gflops}",
            kernels.name()
        );
    }
}
