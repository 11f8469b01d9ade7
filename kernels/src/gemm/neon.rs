//! NEON GEMM tiles: 4-column weight panels (one `float32x4_t` per step); tiles of 1-8 rows, 8 x 2
//! panels for large `m`.
//!
//! aarch64 has 32 vector registers. The main tile is 8 rows x 2 panels (8 columns): 16
//! accumulators, 8 registers holding four `k` steps of each row (`A` is packed in chunks of 16
//! steps per row, so four consecutive steps are one load) and 2 weight vectors; each weight
//! vector meets a row's step through `fmla v.4s, w.4s, a.s[lane]`, so there are no broadcasts.
//! Groups of other heights take more panels (up to 8 for a single row). The last steps of a `k`
//! block, when fewer than 4 are left, broadcast one float of `A` at a time (`ld1r`).
//!
//! Every output is the same chain of fused multiply-adds over `p = 0, 1, ..` as on the other
//! paths, so a row's result does not depend on its tile or batch.
//!
//! The block sizes are for the cores the README names (Cortex-A72/A76: 32-64 KiB L1D, 512 KiB-1
//! MiB L2); they could not be timed here (qemu executes, it does not model speed).

use std::arch::aarch64::*;

use super::blocked::{self, Finish, GroupJob, Microkernels, Store, A_CHUNK};
use super::{Epilogue, Output, PackedWeights};
use crate::simd::neon::NeonF32;
use crate::Isa;

pub(crate) const PANEL: usize = 4;

pub(crate) fn pack_weights(
    rows: &mut dyn FnMut(usize, &mut [f32]),
    n: usize,
    k: usize,
) -> PackedWeights {
    super::pack_panels(rows, n, k, PANEL, Isa::Neon)
}

/// # Safety
/// The [`super::Output`] contract: `c` reaches `m` rows of `w.n` floats, and nothing else reads
/// or writes the columns `cols` of them during the call.
pub(crate) unsafe fn gemm(
    a: &[f32],
    m: usize,
    w: &PackedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    #[target_feature(enable = "neon")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &PackedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: NEON is enabled on this function; `w` was packed by this path's
        // `pack_weights` (the public wrapper checks `w.isa`), so in 4-wide panels; the caller
        // keeps the output contract.
        unsafe { blocked::gemm::<NeonTiles>(a, m, w, epilogue, out) }
    }
    // SAFETY: this entry point is reachable only through the NEON kernel tables, which the
    // dispatch hands out only on aarch64 after detecting NEON.
    unsafe { with_features(a, m, w, epilogue, out) }
}

struct NeonTiles;

// SAFETY: `row_group` dispatches `rows` in 1..=8 to tiles that access memory only within the
// `GroupJob` contract, and it is only compiled into NEON entry points.
unsafe impl Microkernels for NeonTiles {
    const PANEL: usize = PANEL;
    const MR: usize = 8;
    const MAX_GROUP_ROWS: usize = 8;
    const KC: usize = 256;
    const W_BLOCK_BYTES: usize = 256 << 10;
    const A_BLOCK_BYTES: usize = 128 << 10;

    #[inline(always)]
    unsafe fn row_group(job: &GroupJob) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees NEON.
        unsafe {
            match job.rows {
                1 => group::<1, 8>(job),
                2 => group::<2, 6>(job),
                3 => group::<3, 4>(job),
                4 => group::<4, 4>(job),
                5 => group::<5, 3>(job),
                6 => group::<6, 3>(job),
                7 => group::<7, 2>(job),
                8 => group::<8, 2>(job),
                _ => unreachable!("row group of {} rows", job.rows),
            }
        }
    }
}

/// The group's panels, `NP` at a time, then one at a time.
///
/// # Safety
/// NEON present; `job` keeps the [`GroupJob`] contract with `job.rows == MR`.
#[inline(always)]
unsafe fn group<const MR: usize, const NP: usize>(job: &GroupJob) {
    debug_assert_eq!(job.rows, MR);
    let mut q = 0;
    // SAFETY (both loops): tiles at panels q..q+NP (resp. q) < job.panels, within the contract.
    unsafe {
        while q + NP <= job.panels {
            tile::<MR, NP>(job, q);
            q += NP;
        }
        while q < job.panels {
            tile::<MR, 1>(job, q);
            q += 1;
        }
    }
}

/// `acc += w * a[LANE]` for every panel of one row.
///
/// # Safety
/// NEON present.
#[inline(always)]
unsafe fn fma_lane<const NP: usize, const LANE: i32>(
    acc: &mut [float32x4_t; NP],
    w: &[float32x4_t; NP],
    a: float32x4_t,
) {
    for (sum, &wq) in acc.iter_mut().zip(w) {
        // SAFETY: NEON present (caller).
        *sum = unsafe { vfmaq_laneq_f32::<LANE>(*sum, wq, a) };
    }
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job, over its `k` block.
///
/// # Safety
/// NEON present; `job` keeps the [`GroupJob`] contract with `job.rows == MR` and
/// `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile<const MR: usize, const NP: usize>(job: &GroupJob, q0: usize) {
    // SAFETY: every pointer below stays in the ranges of the GroupJob contract: rows i < MR of A
    // with p < kc (the 4-step loads only while p + 4 <= kc, inside one 16-step chunk since p is
    // a multiple of 4); panels q0 + q < job.panels with p < kc; scratch entries of panels
    // q0 + q < job.panels for rows i < MR; C and bias columns limited to `cols`.
    unsafe {
        let mut acc = [[vdupq_n_f32(0.0); NP]; MR];
        let scratch = job.scratch.add(q0 * MR * PANEL);
        if job.resume {
            for (i, row) in acc.iter_mut().enumerate() {
                for (q, sum) in row.iter_mut().enumerate() {
                    *sum = vld1q_f32(scratch.add((q * MR + i) * PANEL));
                }
            }
        }

        let w = job.w.add(q0 * job.panel_stride);
        let weights = |p: usize| {
            let mut wv = [vdupq_n_f32(0.0); NP];
            for (q, v) in wv.iter_mut().enumerate() {
                *v = vld1q_f32(w.add(q * job.panel_stride + p * PANEL));
            }
            wv
        };
        // Step p of row i of A is at `chunk(p) + i * 16 + p % 16`.
        let a_at = |p: usize| job.a.add((p / A_CHUNK) * MR * A_CHUNK + p % A_CHUNK);
        let mut p = 0;
        while p + 4 <= job.kc {
            let a = a_at(p);
            let mut av = [vdupq_n_f32(0.0); MR];
            for (i, v) in av.iter_mut().enumerate() {
                *v = vld1q_f32(a.add(i * A_CHUNK));
            }
            let wv = weights(p);
            for (row, &a) in acc.iter_mut().zip(&av) {
                fma_lane::<NP, 0>(row, &wv, a);
            }
            let wv = weights(p + 1);
            for (row, &a) in acc.iter_mut().zip(&av) {
                fma_lane::<NP, 1>(row, &wv, a);
            }
            let wv = weights(p + 2);
            for (row, &a) in acc.iter_mut().zip(&av) {
                fma_lane::<NP, 2>(row, &wv, a);
            }
            let wv = weights(p + 3);
            for (row, &a) in acc.iter_mut().zip(&av) {
                fma_lane::<NP, 3>(row, &wv, a);
            }
            p += 4;
        }
        while p < job.kc {
            let a = a_at(p);
            let wv = weights(p);
            for (i, row) in acc.iter_mut().enumerate() {
                let av = vld1q_dup_f32(a.add(i * A_CHUNK));
                for (sum, &wq) in row.iter_mut().zip(&wv) {
                    *sum = vfmaq_f32(*sum, wq, av);
                }
            }
            p += 1;
        }

        let Store::Output {
            c,
            ldc,
            bias,
            finish,
        } = job.store
        else {
            for (i, row) in acc.iter().enumerate() {
                for (q, &sum) in row.iter().enumerate() {
                    vst1q_f32(scratch.add((q * MR + i) * PANEL), sum);
                }
            }
            return;
        };

        // The epilogue walks the tile with run-time indices; reading the sums back from a plain
        // array keeps `acc` itself in registers through the FMA loop (as on the x86 paths).
        let mut sums = [[[0.0f32; PANEL]; NP]; MR];
        for (row, sums_row) in acc.iter().zip(sums.iter_mut()) {
            for (&sum, out) in row.iter().zip(sums_row.iter_mut()) {
                vst1q_f32(out.as_mut_ptr(), sum);
            }
        }
        let col0 = q0 * PANEL;
        for q in 0..NP {
            let col = col0 + q * PANEL;
            if col >= job.cols {
                break;
            }
            let valid = (job.cols - col).min(PANEL);
            for (i, row) in sums.iter().enumerate() {
                finish_panel(&row[q], c.add(i * ldc + col), bias, col, valid, finish);
            }
        }
        if finish == Finish::BiasGelu && col0 < job.cols {
            let width = (NP * PANEL).min(job.cols - col0);
            for i in 0..MR {
                gelu_row(c.add(i * ldc + col0), width);
            }
        }
    }
}

/// Writes one row's sums for a panel's first `valid` columns (all four in one vector when
/// `valid == 4`) through the epilogue, GELU aside (the caller runs it over the whole tile): `dst`
/// is `C[row, col]`, `bias` the bias at column 0 (read at `col`; null for [`Finish::Plain`]).
/// Shared with the int8 tiles, which arrive here with dequantised sums.
///
/// # Safety
/// NEON present; `dst` valid for `valid` reads and writes, and `bias` (unless
/// [`Finish::Plain`]) for `valid` reads at `col`.
#[inline(always)]
pub(crate) unsafe fn finish_panel(
    sums: &[f32; PANEL],
    dst: *mut f32,
    bias: *const f32,
    col: usize,
    valid: usize,
    finish: Finish,
) {
    // SAFETY: the caller guarantees the ranges and the ISA.
    unsafe {
        if valid == PANEL {
            let sum = vld1q_f32(sums.as_ptr());
            let out = match finish {
                Finish::Plain => sum,
                Finish::Bias | Finish::BiasGelu => vaddq_f32(sum, vld1q_f32(bias.add(col))),
                Finish::BiasResidual => {
                    let b = vld1q_f32(bias.add(col));
                    vaddq_f32(vld1q_f32(dst), vaddq_f32(sum, b))
                }
            };
            vst1q_f32(dst, out);
        } else {
            for (l, &sum) in sums.iter().enumerate().take(valid) {
                let out = dst.add(l);
                *out = match finish {
                    Finish::Plain => sum,
                    Finish::Bias | Finish::BiasGelu => sum + *bias.add(col + l),
                    Finish::BiasResidual => *out + (sum + *bias.add(col + l)),
                };
            }
        }
    }
}

/// GELU in place over `len` floats at `row`, while they are hot in L1.
///
/// # Safety
/// NEON present; `row` valid for `len` reads and writes, aliased by nothing live.
#[inline(never)]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn gelu_row(row: *mut f32, len: usize) {
    // SAFETY: the caller guarantees the range and the ISA.
    unsafe {
        crate::activation::simd::gelu::<NeonF32>(std::slice::from_raw_parts_mut(row, len));
    }
}
