//! 256-bit int8 tiles: 8-column panels, steps of 4 `k` values, for two paths:
//! - **AVX-VNNI**: one `vpdpbusd ymm` per row, panel and step (u8 x s8, four products per lane);
//! - **AVX2 without VNNI** (also AVX-512 without VNNI): the same sums in i16. Weights are
//!   widened to i16 once, when packed, and each group's activations when quantised (u8 values
//!   stored as u16); per row, panel and step, two `vpmaddwd` (each i16 pair product summed into
//!   an i32 lane, exact: at most 2 x 255 x 127) and two `vpaddd`. `vpmaddubsw` (u8 x s8 into
//!   i16) would need one multiply fewer per four values but saturates unless weights or
//!   activations lose a bit, which cost more quality than the bars allow (`kernels/DESIGN.md`);
//!   i16 keeps full 8-bit weights and activations, so the sums equal VNNI's bit for bit.
//!
//! Tiles of 4 rows x 2 panels (8 accumulators; the i16 path holds 4 weight vectors, the two
//! halves of each panel's step, 15 of 16 registers), and more panels for 1 or 2 rows.

use std::arch::x86_64::*;

use super::driver::{self, Int8Tiles, Job};
use super::{QuantizedWeights, RowQuant};
use crate::gemm::tile::{store_tile, TileSums};
use crate::gemm::{Epilogue, Output};
use crate::simd::avx2::Avx2F32;

pub(crate) const PANEL: usize = 8;

/// # Safety
/// The [`Output`] contract; the CPU has AVX2 and FMA (the dispatch hands this entry out only
/// then).
pub(crate) unsafe fn qgemm(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    #[target_feature(enable = "avx2,fma")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: the features are enabled here; `w` was packed by this path (the public
        // wrapper checks `w.isa`), so in 8-wide widened panels; the caller keeps the output
        // contract.
        unsafe { driver::qgemm::<YmmI16>(a, m, w, epilogue, out) }
    }
    // SAFETY: reachable only through the AVX2 kernel table, handed out only after the
    // dispatch detected these features.
    unsafe { with_features(a, m, w, epilogue, out) }
}

/// # Safety
/// The [`Output`] contract; the CPU has AVX2, FMA and AVX-VNNI (the dispatch hands this entry
/// out only then).
pub(crate) unsafe fn qgemm_vnni(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    #[target_feature(enable = "avx2,fma,avxvnni")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: as in `qgemm`, with AVX-VNNI enabled too, and 8-wide s8 panels.
        unsafe { driver::qgemm::<YmmVnni>(a, m, w, epilogue, out) }
    }
    // SAFETY: reachable only through the AVX-VNNI kernel table, handed out only after the
    // dispatch detected these features.
    unsafe { with_features(a, m, w, epilogue, out) }
}

/// The AVX-VNNI tiles (`vpdpbusd` on u8 and s8).
struct YmmVnni;

/// The AVX2 tiles without VNNI (`vpmaddwd` on values widened to i16).
struct YmmI16;

/// Quantises `rows` rows as [`Int8Tiles::quantize`] states, storing each `u` as one byte, or as
/// a little-endian u16 when `WIDE`.
///
/// # Safety
/// [`Int8Tiles::quantize`]'s contract with `VALUE_BYTES = 1 + WIDE`; AVX2 present.
#[inline(always)]
pub(crate) unsafe fn quantize_rows<const WIDE: bool>(
    a: *const f32,
    smooth: *const f32,
    k: usize,
    rows: usize,
    packed: *mut u8,
    params: &mut [RowQuant],
) {
    let bytes_per_value = 1 + usize::from(WIDE);
    // SAFETY: the trait contract: rows x k readable floats, the block writable, AVX2.
    unsafe {
        for (i, param) in params.iter_mut().enumerate().take(rows) {
            let row = a.add(i * k);
            let full = k / 8 * 8;
            let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for p in (0..full).step_by(8) {
                let x = _mm256_loadu_ps(row.add(p));
                let x = if smooth.is_null() {
                    x
                } else {
                    _mm256_mul_ps(x, _mm256_loadu_ps(smooth.add(p)))
                };
                lo = _mm256_min_ps(lo, x);
                hi = _mm256_max_ps(hi, x);
            }
            let lo_lanes = std::mem::transmute::<__m256, [f32; 8]>(lo);
            let hi_lanes = std::mem::transmute::<__m256, [f32; 8]>(hi);
            let mut lo = lo_lanes.into_iter().fold(0.0f32, f32::min);
            let mut hi = hi_lanes.into_iter().fold(0.0f32, f32::max);
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
            let (inv, zero) = (_mm256_set1_ps(q.inv), _mm256_set1_ps(q.zero as f32));
            let (floor, ceil) = (_mm256_setzero_ps(), _mm256_set1_ps(255.0));
            // One step is a row's 4 values; steps of the group's rows follow each other.
            let stride = rows * 4 * bytes_per_value;
            let dst = packed.add(i * 4 * bytes_per_value);
            for p in (0..full).step_by(8) {
                let x = _mm256_loadu_ps(row.add(p));
                let x = if smooth.is_null() {
                    x
                } else {
                    _mm256_mul_ps(x, _mm256_loadu_ps(smooth.add(p)))
                };
                let x = _mm256_mul_ps(x, inv);
                let x = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
                let x = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(x, zero), floor), ceil);
                let ints = _mm256_cvtps_epi32(x);
                let words = _mm_packus_epi32(
                    _mm256_castsi256_si128(ints),
                    _mm256_extracti128_si256::<1>(ints),
                );
                let s = p / 4;
                if WIDE {
                    // Eight u16: the two steps' 8 bytes each.
                    _mm_storel_epi64(dst.add(s * stride).cast(), words);
                    _mm_storel_epi64(
                        dst.add((s + 1) * stride).cast(),
                        _mm_unpackhi_epi64(words, words),
                    );
                } else {
                    let bytes = _mm_packus_epi16(words, words);
                    dst.add(s * stride)
                        .cast::<i32>()
                        .write_unaligned(_mm_cvtsi128_si32(bytes));
                    dst.add((s + 1) * stride)
                        .cast::<i32>()
                        .write_unaligned(_mm_extract_epi32::<1>(bytes));
                }
            }
            // The tail, and zeros up to the last whole step.
            for p in full..k.div_ceil(4) * 4 {
                let u = if p < k { q.quantize(value(p)) } else { 0 };
                let at = dst.add((p / 4) * stride + (p % 4) * bytes_per_value);
                if WIDE {
                    at.cast::<u16>().write_unaligned(u16::from(u));
                } else {
                    *at = u;
                }
            }
        }
    }
}

// SAFETY: `quantize` and `row_group` access memory only within their contracts, and are only
// compiled into the AVX2 entry point above.
unsafe impl Int8Tiles for YmmI16 {
    const PANEL: usize = PANEL;
    const MR: usize = 4;
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
        // SAFETY: the caller keeps the contract, with VALUE_BYTES = 2.
        unsafe { quantize_rows::<true>(a, smooth, k, rows, packed, params) }
    }

    #[inline(always)]
    unsafe fn row_group(job: &Job<'_>) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees the ISA.
        unsafe {
            match job.rows {
                1 => group::<false, 1, 4>(job),
                2 => group::<false, 2, 3>(job),
                3 => group::<false, 3, 2>(job),
                4 => group::<false, 4, 2>(job),
                _ => unreachable!("int8 row group of {} rows", job.rows),
            }
        }
    }
}

// SAFETY: `quantize` and `row_group` access memory only within their contracts, and are only
// compiled into the AVX-VNNI entry point above.
unsafe impl Int8Tiles for YmmVnni {
    const PANEL: usize = PANEL;
    const MR: usize = 4;

    #[inline(always)]
    unsafe fn quantize(
        a: *const f32,
        smooth: *const f32,
        k: usize,
        rows: usize,
        packed: *mut u8,
        params: &mut [RowQuant],
    ) {
        // SAFETY: the caller keeps the contract, with VALUE_BYTES = 1.
        unsafe { quantize_rows::<false>(a, smooth, k, rows, packed, params) }
    }

    #[inline(always)]
    unsafe fn row_group(job: &Job<'_>) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees the ISA.
        unsafe {
            match job.rows {
                1 => group::<true, 1, 4>(job),
                2 => group::<true, 2, 3>(job),
                3 => group::<true, 3, 2>(job),
                4 => group::<true, 4, 2>(job),
                _ => unreachable!("int8 row group of {} rows", job.rows),
            }
        }
    }
}

/// The group's panels, `NP` at a time, then one at a time.
///
/// # Safety
/// The ISA present (AVX-VNNI too when `VNNI`); `job` keeps the [`Job`] contract with
/// `job.rows == MR` (values of one byte when `VNNI`, of two otherwise).
#[inline(always)]
unsafe fn group<const VNNI: bool, const MR: usize, const NP: usize>(job: &Job<'_>) {
    let mut q = 0;
    // SAFETY (both loops): tiles at panels q..q+NP (resp. q) < job.panels, within the contract.
    unsafe {
        while q + NP <= job.panels {
            tile::<VNNI, MR, NP>(job, q);
            q += NP;
        }
        while q < job.panels {
            tile::<VNNI, MR, 1>(job, q);
            q += 1;
        }
    }
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job.
///
/// # Safety
/// As [`group`], with `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile<const VNNI: bool, const MR: usize, const NP: usize>(job: &Job<'_>, q0: usize) {
    // SAFETY: every pointer stays in the ranges of the Job contract: steps s < job.steps of the
    // block for rows i < MR; panels q0 + q < job.panels; columns limited to `job.cols`.
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); NP]; MR];
        let w = job.w.add(q0 * job.panel_stride);
        for s in 0..job.steps {
            if VNNI {
                let a = job.a.add(s * MR * 4);
                let mut wv = [_mm256_setzero_si256(); NP];
                for (q, v) in wv.iter_mut().enumerate() {
                    *v = _mm256_loadu_si256(w.add(q * job.panel_stride + s * PANEL * 4).cast());
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_epi32(a.add(i * 4).cast::<i32>().read_unaligned());
                    for (sum, &wq) in row.iter_mut().zip(&wv) {
                        *sum = _mm256_dpbusd_avx_epi32(*sum, av, wq);
                    }
                }
            } else {
                // i16: a step of a panel is two vectors (values 4s, 4s+1 and 4s+2, 4s+3 of
                // each lane), a step of a row two broadcast pairs.
                let a = job.a.add(s * MR * 8);
                let mut low = [_mm256_setzero_si256(); NP];
                let mut high = [_mm256_setzero_si256(); NP];
                for q in 0..NP {
                    let step = w.add(q * job.panel_stride + s * PANEL * 8);
                    low[q] = _mm256_loadu_si256(step.cast());
                    high[q] = _mm256_loadu_si256(step.add(32).cast());
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let pairs = a.add(i * 8).cast::<i32>();
                    let a_low = _mm256_set1_epi32(pairs.read_unaligned());
                    let a_high = _mm256_set1_epi32(pairs.add(1).read_unaligned());
                    for (q, sum) in row.iter_mut().enumerate() {
                        *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(a_low, low[q]));
                        *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(a_high, high[q]));
                    }
                }
            }
        }

        // Dequantise, as `super::dequantize` does, then the epilogue.
        let mut sums = TileSums::new();
        for q in 0..NP {
            let col = (q0 + q) * PANEL;
            let col_sums = _mm256_loadu_si256(job.col_sums.add(col).cast());
            let scales = _mm256_loadu_ps(job.scales.add(col));
            for (i, row) in acc.iter().enumerate() {
                let p = job.params[i];
                let fix = _mm256_mullo_epi32(_mm256_set1_epi32(p.zero), col_sums);
                let exact = _mm256_cvtepi32_ps(_mm256_sub_epi32(row[q], fix));
                let scale = _mm256_mul_ps(_mm256_set1_ps(p.scale), scales);
                _mm256_storeu_ps(sums.at(MR, NP, PANEL, i, q), _mm256_mul_ps(exact, scale));
            }
        }
        let col0 = q0 * PANEL;
        store_tile::<Avx2F32, MR, NP>(&sums, job.c, job.ldc, job.bias, col0, job.cols, job.finish);
    }
}
