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

use super::blocked::{self, GroupJob, Microkernels};
use super::tile::{group, TileVector};
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

/// Rows and columns of the main tile (large `m`).
pub(crate) const MAIN_TILE: (usize, usize) = (<Avx512Tiles as Microkernels>::MR, 2 * PANEL);

// SAFETY: `row_group` dispatches `rows` in 1..=14 to tiles that access memory only within the
// `GroupJob` contract, and it is only compiled into AVX-512 entry points.
unsafe impl Microkernels for Avx512Tiles {
    const PANEL: usize = PANEL;
    const MR: usize = 14;
    const MAX_GROUP_ROWS: usize = 14;

    #[inline(always)]
    unsafe fn row_group(job: &GroupJob) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees AVX-512.
        unsafe {
            match job.rows {
                1 => group::<Avx512F32, 1, 8>(job),
                2 => group::<Avx512F32, 2, 8>(job),
                3 => group::<Avx512F32, 3, 6>(job),
                4 => group::<Avx512F32, 4, 6>(job),
                5 => group::<Avx512F32, 5, 4>(job),
                6 => group::<Avx512F32, 6, 4>(job),
                7 => group::<Avx512F32, 7, 3>(job),
                8 => group::<Avx512F32, 8, 3>(job),
                9 => group::<Avx512F32, 9, 3>(job),
                10 => group::<Avx512F32, 10, 2>(job),
                11 => group::<Avx512F32, 11, 2>(job),
                12 => group::<Avx512F32, 12, 2>(job),
                13 => group::<Avx512F32, 13, 2>(job),
                14 => group::<Avx512F32, 14, 2>(job),
                _ => unreachable!("row group of {} rows", job.rows),
            }
        }
    }
}

// SAFETY: every method uses AVX-512 F intrinsics only, like `Avx512F32` itself, and the
// dispatch builds AVX-512 kernels only after detecting AVX-512 F/BW/VL.
unsafe impl TileVector for Avx512F32 {
    const A_STEPS: usize = 1;
    const HAS_PREFETCH: bool = true;

    #[inline(always)]
    unsafe fn load_a(src: *const f32) -> Self {
        // SAFETY: the caller guarantees one readable float (folded into the FMA as an embedded
        // broadcast, `{1to16}`).
        Avx512F32(unsafe { _mm512_set1_ps(*src) })
    }
    #[inline(always)]
    unsafe fn fma_step<const STEP: i32>(acc: Self, w: Self, a: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_fmadd_ps(a.0, w.0, acc.0) })
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
/// AVX-512 present; `row` valid for `len` reads and writes, aliased by nothing live.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
pub(crate) unsafe fn gelu_row(row: *mut f32, len: usize) {
    // SAFETY: the caller guarantees the range and the ISA.
    unsafe {
        crate::activation::simd::gelu::<Avx512F32>(std::slice::from_raw_parts_mut(row, len));
    }
}
