//! AVX-512 GEMM tiles: 16-column weight panels (one zmm per step), `MR x NP` panels per tile.
//!
//! The main tile is 14 rows x 2 panels (32 columns): 28 zmm accumulators, 2 for the weight
//! vectors and 1 for the broadcast of `A` — 31 of the 32 registers. Per `k` step it issues
//! 28 FMAs (14 cycles on two FMA ports) against 2 weight loads and 14 broadcasts, and reads
//! 128 bytes of weights per 28 FMAs, which L2 sustains. Groups of other heights (the `m`
//! remainder, `m <= 14` as one group, and 15 or 16 rows as two groups of 8 that share each
//! weight block through L2) take as many panels as keep 8 to 28 accumulators: at least the 8
//! independent chains that hide the FMA latency (4 cycles, 2 ports), even for a single row.
//! `kernels/DESIGN.md` has the figures.

use std::arch::x86_64::*;

use super::blocked::{self, Finish, GroupJob, Microkernels, Store, A_CHUNK};
use super::{Epilogue, Output, PackedWeights};
use crate::simd::avx512::Avx512F32;
use crate::Isa;

const PANEL: usize = 16;

pub(crate) fn pack_weights(
    rows: &mut dyn FnMut(usize, &mut [f32]),
    n: usize,
    k: usize,
) -> PackedWeights {
    super::pack_panels(rows, n, k, PANEL, Isa::Avx512)
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
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &PackedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: the features are enabled on this function (below); `w` was packed by this
        // path's `pack_weights` (the public wrapper checks `w.isa`), so in 16-wide panels; the
        // caller keeps the output contract.
        unsafe { blocked::gemm::<Avx512Tiles>(a, m, w, epilogue, out) }
    }
    // SAFETY: this entry point is reachable only through the AVX-512 kernel table, which the
    // dispatch hands out only after `Avx512::detect()` found these features on the CPU.
    unsafe { with_features(a, m, w, epilogue, out) }
}

struct Avx512Tiles;

// SAFETY: `row_group` dispatches `rows` in 1..=14 to tiles that access memory only within the
// `GroupJob` contract, and it is only compiled into AVX-512 entry points.
unsafe impl Microkernels for Avx512Tiles {
    const PANEL: usize = PANEL;
    const MR: usize = 14;
    const MAX_GROUP_ROWS: usize = 14;
    const KC: usize = 256;
    const W_BLOCK_BYTES: usize = 1 << 20;
    const A_BLOCK_BYTES: usize = 512 << 10;

    #[inline(always)]
    unsafe fn row_group(job: &GroupJob) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees AVX-512.
        unsafe {
            match job.rows {
                1 => group::<1, 8>(job),
                2 => group::<2, 8>(job),
                3 => group::<3, 6>(job),
                4 => group::<4, 6>(job),
                5 => group::<5, 4>(job),
                6 => group::<6, 4>(job),
                7 => group::<7, 3>(job),
                8 => group::<8, 3>(job),
                9 => group::<9, 3>(job),
                10 => group::<10, 2>(job),
                11 => group::<11, 2>(job),
                12 => group::<12, 2>(job),
                13 => group::<13, 2>(job),
                14 => group::<14, 2>(job),
                _ => unreachable!("row group of {} rows", job.rows),
            }
        }
    }
}

/// The group's panels, `NP` at a time, then one at a time.
///
/// # Safety
/// AVX-512 present; `job` keeps the [`GroupJob`] contract with `job.rows == MR`.
#[inline(always)]
unsafe fn group<const MR: usize, const NP: usize>(job: &GroupJob) {
    debug_assert_eq!(job.rows, MR);
    let mut q = 0;
    // SAFETY (both loops): tiles at panels q..q+NP (resp. q) < job.panels, within the contract.
    unsafe {
        while q + NP <= job.panels {
            if job.prefetch {
                tile::<MR, NP, true>(job, q);
            } else {
                tile::<MR, NP, false>(job, q);
            }
            q += NP;
        }
        while q < job.panels {
            if job.prefetch {
                tile::<MR, 1, true>(job, q);
            } else {
                tile::<MR, 1, false>(job, q);
            }
            q += 1;
        }
    }
}

/// Weight steps a tile prefetches ahead of its loads (32 steps of one cache line: 2 KiB per
/// panel), when its group is the first to read the weight block ([`GroupJob::prefetch`]): the
/// weights then come from L3 or DRAM, and a tile has only `NP` streams in flight, too few for
/// the hardware prefetchers alone. With 48 MB of weights cycling (as in a forward pass), 12 rows
/// went from 48-51 to 55-82 GFLOP/s, and one short sentence end to end from 4.4-5.3 to
/// 3.6-4.0 ms. Later groups find the block in L2 and gain nothing from it.
const PREFETCH_STEPS: usize = 32;
/// Tiles with more panels than this (1-4 rows) already keep enough streams in flight, and the
/// extra instructions cost them when the weights sit in L2.
const PREFETCH_MAX_PANELS: usize = 4;

/// Lanes `0..valid` of a panel (valid in 1..=16).
#[inline(always)]
fn column_mask(valid: usize) -> __mmask16 {
    (u32::MAX >> (32 - valid.min(PANEL))) as __mmask16
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job, over its `k` block; with `PREFETCH`,
/// prefetching the panels' weights [`PREFETCH_STEPS`] ahead (tiles of at most
/// [`PREFETCH_MAX_PANELS`] panels).
///
/// # Safety
/// AVX-512 present; `job` keeps the [`GroupJob`] contract with `job.rows == MR` and
/// `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile<const MR: usize, const NP: usize, const PREFETCH: bool>(job: &GroupJob, q0: usize) {
    // SAFETY: every pointer below stays in the ranges of the GroupJob contract: rows i < MR of A
    // with p < kc; panels q0 + q < job.panels with p < kc; scratch entries of panels
    // q0 + q < job.panels for rows i < MR; C and bias columns masked to `cols` (`valid` lanes).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NP]; MR];
        let scratch = job.scratch.add(q0 * MR * PANEL);
        if job.resume {
            for (i, row) in acc.iter_mut().enumerate() {
                for (q, sum) in row.iter_mut().enumerate() {
                    *sum = _mm512_loadu_ps(scratch.add((q * MR + i) * PANEL));
                }
            }
        }

        // Step p of k: row i of A at `chunk(p) + i * 16` (the packed chunks of 16 steps), so
        // the broadcasts are constant offsets from one pointer.
        let w = job.w.add(q0 * job.panel_stride);
        for p in 0..job.kc {
            if PREFETCH && NP <= PREFETCH_MAX_PANELS {
                for q in 0..NP {
                    // A hint, never dereferenced: past the buffer's end it is harmless, hence
                    // `wrapping_add`.
                    let step = p + PREFETCH_STEPS;
                    let ahead = w.wrapping_add(q * job.panel_stride + step * PANEL);
                    _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                }
            }
            let a = job.a.add((p / A_CHUNK) * MR * A_CHUNK + p % A_CHUNK);
            let mut wv = [_mm512_setzero_ps(); NP];
            for (q, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(w.add(q * job.panel_stride + p * PANEL));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(i * A_CHUNK));
                for (sum, &wq) in row.iter_mut().zip(&wv) {
                    *sum = _mm512_fmadd_ps(av, wq, *sum);
                }
            }
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
                    _mm512_storeu_ps(scratch.add((q * MR + i) * PANEL), sum);
                }
            }
            return;
        };

        // The epilogue walks the tile with run-time indices; reading the sums back from a plain
        // array keeps `acc` itself in registers through the FMA loop (indexing `acc` here made
        // the compiler keep it in memory, storing every accumulator on every step).
        let mut sums = [[[0.0f32; PANEL]; NP]; MR];
        for (row, sums_row) in acc.iter().zip(sums.iter_mut()) {
            for (&sum, out) in row.iter().zip(sums_row.iter_mut()) {
                _mm512_storeu_ps(out.as_mut_ptr(), sum);
            }
        }
        let col0 = q0 * PANEL;
        for q in 0..NP {
            let col = col0 + q * PANEL;
            let mask = column_mask(job.cols - col);
            let b = if finish == Finish::Plain {
                _mm512_setzero_ps()
            } else {
                _mm512_maskz_loadu_ps(mask, bias.add(col))
            };
            for (i, row) in sums.iter().enumerate() {
                let dst = c.add(i * ldc + col);
                let sum = _mm512_loadu_ps(row[q].as_ptr());
                let out = match finish {
                    Finish::Plain => sum,
                    Finish::Bias | Finish::BiasGelu => _mm512_add_ps(sum, b),
                    Finish::BiasResidual => {
                        let residual = _mm512_maskz_loadu_ps(mask, dst);
                        _mm512_add_ps(residual, _mm512_add_ps(sum, b))
                    }
                };
                _mm512_mask_storeu_ps(dst, mask, out);
            }
        }
        if finish == Finish::BiasGelu {
            let width = (NP * PANEL).min(job.cols - col0);
            for i in 0..MR {
                gelu_row(c.add(i * ldc + col0), width);
            }
        }
    }
}

/// GELU in place over `len` floats at `row`, while they are hot in L1.
///
/// # Safety
/// AVX-512 present; `row` valid for `len` reads and writes, aliased by nothing live.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
pub(crate) unsafe fn gelu_row(row: *mut f32, len: usize) {
    // SAFETY: the caller guarantees the range and the ISA.
    unsafe {
        crate::activation::simd::gelu::<Avx512F32>(std::slice::from_raw_parts_mut(row, len));
    }
}
