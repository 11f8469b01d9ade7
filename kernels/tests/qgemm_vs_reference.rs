//! The int8 GEMM on every path this CPU runs: within the quantisation error bound of the exact
//! f64 product, bit-identical to the scalar reference before GELU, independent of the batch
//! and the thread count, over ragged shapes.

use minilm_kernels::activation::gelu_reference;
use minilm_kernels::{Epilogue, Isa, Kernels, QuantizedWeights};

mod common;
use common::{every_epilogue, gemm_shapes, paths, Rng, ScopedThreads};

fn scalar() -> &'static Kernels {
    Kernels::for_isa(Isa::Scalar).unwrap()
}

fn first_mismatch(got: &[f32], want: &[f32]) -> Option<usize> {
    (0..got.len()).find(|&j| got[j].to_bits() != want[j].to_bits())
}

/// `|A·Wᵀ - int8 result| <= s_j/2 Σ|a| + t_i Σ|w| + k t_i s_j / 2` (weights round to half a
/// step `s_j`; activations to within one step `t_i`, the clamp at the range's ends included),
/// plus f32 rounding. A wrong zero point, scale or column sum breaks it by orders of magnitude.
#[test]
fn qgemm_is_within_the_quantisation_bound_of_the_exact_product() {
    let mut rng = Rng::new(21);
    for kernels in paths() {
        for &(m, k, n) in &gemm_shapes() {
            // Activations off-centre (as after GELU), so the zero point is not trivial.
            let a: Vec<f32> = rng.vec(m * k, 1.0).iter().map(|x| x + 0.3).collect();
            let w = rng.vec(n * k, 0.1);
            let q = kernels.quantize_weights(&w, n, k);
            let mut c = vec![f32::NAN; m * n];
            kernels.qgemm(&a, m, &q, Epilogue::None, &mut c);
            for i in 0..m {
                let row = &a[i * k..(i + 1) * k];
                let lo = row.iter().fold(0.0f32, |l, &x| l.min(x));
                let hi = row.iter().fold(0.0f32, |h, &x| h.max(x));
                let t = f64::from((hi - lo) / 255.0);
                let sum_a: f64 = row.iter().map(|&x| f64::from(x.abs())).sum();
                for j in 0..n {
                    let wrow = &w[j * k..(j + 1) * k];
                    let exact: f64 = row
                        .iter()
                        .zip(wrow)
                        .map(|(&x, &y)| f64::from(x) * f64::from(y))
                        .sum();
                    let s = f64::from(q.scales()[j]);
                    let sum_w: f64 = wrow.iter().map(|&y| f64::from(y.abs())).sum();
                    let bound = s / 2.0 * sum_a + t * sum_w + k as f64 * t * s / 2.0;
                    let slack = 1e-6 * (exact.abs() + bound) + 1e-30;
                    let got = f64::from(c[i * n + j]);
                    assert!(
                        (got - exact).abs() <= bound + slack,
                        "{} m={m} k={k} n={n} [{i},{j}]: got {got}, exact {exact}, bound {bound}",
                        kernels.name()
                    );
                }
            }
        }
    }
}

/// The epilogues apply to the dequantised sum exactly as written (bias, residual), GELU to
/// within its f32 accuracy; and every path gives the scalar reference's bits before GELU.
#[test]
fn qgemm_epilogues_and_every_path_match_the_scalar_reference() {
    let mut rng = Rng::new(22);
    for &(m, k, n) in &gemm_shapes() {
        let a = rng.vec(m * k, 2.0);
        let w = rng.vec(n * k, 0.1);
        let bias = rng.vec(n, 1.0);
        let residual = rng.vec(m * n, 1.0);
        let reference = scalar().quantize_weights(&w, n, k);
        let mut plain = vec![f32::NAN; m * n];
        scalar().qgemm(&a, m, &reference, Epilogue::None, &mut plain);
        for kernels in paths() {
            let q = kernels.quantize_weights(&w, n, k);
            assert_eq!(q.values(), reference.values(), "{} values", kernels.name());
            assert_eq!(q.scales(), reference.scales(), "{} scales", kernels.name());
            for epilogue in every_epilogue(&bias) {
                let mut c = residual.clone();
                kernels.qgemm(&a, m, &q, epilogue, &mut c);
                let what = format!("{} {epilogue:?} m={m} k={k} n={n}", kernels.name());
                for (idx, (&got, &sum)) in c.iter().zip(&plain).enumerate() {
                    let (j, r) = (idx % n, residual[idx]);
                    match epilogue {
                        Epilogue::None => assert_eq!(got.to_bits(), sum.to_bits(), "{what} {idx}"),
                        Epilogue::Bias(_) => {
                            assert_eq!(got.to_bits(), (sum + bias[j]).to_bits(), "{what} {idx}")
                        }
                        Epilogue::BiasResidual(_) => assert_eq!(
                            got.to_bits(),
                            (r + (sum + bias[j])).to_bits(),
                            "{what} {idx}"
                        ),
                        Epilogue::BiasGelu(_) => {
                            let want = gelu_reference(f64::from(sum + bias[j]));
                            let err = (f64::from(got) - want).abs();
                            assert!(
                                err <= 1e-6 * (1.0 + want.abs()),
                                "{what} {idx}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Per-token activation scales: a row's result is bit-identical alone, in a small group and
/// inside a large batch, for every epilogue.
#[test]
fn qgemm_rows_are_bit_identical_alone_or_in_a_batch() {
    let mut rng = Rng::new(23);
    for kernels in paths() {
        for &(m, k, n) in &[(37, 384, 1152), (300, 1536, 384), (17, 257, 33)] {
            // Rows of very different ranges, so a shared (per-tensor) scale would show.
            let a: Vec<f32> = (0..m * k)
                .map(|idx| rng.uniform(1.0) * (1 + idx / k % 5) as f32)
                .collect();
            let w = rng.vec(n * k, 0.1);
            let bias = rng.vec(n, 1.0);
            let residual = rng.vec(m * n, 1.0);
            let q = kernels.quantize_weights(&w, n, k);
            for epilogue in every_epilogue(&bias) {
                let mut batch = residual.clone();
                kernels.qgemm(&a, m, &q, epilogue, &mut batch);
                for (window, step) in [(1, 1), (5, 7), (16, 7)] {
                    for i in (0..=m - window).step_by(step) {
                        let mut part = residual[i * n..(i + window) * n].to_vec();
                        kernels.qgemm(&a[i * k..(i + window) * k], window, &q, epilogue, &mut part);
                        if let Some(j) = first_mismatch(&part, &batch[i * n..(i + window) * n]) {
                            panic!(
                                "{} {epilogue:?} m={m} k={k} n={n}: rows {i}..{} alone differ \
                                 from the batch at {j}",
                                kernels.name(),
                                i + window
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn qgemm_parallel_is_bit_identical_to_one_thread() {
    let mut rng = Rng::new(24);
    for kernels in paths() {
        for &(m, k, n) in &[
            (1, 1000, 1157),
            (7, 384, 1152),
            (13, 1536, 384),
            (65, 384, 384),
            (257, 384, 1157),
        ] {
            let a = rng.vec(m * k, 1.0);
            let w = rng.vec(n * k, 0.1);
            let bias = rng.vec(n, 1.0);
            let residual = rng.vec(m * n, 1.0);
            let q = kernels.quantize_weights(&w, n, k);
            for epilogue in every_epilogue(&bias) {
                let mut single = residual.clone();
                kernels.qgemm(&a, m, &q, epilogue, &mut single);
                for threads in [2, 3, 8] {
                    let runner = ScopedThreads::new(threads);
                    let mut split = residual.clone();
                    kernels.qgemm_parallel(&a, m, &q, epilogue, &mut split, &runner);
                    let what = format!(
                        "{} {epilogue:?}: m={m} k={k} n={n}, {threads} threads",
                        kernels.name()
                    );
                    assert!(runner.most_tasks() > 1, "{what}: the product was not split");
                    if let Some(j) = first_mismatch(&split, &single) {
                        panic!("{what}: element {j}: {} vs {}", split[j], single[j]);
                    }
                }
            }
        }
    }
}

/// Weights stored as values and scales (as a quantised model file holds them) and packed again
/// give the same products; values are `round(w / s)` with `s = max |w| / 127`.
#[test]
fn stored_values_and_scales_round_trip_on_every_path() {
    let mut rng = Rng::new(25);
    for kernels in paths() {
        for &(n, k) in &[(1, 1), (17, 33), (47, 7), (33, 0), (0, 5), (100, 257)] {
            let mut w = rng.vec(n * k, 0.5);
            if n > 3 && k > 0 {
                w[3 * k..4 * k].fill(0.0); // a row of zeros: scale 0, values 0
            }
            let q = kernels.quantize_weights(&w, n, k);
            let (values, scales) = (q.values(), q.scales().to_vec());
            for j in 0..n {
                let row = &w[j * k..(j + 1) * k];
                let max = row.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
                assert_eq!(scales[j], max / 127.0, "n {n} k {k} row {j}");
                for p in 0..k {
                    let want = if max == 0.0 {
                        0
                    } else {
                        (row[p] / scales[j]).round_ties_even() as i8
                    };
                    assert_eq!(values[j * k + p], want, "n {n} k {k} [{j},{p}]");
                }
            }
            let again: QuantizedWeights = kernels.int8_weights(n, k, &values, &scales, None);
            let m = 3;
            let a = rng.vec(m * k, 1.0);
            let (mut c1, mut c2) = (vec![0.0; m * n], vec![0.0; m * n]);
            kernels.qgemm(&a, m, &q, Epilogue::None, &mut c1);
            kernels.qgemm(&a, m, &again, Epilogue::None, &mut c2);
            assert_eq!(
                first_mismatch(&c1, &c2),
                None,
                "{} n {n} k {k}",
                kernels.name()
            );
        }
    }
}

#[test]
fn qgemm_with_no_rows_or_constant_rows_is_well_defined() {
    for kernels in paths() {
        let q = kernels.quantize_weights(&[0.5, -0.25, 1.0, 0.0, 0.0, 0.0], 2, 3);
        kernels.qgemm(&[], 0, &q, Epilogue::None, &mut []);
        // A row of zeros gives exactly zero; a constant row its exact product (the range
        // includes 0, so a positive constant maps to 255 with zero point 0).
        let mut c = vec![f32::NAN; 4];
        kernels.qgemm(
            &[0.0, 0.0, 0.0, 2.0, 2.0, 2.0],
            2,
            &q,
            Epilogue::None,
            &mut c,
        );
        assert_eq!(&c[..2], &[0.0, 0.0], "{}", kernels.name());
        assert!((c[2] - 2.5).abs() < 0.02, "{}: {}", kernels.name(), c[2]);
        assert_eq!(c[3], 0.0, "{}", kernels.name());
    }
}

/// Smoothing moves a channel's range from the activations to the weights: the product stays
/// within the quantisation bound of the exact one (computed for the smoothed operands), every
/// path gives the scalar path's bits, and stored values with their smoothing round-trip.
#[test]
fn smoothed_qgemm_matches_the_reference_on_every_path() {
    let mut rng = Rng::new(26);
    for &(m, k, n) in &[(5, 33, 47), (17, 384, 100), (1, 7, 9), (40, 1536, 33)] {
        // Two outlier input channels, 30x the others, as BERT's hidden states have.
        let a: Vec<f32> = (0..m * k)
            .map(|idx| {
                rng.uniform(1.0)
                    * if idx % k == 3 || idx % k == k / 2 {
                        30.0
                    } else {
                        1.0
                    }
            })
            .collect();
        let w = rng.vec(n * k, 0.1);
        let smooth: Vec<f32> = (0..k)
            .map(|p| {
                if p == 3 || p == k / 2 {
                    5.0
                } else {
                    0.8 + 0.01 * (p % 7) as f32
                }
            })
            .collect();
        let rows = |w: &[f32]| {
            let w = w.to_vec();
            move |j: usize, row: &mut [f32]| row.copy_from_slice(&w[j * k..(j + 1) * k])
        };
        let reference = scalar().quantize_weight_rows_smoothed(n, k, Some(&smooth), &mut rows(&w));
        let mut want = vec![0.0; m * n];
        scalar().qgemm(&a, m, &reference, Epilogue::None, &mut want);
        // The bound, for a' = a / m and w' = w * m.
        for i in 0..m {
            let row: Vec<f32> = (0..k).map(|p| a[i * k + p] * (1.0 / smooth[p])).collect();
            let lo = row.iter().fold(0.0f32, |l, &x| l.min(x));
            let hi = row.iter().fold(0.0f32, |h, &x| h.max(x));
            let t = f64::from((hi - lo) / 255.0);
            let sum_a: f64 = row.iter().map(|&x| f64::from(x.abs())).sum();
            for j in 0..n {
                let wrow: Vec<f32> = (0..k).map(|p| w[j * k + p] * smooth[p]).collect();
                let exact: f64 = (0..k)
                    .map(|p| f64::from(a[i * k + p]) * f64::from(w[j * k + p]))
                    .sum();
                let s = f64::from(reference.scales()[j]);
                let sum_w: f64 = wrow.iter().map(|&y| f64::from(y.abs())).sum();
                let bound = s / 2.0 * sum_a + t * sum_w + k as f64 * t * s / 2.0;
                let got = f64::from(want[i * n + j]);
                assert!(
                    (got - exact).abs() <= bound * 1.001 + 1e-5,
                    "m={m} k={k} n={n} [{i},{j}]: {got} vs {exact}, bound {bound}"
                );
            }
        }
        for kernels in paths() {
            let q = kernels.quantize_weight_rows_smoothed(n, k, Some(&smooth), &mut rows(&w));
            assert_eq!(q.smoothing(), Some(&smooth[..]));
            let mut c = vec![f32::NAN; m * n];
            kernels.qgemm(&a, m, &q, Epilogue::None, &mut c);
            assert_eq!(
                first_mismatch(&c, &want),
                None,
                "{} m={m} k={k} n={n}",
                kernels.name()
            );
            let stored = kernels.int8_weights(n, k, &q.values(), q.scales(), q.smoothing());
            let mut again = vec![f32::NAN; m * n];
            kernels.qgemm(&a, m, &stored, Epilogue::None, &mut again);
            assert_eq!(
                first_mismatch(&again, &want),
                None,
                "{} stored",
                kernels.name()
            );
        }
    }
}
