//! AVX-512 int8 tiles: 16-column panels, steps of 4 `k` values, for two paths:
//! - **AVX-512 VNNI**: one `vpdpbusd` per row, panel and step (u8 activations x s8 weights,
//!   four products summed into each i32 lane). The main tile is 8 rows x 3 panels (48 columns):
//!   24 accumulators, 3 weight vectors and a broadcast, 28 of the 32 zmm registers. Per step it
//!   issues 24 `vpdpbusd` (12 cycles on two ports) against 3 weight loads and 8 broadcasts.
//!   Smaller groups take more panels so that at least 8 independent chains hide the
//!   instruction's latency.
//! - **AVX-512 without VNNI** (Skylake-SP, Cascade Lake without it): the i16 form of the AVX2
//!   path (`avx2.rs`: values widened once, two `vpmaddwd` + two `vpaddd` per row, panel and
//!   step), 512 bits wide: 8 rows x 2 panels, 16 accumulators and 4 weight vectors.

use std::arch::x86_64::*;

use super::driver::{self, Int8Tiles, Job};
use super::{QuantizedWeights, RowQuant};
use crate::gemm::tile::{store_tile, TileSums};
use crate::gemm::{Epilogue, Output};
use crate::simd::avx512::Avx512F32;

pub(crate) const PANEL: usize = 16;

/// # Safety
/// The [`Output`] contract; the CPU has AVX-512 F/BW/VL and AVX-512 VNNI (the dispatch hands
/// this entry out only then).
pub(crate) unsafe fn qgemm(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: the features are enabled here; `w` was packed by this path (the public
        // wrapper checks `w.isa`), so in 16-wide panels; the caller keeps the output contract.
        unsafe { driver::qgemm::<Vnni512>(a, m, w, epilogue, out) }
    }
    // SAFETY: reachable only through the AVX-512 VNNI kernel table, handed out only after the
    // dispatch detected these features.
    unsafe { with_features(a, m, w, epilogue, out) }
}

struct Vnni512;

/// # Safety
/// The [`Output`] contract; the CPU has AVX-512 F/BW/VL (the dispatch hands this entry out
/// only then).
pub(crate) unsafe fn qgemm_i16(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: the features are enabled here; `w` was packed by this path (the public
        // wrapper checks `w.isa`), so in 16-wide widened panels; the caller keeps the output
        // contract.
        unsafe { driver::qgemm::<ZmmI16>(a, m, w, epilogue, out) }
    }
    // SAFETY: reachable only through the AVX-512 kernel table, handed out only after the
    // dispatch detected these features.
    unsafe { with_features(a, m, w, epilogue, out) }
}

/// The AVX-512 tiles without VNNI (`vpmaddwd` on values widened to i16).
struct ZmmI16;

// SAFETY: `quantize` and `row_group` access memory only within their contracts, and are only
// compiled into the AVX-512 entry point `qgemm_i16`.
unsafe impl Int8Tiles for ZmmI16 {
    const PANEL: usize = PANEL;
    const MR: usize = 8;
    const VALUE_BYTES: usize = 2;

    #[inline(always)]
    unsafe fn quantize(
        a: *const f32,
        smooth: *const f32,
        k: usize,
        rows: usize,
        packed: *mut u8,
        params: &mut [RowQuant],
    ) {
        // SAFETY: the caller keeps the contract with VALUE_BYTES = 2; AVX2 is present with
        // AVX-512. The block layout does not depend on the panel width.
        unsafe { super::avx2::quantize_rows::<true>(a, smooth, k, rows, packed, params) }
    }

    #[inline(always)]
    unsafe fn row_group(job: &Job<'_>) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees the ISA.
        unsafe {
            match job.rows {
                1 => group::<true, 1, 8>(job),
                2 => group::<true, 2, 4>(job),
                3 => group::<true, 3, 4>(job),
                4 => group::<true, 4, 3>(job),
                5 => group::<true, 5, 3>(job),
                6 => group::<true, 6, 3>(job),
                7 => group::<true, 7, 2>(job),
                8 => group::<true, 8, 2>(job),
                _ => unreachable!("int8 row group of {} rows", job.rows),
            }
        }
    }
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job, in i16: per step, each panel's two
/// weight vectors (values `4s, 4s+1` and `4s+2, 4s+3` of each lane) against each row's two
/// broadcast pairs.
///
/// # Safety
/// As [`group`] with `I16`, and `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile_i16<const MR: usize, const NP: usize>(job: &Job<'_>, q0: usize) {
    // SAFETY: every pointer stays in the ranges of the Job contract: steps s < job.steps of the
    // block for rows i < MR (8 bytes each); panels q0 + q < job.panels (128 bytes a step);
    // columns masked to `job.cols`.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); NP]; MR];
        let w = job.w.add(q0 * job.panel_stride);
        for s in 0..job.steps {
            let mut low = [_mm512_setzero_si512(); NP];
            let mut high = [_mm512_setzero_si512(); NP];
            for q in 0..NP {
                let step = w.add(q * job.panel_stride + s * PANEL * 8);
                low[q] = _mm512_loadu_si512(step.cast());
                high[q] = _mm512_loadu_si512(step.add(64).cast());
            }
            let a = job.a.add(s * MR * 8);
            for (i, row) in acc.iter_mut().enumerate() {
                let pairs = a.add(i * 8).cast::<i32>();
                let a_low = _mm512_set1_epi32(pairs.read_unaligned());
                let a_high = _mm512_set1_epi32(pairs.add(1).read_unaligned());
                for (q, sum) in row.iter_mut().enumerate() {
                    *sum = _mm512_add_epi32(*sum, _mm512_madd_epi16(a_low, low[q]));
                    *sum = _mm512_add_epi32(*sum, _mm512_madd_epi16(a_high, high[q]));
                }
            }
        }
        dequantize_and_store::<MR, NP>(&acc, job, q0);
    }
}

/// Dequantises a tile's sums, as `super::dequantize` does, then runs the epilogue.
///
/// # Safety
/// AVX-512 F present; the [`Job`] contract with `job.rows == MR` and `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn dequantize_and_store<const MR: usize, const NP: usize>(
    acc: &[[__m512i; NP]; MR],
    job: &Job<'_>,
    q0: usize,
) {
    // SAFETY: the column sums and scales of panels q0.. q0+NP lie in the job's ranges (padded
    // to whole panels); the epilogue writes only `job.cols` columns.
    unsafe {
        let mut sums = TileSums::new();
        for q in 0..NP {
            let col = (q0 + q) * PANEL;
            let col_sums = _mm512_loadu_si512(job.col_sums.add(col).cast());
            let scales = _mm512_loadu_ps(job.scales.add(col));
            for (i, row) in acc.iter().enumerate() {
                let p = job.params[i];
                let fix = _mm512_mullo_epi32(_mm512_set1_epi32(p.zero), col_sums);
                let exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(row[q], fix));
                let scale = _mm512_mul_ps(_mm512_set1_ps(p.scale), scales);
                _mm512_storeu_ps(sums.at(MR, NP, PANEL, i, q), _mm512_mul_ps(exact, scale));
            }
        }
        let col0 = q0 * PANEL;
        store_tile::<Avx512F32, MR, NP>(
            &sums, job.c, job.ldc, job.bias, col0, job.cols, job.finish,
        );
    }
}

// SAFETY: `quantize` and `row_group` access memory only within their contracts, and are only
// compiled into the AVX-512 VNNI entry point above.
unsafe impl Int8Tiles for Vnni512 {
    const PANEL: usize = PANEL;
    const MR: usize = 8;

    #[inline(always)]
    unsafe fn quantize(
        a: *const f32,
        smooth: *const f32,
        k: usize,
        rows: usize,
        packed: *mut u8,
        params: &mut [RowQuant],
    ) {
        // SAFETY: the trait contract: rows x k readable floats, the block writable, AVX-512.
        unsafe {
            for (i, param) in params.iter_mut().enumerate().take(rows) {
                let row = a.add(i * k);
                let full = k / 16 * 16;
                let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
                for p in (0..full).step_by(16) {
                    let x = _mm512_loadu_ps(row.add(p));
                    let x = if smooth.is_null() {
                        x
                    } else {
                        _mm512_mul_ps(x, _mm512_loadu_ps(smooth.add(p)))
                    };
                    lo = _mm512_min_ps(lo, x);
                    hi = _mm512_max_ps(hi, x);
                }
                let (mut lo, mut hi) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
                let value = |p: usize| {
                    let x = *row.add(p);
                    if smooth.is_null() {
                        x
                    } else {
                        x * *smooth.add(p)
                    }
                };
                for p in full..k {
                    lo = lo.min(value(p));
                    hi = hi.max(value(p));
                }
                let q = RowQuant::for_range(lo, hi);
                *param = q;
                let (inv, zero) = (_mm512_set1_ps(q.inv), _mm512_set1_ps(q.zero as f32));
                let (floor, ceil) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
                let stride = rows * 4;
                let dst = packed.add(i * 4);
                for p in (0..full).step_by(16) {
                    let x = _mm512_loadu_ps(row.add(p));
                    let x = if smooth.is_null() {
                        x
                    } else {
                        _mm512_mul_ps(x, _mm512_loadu_ps(smooth.add(p)))
                    };
                    let x = _mm512_mul_ps(x, inv);
                    let x = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                        x,
                    );
                    let x = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(x, zero), floor), ceil);
                    let bytes = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(x));
                    // Four steps of four bytes, each to its row's slot of the step.
                    let s = p / 4;
                    let words = std::mem::transmute::<__m128i, [u32; 4]>(bytes);
                    for (t, word) in words.into_iter().enumerate() {
                        dst.add((s + t) * stride)
                            .cast::<u32>()
                            .write_unaligned(word);
                    }
                }
                // The tail, and zeros up to the last whole step.
                for p in full..k.div_ceil(4) * 4 {
                    let u = if p < k { q.quantize(value(p)) } else { 0 };
                    *dst.add((p / 4) * stride + p % 4) = u;
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn row_group(job: &Job<'_>) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees the ISA.
        unsafe {
            match job.rows {
                1 => group::<false, 1, 8>(job),
                2 => group::<false, 2, 6>(job),
                3 => group::<false, 3, 4>(job),
                4 => group::<false, 4, 4>(job),
                5 => group::<false, 5, 3>(job),
                6 => group::<false, 6, 3>(job),
                7 => group::<false, 7, 3>(job),
                8 => group::<false, 8, 3>(job),
                _ => unreachable!("int8 row group of {} rows", job.rows),
            }
        }
    }
}

/// The group's panels, `NP` at a time, then one at a time, on the i16 tiles when `I16`, else
/// on the VNNI ones.
///
/// # Safety
/// AVX-512 F/BW present, and AVX-512 VNNI unless `I16`; `job` keeps the [`Job`] contract
/// (two-byte values when `I16`) with `job.rows == MR`.
#[inline(always)]
unsafe fn group<const I16: bool, const MR: usize, const NP: usize>(job: &Job<'_>) {
    let mut q = 0;
    // SAFETY (both loops): tiles at panels q..q+NP (resp. q) < job.panels, within the contract.
    unsafe {
        while q + NP <= job.panels {
            if I16 {
                tile_i16::<MR, NP>(job, q);
            } else {
                tile::<MR, NP>(job, q);
            }
            q += NP;
        }
        while q < job.panels {
            if I16 {
                tile_i16::<MR, 1>(job, q);
            } else {
                tile::<MR, 1>(job, q);
            }
            q += 1;
        }
    }
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job.
///
/// # Safety
/// AVX-512 VNNI present; the [`Job`] contract with `job.rows == MR` and `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile<const MR: usize, const NP: usize>(job: &Job<'_>, q0: usize) {
    // SAFETY: every pointer stays in the ranges of the Job contract: steps s < job.steps of the
    // block for rows i < MR; panels q0 + q < job.panels; columns masked to `job.cols`.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); NP]; MR];
        let w = job.w.add(q0 * job.panel_stride);
        for s in 0..job.steps {
            let mut wv = [_mm512_setzero_si512(); NP];
            for (q, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(w.add(q * job.panel_stride + s * PANEL * 4).cast());
            }
            let a = job.a.add(s * MR * 4);
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(a.add(i * 4).cast::<i32>().read_unaligned());
                for (sum, &wq) in row.iter_mut().zip(&wv) {
                    *sum = _mm512_dpbusd_epi32(*sum, av, wq);
                }
            }
        }

        dequantize_and_store::<MR, NP>(&acc, job, q0);
    }
}
