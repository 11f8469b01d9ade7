//! int8 products `C = epilogue(A · Wᵀ)` with quantised weights and activations.
//!
//! The scheme (`kernels/DESIGN.md`, "int8"):
//! - **weights**, once, symmetric per output channel: `w[j,p] ≈ s_j · q[j,p]` with `q` in
//!   `-127..=127` and `s_j = max_p |w[j,p]| / 127`;
//! - **activations**, inside every call, per row (per token), asymmetric `u8`: the range
//!   `[min(0, min_p a[i,p]), max(0, max_p a[i,p])]` maps onto `0..=255`, so
//!   `a[i,p] ≈ t_i · (u[i,p] - z_i)` with the zero point `z_i` in `0..=255`;
//! - **products** in exact `i32`: `acc = Σ_p u[i,p] · q[j,p]`, then
//!   `A·Wᵀ[i,j] ≈ t_i s_j (acc - z_i Σ_p q[j,p])`, the column sums `Σ_p q[j,p]` computed when the
//!   weights are packed — `u8 x s8` products are what `vpdpbusd` (VNNI) and `sdot`-style
//!   instructions multiply (aarch64's `sdot` is s8 x s8: its path stores `u - 128` and adds
//!   `128 Σ_p q[j,p]` back, exactly);
//! - **epilogue** in f32, as for [`crate::Kernels::gemm`]: bias, GELU, residual.
//!
//! A row's quantisation depends on that row alone, so a text's result does not depend on its
//! batch. Quantising a row, the integer sums and the dequantisation are the same operations on
//! every path (only GELU differs, as in f32), so every path computes the same values before GELU.
//! The packed layout belongs to each path ([`Kernels::int8_weights`] builds it from plain
//! row-major values), so a later path can bring its own.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod driver;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod scalar;

use crate::gemm::split;
use crate::gemm::{Epilogue, Output};
use crate::{Isa, Kernels, TaskRunner};

/// An int8 entry: the columns `Output::cols` of `C = epilogue(A · Wᵀ)` (the [`Output`]
/// contract, as for f32).
pub(crate) type QgemmFn = unsafe fn(&[f32], usize, &QuantizedWeights, Epilogue<'_>, Output);

/// Largest weight magnitude after quantisation (symmetric, so -128 never occurs).
pub const WEIGHT_MAX: i32 = 127;

/// Weights quantised to int8 per output channel and packed for one kernel path. Build with
/// [`Kernels::quantize_weights`] (from f32) or [`Kernels::int8_weights`] (from stored values).
#[derive(Clone)]
pub struct QuantizedWeights {
    pub(crate) isa: Isa,
    pub(crate) n: usize,
    pub(crate) k: usize,
    /// Output columns per panel (1: row-major, `k` values per row, no padding).
    pub(crate) panel: usize,
    /// Whether `data` holds the values widened to little-endian i16, for `vpmaddwd` (the x86
    /// paths without VNNI), in a layout of their own (see [`pack`]).
    pub(crate) widened: bool,
    /// Panels of `k.div_ceil(4)` steps, each step `panel` columns of 4 consecutive `k` values
    /// (`data[q*steps*panel*4 + s*panel*4 + l*4 + t] = q[q*panel + l, 4s + t]`), zero-padded;
    /// widened, see [`pack`].
    pub(crate) data: Vec<i8>,
    /// `s_j`, zero-padded to whole panels.
    pub(crate) scales: Vec<f32>,
    /// `Σ_p q[j,p]`, zero-padded to whole panels.
    pub(crate) col_sums: Vec<i32>,
    /// With smoothing (SmoothQuant): `1 / m_p` per input channel, by which activations are
    /// multiplied before they are quantised (the weights were multiplied by `m_p`).
    pub(crate) smooth_inv: Option<Vec<f32>>,
    /// The smoothing factors `m_p` themselves, as given.
    pub(crate) smooth: Option<Vec<f32>>,
}

impl QuantizedWeights {
    /// Output features (rows of the original weight).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input features (columns of the original weight).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The path the weights were packed for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The per-output-channel scales `s_j` (`n` of them).
    pub fn scales(&self) -> &[f32] {
        &self.scales[..self.n]
    }

    /// The per-input-channel smoothing factors `m_p` the weights were multiplied by (and the
    /// activations are divided by), if any.
    pub fn smoothing(&self) -> Option<&[f32]> {
        self.smooth.as_deref()
    }

    /// The quantised values, row-major `n x k` (the form [`Kernels::int8_weights`] takes).
    pub fn values(&self) -> Vec<i8> {
        let mut values = vec![0; self.n * self.k];
        let steps = self.k.div_ceil(4);
        for (j, row) in values
            .chunks_exact_mut(self.k.max(1))
            .take(self.n)
            .enumerate()
        {
            for (p, value) in row.iter_mut().enumerate() {
                *value = if self.panel == 1 {
                    self.data[j * self.k + p]
                } else if self.widened {
                    let at = 2 * widened_index(self.panel, steps, j, p);
                    // The low byte of a little-endian i16 in -127..=127 is the i8 itself.
                    self.data[at]
                } else {
                    let (q, l) = (j / self.panel, j % self.panel);
                    self.data[((q * steps + p / 4) * self.panel + l) * 4 + p % 4]
                };
            }
        }
        values
    }

    /// Steps of 4 `k` values per panel.
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub(crate) fn steps(&self) -> usize {
        self.k.div_ceil(4)
    }
}

impl std::fmt::Debug for QuantizedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantizedWeights")
            .field("isa", &self.isa)
            .field("n", &self.n)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

/// `x` rounded to the nearest integer, ties to even, for `|x| <= 2^22` (beyond, a nearby
/// integer-valued float; every caller clamps to a small range, where the results agree).
/// Adding and subtracting 1.5 · 2^23 leaves no fraction bits, so the FPU's default rounding does
/// the work: the same result as `f32::round_ties_even`, which on baseline x86-64 (no SSE4.1) is
/// a library call that took a third of quantising a model at load.
#[inline(always)]
pub(crate) fn round_even_small(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
    (x + SHIFT) - SHIFT
}

/// Quantises one weight row: writes `q` into `out` and returns the scale `s` (0 for a row of
/// zeros, whose values are then all 0).
pub fn quantize_weight_row(row: &[f32], out: &mut [i8]) -> f32 {
    let max = row.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        out.fill(0);
        return if max == 0.0 { 0.0 } else { f32::NAN };
    }
    let scale = max / WEIGHT_MAX as f32;
    for (q, &x) in out.iter_mut().zip(row) {
        *q = quantize_weight(x, scale);
    }
    scale
}

/// One value of a row whose scale is `scale` (> 0), as [`quantize_weight_row`] quantises it.
#[inline(always)]
fn quantize_weight(x: f32, scale: f32) -> i8 {
    round_even_small(x / scale).clamp(-WEIGHT_MAX as f32, WEIGHT_MAX as f32) as i8
}

/// A stored int8 value back in f32: `q · scale`.
#[inline(always)]
pub fn dequantize_weight(q: i8, scale: f32) -> f32 {
    f32::from(q) * scale
}

/// Replaces a row of finite values by its int8 round trip, `dequantize_weight(q, s)` for the
/// `q` and `s` that [`quantize_weight_row`] gives, bit for bit, without a buffer: what an int8
/// table lookup returns, for a caller that holds the f32 table (quantising at load).
pub fn round_trip_weight_row(row: &mut [f32]) {
    let max = row.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        let scale = if max == 0.0 { 0.0 } else { f32::NAN };
        row.fill(dequantize_weight(0, scale));
        return;
    }
    let scale = max / WEIGHT_MAX as f32;
    for x in row {
        *x = dequantize_weight(quantize_weight(*x, scale), scale);
    }
}

/// One row's activation quantisation: `a ≈ scale · (u - zero)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct RowQuant {
    pub scale: f32,
    /// `1 / scale`: `u = clamp(round(a · inv) + zero, 0, 255)`.
    pub inv: f32,
    pub zero: i32,
}

impl RowQuant {
    /// The parameters for a row whose values lie in `[lo, hi]`. A row of zeros (or one with
    /// non-finite values, whose result is meaningless anyway) gets scale 1 and zero point 0.
    #[inline(always)]
    pub(crate) fn for_range(lo: f32, hi: f32) -> RowQuant {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = (hi - lo) / 255.0;
        if !(scale > 0.0 && scale.is_finite()) {
            return RowQuant {
                scale: 1.0,
                inv: 1.0,
                zero: 0,
            };
        }
        let inv = 1.0 / scale;
        let zero = round_even_small(-lo * inv).clamp(0.0, 255.0) as i32;
        RowQuant { scale, inv, zero }
    }

    /// `u` for one value, as every path computes it.
    #[inline(always)]
    pub(crate) fn quantize(self, x: f32) -> u8 {
        (round_even_small(x * self.inv) + self.zero as f32).clamp(0.0, 255.0) as u8
    }
}

/// Dequantises one sum, as every path computes it: `((acc - zero·colsum) as f32) · (t · s)`.
#[inline(always)]
pub(crate) fn dequantize(acc: i32, row: RowQuant, col_sum: i32, scale: f32) -> f32 {
    acc.wrapping_sub(row.zero.wrapping_mul(col_sum)) as f32 * (row.scale * scale)
}

/// Where weight `(j, p)` goes in the widened layout, in i16 units: per panel `q` and step `s`,
/// two vectors of `panel` lanes, the first holding each lane's values `4s, 4s + 1`, the second
/// `4s + 2, 4s + 3` — the i16 pairs `vpmaddwd` multiplies with a broadcast pair of `A`.
fn widened_index(panel: usize, steps: usize, j: usize, p: usize) -> usize {
    let (q, l) = (j / panel, j % panel);
    let (s, t) = (p / 4, p % 4);
    (((q * steps + s) * 2 + t / 2) * panel + l) * 2 + t % 2
}

/// Packs row-major int8 values (`n x k`) into `panel`-wide panels of 4-value steps (see
/// [`QuantizedWeights::data`]; `widened`, as little-endian i16 at [`widened_index`]), or keeps
/// them row-major for `panel == 1`, with the column sums.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack(
    isa: Isa,
    panel: usize,
    widened: bool,
    n: usize,
    k: usize,
    values: &[i8],
    scales: &[f32],
    smooth: Option<&[f32]>,
) -> QuantizedWeights {
    let padded = n.div_ceil(panel) * panel;
    let steps = k.div_ceil(4);
    let data = if panel == 1 {
        values.to_vec()
    } else {
        // Both layouts move groups of 4 bytes: group `g` of row `l` of a panel (values
        // `4g..4g + 4`, or as i16 `2g, 2g + 1`) goes to `(g · panel + l) · 4` within the panel.
        // So each panel's rows are first copied (widened) into a small block, zero-padded to
        // whole steps, and then moved group by group in layout order. Loading an int8 model
        // is mostly this loop: writing value by value in row order made it several times
        // slower.
        let bytes = if widened { 2 } else { 1 };
        let row_bytes = bytes * steps * 4;
        let mut data = vec![0i8; padded * row_bytes];
        let mut rows = vec![0i8; panel * row_bytes];
        for (q, out) in data
            .chunks_exact_mut((panel * row_bytes).max(1))
            .enumerate()
        {
            let count = panel.min(n - q * panel);
            for (l, row) in rows.chunks_exact_mut(row_bytes.max(1)).enumerate() {
                let row = &mut row[..bytes * k];
                if l >= count {
                    row.fill(0);
                } else if widened {
                    let source = &values[(q * panel + l) * k..][..k];
                    for (pair, &value) in row.chunks_exact_mut(2).zip(source) {
                        let [low, high] = i16::from(value).to_le_bytes();
                        (pair[0], pair[1]) = (low as i8, high as i8);
                    }
                } else {
                    row.copy_from_slice(&values[(q * panel + l) * k..][..k]);
                }
            }
            for (g, groups) in out.chunks_exact_mut(panel * 4).enumerate() {
                for (l, group) in groups.chunks_exact_mut(4).enumerate() {
                    group.copy_from_slice(&rows[l * row_bytes + 4 * g..][..4]);
                }
            }
        }
        data
    };
    let mut col_sums = vec![0i32; padded];
    for (sum, row) in col_sums.iter_mut().zip(values.chunks_exact(k.max(1))) {
        *sum = row.iter().map(|&v| i32::from(v)).sum();
    }
    let mut padded_scales = vec![0.0f32; padded];
    padded_scales[..n].copy_from_slice(scales);
    QuantizedWeights {
        isa,
        n,
        k,
        panel,
        widened: widened && panel > 1,
        data,
        scales: padded_scales,
        col_sums,
        smooth_inv: smooth.map(|m| m.iter().map(|&m| 1.0 / m).collect()),
        smooth: smooth.map(<[f32]>::to_vec),
    }
}

impl Kernels {
    /// Quantises a row-major `n x k` f32 weight (per output channel, symmetric) and packs it
    /// for [`Kernels::qgemm`].
    ///
    /// # Panics
    /// If `weight.len() != n * k`.
    pub fn quantize_weights(&self, weight: &[f32], n: usize, k: usize) -> QuantizedWeights {
        assert_eq!(weight.len(), n * k, "quantize_weights: weight is not n x k");
        self.quantize_weight_rows(n, k, &mut |j, row| {
            row.copy_from_slice(&weight[j * k..(j + 1) * k]);
        })
    }

    /// [`Kernels::quantize_weights`] for a weight whose rows come from `rows(j, row)`, asked
    /// for in increasing order, each once (none when `k` is 0).
    ///
    /// # Panics
    /// If `n * k` overflows `usize`.
    pub fn quantize_weight_rows(
        &self,
        n: usize,
        k: usize,
        rows: &mut dyn FnMut(usize, &mut [f32]),
    ) -> QuantizedWeights {
        self.quantize_weight_rows_smoothed(n, k, None, rows)
    }

    /// [`Kernels::quantize_weight_rows`] with SmoothQuant-style smoothing: each weight column
    /// `p` is multiplied by `smooth[p]` before quantising, and every product divides the
    /// activations' column `p` by it before quantising them, so that channels with outlying
    /// activations hand part of their range to the weights. `None` smooths nothing.
    ///
    /// # Panics
    /// If `n * k` overflows, `smooth` is not `k` long, or a factor is not finite and positive.
    pub fn quantize_weight_rows_smoothed(
        &self,
        n: usize,
        k: usize,
        smooth: Option<&[f32]>,
        rows: &mut dyn FnMut(usize, &mut [f32]),
    ) -> QuantizedWeights {
        let len = n
            .checked_mul(k)
            .expect("quantize_weight_rows: n x k overflows");
        let mut values = vec![0i8; len];
        let mut scales = vec![0.0f32; n];
        let mut row = vec![0.0f32; k];
        if k > 0 {
            for (j, (out, scale)) in values.chunks_exact_mut(k).zip(&mut scales).enumerate() {
                rows(j, &mut row);
                if let Some(smooth) = smooth {
                    assert_eq!(
                        smooth.len(),
                        k,
                        "quantize_weight_rows: smoothing is not k long"
                    );
                    row.iter_mut().zip(smooth).for_each(|(w, m)| *w *= m);
                }
                *scale = quantize_weight_row(&row, out);
            }
        }
        self.int8_weights(n, k, &values, &scales, smooth)
    }

    /// Packs stored int8 weights, row-major `n x k` values with one scale per row and the
    /// smoothing factors they were quantised with, if any (as [`QuantizedWeights::values`],
    /// [`QuantizedWeights::scales`] and [`QuantizedWeights::smoothing`] give them), for this
    /// path.
    ///
    /// # Panics
    /// If `values.len() != n * k`, `scales.len() != n`, or `smooth` is not `k` finite positive
    /// factors.
    pub fn int8_weights(
        &self,
        n: usize,
        k: usize,
        values: &[i8],
        scales: &[f32],
        smooth: Option<&[f32]>,
    ) -> QuantizedWeights {
        if let Some(smooth) = smooth {
            assert_eq!(smooth.len(), k, "int8_weights: smoothing is not k long");
            assert!(
                smooth.iter().all(|m| m.is_finite() && *m > 0.0),
                "int8_weights: smoothing factors must be finite and positive"
            );
        }
        assert_eq!(
            Some(values.len()),
            n.checked_mul(k),
            "int8_weights: values are not n x k"
        );
        assert_eq!(scales.len(), n, "int8_weights: scales are not n");
        pack(
            self.isa,
            self.int8_panel,
            self.int8_widened,
            n,
            k,
            values,
            scales,
            smooth,
        )
    }

    /// `C = epilogue(A · Wᵀ)` with int8 weights: `A` (`m x k` f32, row-major) is quantised per
    /// row inside the call. On the calling thread.
    ///
    /// # Panics
    /// If a slice length disagrees with `m`, `k`, `n`, or the weights were packed for another
    /// path.
    pub fn qgemm(
        &self,
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        c: &mut [f32],
    ) {
        self.qgemm_parallel(a, m, w, epilogue, c, &crate::Sequential);
    }

    /// [`Kernels::qgemm`] spread over `runner`'s threads as [`Kernels::gemm_parallel`] splits
    /// f32 products; the result is bit-identical for any thread count.
    ///
    /// # Panics
    /// As [`Kernels::qgemm`].
    pub fn qgemm_parallel(
        &self,
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        c: &mut [f32],
        runner: &dyn TaskRunner,
    ) {
        assert_eq!(
            w.isa, self.isa,
            "qgemm: weights packed for another kernel path"
        );
        assert_eq!(a.len(), m * w.k, "qgemm: A is not m x k");
        assert_eq!(c.len(), m * w.n, "qgemm: C is not m x n");
        if let Some(bias) = epilogue.bias() {
            assert_eq!(bias.len(), w.n, "qgemm: bias length is not n");
        }
        let (n, k) = (w.n, w.k);
        let product = split::Product {
            m,
            n,
            k,
            panel: w.panel,
            // int8 runs about four times the f32 rate, so a hand-off needs more operations.
            min_task_ops: 4 * split::MIN_TASK_FLOPS,
        };
        let qgemm = self.qgemm;
        split::run(&product, c, runner, &|rows, out| {
            // SAFETY: `split::run` hands each call rows and columns of `C` that no other call
            // writes, with `out.c` at the first row, while it holds the unique borrow of `C`.
            unsafe {
                qgemm(
                    &a[rows.start * k..rows.end * k],
                    rows.len(),
                    w,
                    epilogue,
                    out,
                )
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{dequantize_weight, quantize_weight_row, round_even_small, round_trip_weight_row};
    use super::{pack, widened_index};
    use crate::Isa;

    #[test]
    fn packing_puts_every_value_where_the_layout_says_and_zeros_elsewhere() {
        // The layout written value by value from its definition (`widened_index` and the
        // 4-value steps), against `pack`, which writes it block by block.
        for (n, k) in [(1, 1), (3, 5), (8, 4), (17, 13), (33, 70), (40, 384)] {
            let values: Vec<i8> = (0..n * k).map(|i| (i * 53 % 255) as i8).collect();
            let scales = vec![0.5; n];
            for panel in [4, 8, 12, 16] {
                let (padded, steps) = (n.div_ceil(panel) * panel, k.div_ceil(4));
                for widened in [false, true] {
                    let mut want = vec![0i8; (1 + usize::from(widened)) * padded * steps * 4];
                    for j in 0..n {
                        for p in 0..k {
                            let value = values[j * k + p];
                            if widened {
                                let at = 2 * widened_index(panel, steps, j, p);
                                let [low, high] = i16::from(value).to_le_bytes();
                                (want[at], want[at + 1]) = (low as i8, high as i8);
                            } else {
                                let (q, l) = (j / panel, j % panel);
                                want[((q * steps + p / 4) * panel + l) * 4 + p % 4] = value;
                            }
                        }
                    }
                    let packed = pack(Isa::Scalar, panel, widened, n, k, &values, &scales, None);
                    assert_eq!(packed.data, want, "n={n} k={k} panel={panel} {widened}");
                }
            }
        }
    }

    #[test]
    fn a_round_trip_equals_quantising_then_dequantising() {
        let rows: [Vec<f32>; 4] = [
            (0..384)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 313.0)
                .collect(),
            vec![0.0; 7],
            vec![1e-30, -3e-31, 2.5e-30],
            vec![-1.0, 0.5, 1.0 / 254.0, 3.0 / 254.0, -0.25],
        ];
        for row in rows {
            let mut q = vec![0i8; row.len()];
            let scale = quantize_weight_row(&row, &mut q);
            let expected: Vec<f32> = q.iter().map(|&q| dequantize_weight(q, scale)).collect();
            let mut trip = row.clone();
            round_trip_weight_row(&mut trip);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&trip), bits(&expected), "{row:?}");
        }
    }

    #[test]
    fn round_even_small_equals_round_ties_even_in_range() {
        let mut x = -4_194_303.0f32; // -2^22 + 1
        let mut checked = 0;
        while x <= 4_194_303.0 {
            for y in [x, x + 0.5, x - 0.5, x + 0.25, x + 0.75, x + 0.499_999_97] {
                assert_eq!(round_even_small(y), y.round_ties_even(), "{y}");
            }
            x += if x.abs() < 1024.0 { 0.125 } else { 997.0 };
            checked += 1;
        }
        assert!(checked > 10_000);
        for y in [
            0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 254.5, 255.5, -127.5, 126.5,
        ] {
            assert_eq!(round_even_small(y), y.round_ties_even(), "{y}");
        }
    }
}
