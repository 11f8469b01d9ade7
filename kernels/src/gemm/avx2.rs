//! AVX2 + FMA GEMM tiles: 8-column weight panels (one ymm per step), `MR x NP` panels per tile.
//!
//! The main tile is 6 rows x 2 panels (16 columns): 12 ymm accumulators, 2 for the weight
//! vectors and 1 for the broadcast of `A` — 15 of the 16 registers; per `k` step 12 FMAs against
//! 2 weight loads and 6 broadcasts. Groups of other heights (the `m` remainder, and `m <= 8` as
//! one group) take as many panels as keep 7 to 12 accumulators; a single row's 8 weight vectors
//! each feed one FMA as its memory operand, so they need no registers. `kernels/DESIGN.md` has
//! the figures.

use std::arch::x86_64::*;

use super::blocked::{self, GroupJob, Microkernels};
use super::tile::{group, TileVector};
use super::{Epilogue, Output, PackedWeights};
use crate::simd::avx2::Avx2F32;
use crate::Isa;

const PANEL: usize = 8;

pub(crate) fn pack_weights(
    rows: &mut dyn FnMut(usize, &mut [f32]),
    n: usize,
    k: usize,
) -> PackedWeights {
    super::pack_panels(rows, n, k, PANEL, Isa::Avx2)
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
    #[target_feature(enable = "avx2,fma")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &PackedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: the features are enabled on this function (below); `w` was packed by this
        // path's `pack_weights` (the public wrapper checks `w.isa`), so in 8-wide panels; the
        // caller keeps the output contract.
        unsafe { blocked::gemm::<Avx2Tiles>(a, m, w, epilogue, out) }
    }
    // SAFETY: this entry point is reachable only through the AVX2 kernel table, which the
    // dispatch hands out only after `Avx2Fma::detect()` found AVX2 and FMA on the CPU.
    unsafe { with_features(a, m, w, epilogue, out) }
}

struct Avx2Tiles;

/// Rows and columns of the main tile (large `m`).
pub(crate) const MAIN_TILE: (usize, usize) = (<Avx2Tiles as Microkernels>::MR, 2 * PANEL);

// SAFETY: `row_group` dispatches `rows` in 1..=8 to tiles that access memory only within the
// `GroupJob` contract, and it is only compiled into AVX2 + FMA entry points.
unsafe impl Microkernels for Avx2Tiles {
    const PANEL: usize = PANEL;
    const MR: usize = 6;
    const MAX_GROUP_ROWS: usize = 8;

    #[inline(always)]
    unsafe fn row_group(job: &GroupJob) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees AVX2 + FMA.
        unsafe {
            match job.rows {
                1 => group::<Avx2F32, 1, 8>(job),
                2 => group::<Avx2F32, 2, 4>(job),
                3 => group::<Avx2F32, 3, 3>(job),
                4 => group::<Avx2F32, 4, 2>(job),
                5 => group::<Avx2F32, 5, 2>(job),
                6 => group::<Avx2F32, 6, 2>(job),
                7 => group::<Avx2F32, 7, 1>(job),
                8 => group::<Avx2F32, 8, 1>(job),
                _ => unreachable!("row group of {} rows", job.rows),
            }
        }
    }
}

// SAFETY: every method uses AVX/AVX2/FMA intrinsics only, like `Avx2F32` itself, and the
// dispatch builds AVX2 kernels only after detecting AVX2 and FMA.
unsafe impl TileVector for Avx2F32 {
    const A_STEPS: usize = 1;
    const HAS_PREFETCH: bool = true;

    #[inline(always)]
    unsafe fn load_a(src: *const f32) -> Self {
        // SAFETY: the caller guarantees one readable float (a `vbroadcastss` from memory).
        Avx2F32(unsafe { _mm256_set1_ps(*src) })
    }
    #[inline(always)]
    unsafe fn fma_step<const STEP: i32>(acc: Self, w: Self, a: Self) -> Self {
        // SAFETY: FMA present (trait contract).
        Avx2F32(unsafe { _mm256_fmadd_ps(a.0, w.0, acc.0) })
    }
    #[inline(always)]
    unsafe fn prefetch(ptr: *const f32) {
        // SAFETY: a prefetch is a hint and never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.cast()) }
    }
    #[inline(always)]
    unsafe fn gelu_row(row: *mut f32, len: usize) {
        // SAFETY: the caller guarantees the range and the ISA.
        unsafe { gelu_row(row, len) }
    }
}

/// GELU in place over `len` floats at `row`, while they are hot in L1.
///
/// # Safety
/// AVX2 + FMA present; `row` valid for `len` reads and writes, aliased by nothing live.
#[inline(never)]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn gelu_row(row: *mut f32, len: usize) {
    // SAFETY: the caller guarantees the range and the ISA.
    unsafe {
        crate::activation::simd::gelu::<Avx2F32>(std::slice::from_raw_parts_mut(row, len));
    }
}
