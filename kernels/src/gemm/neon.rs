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

use super::blocked::{self, GroupJob, Microkernels};
use super::tile::{group, TileVector};
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

/// Rows and columns of the main tile (large `m`).
pub(crate) const MAIN_TILE: (usize, usize) = (<NeonTiles as Microkernels>::MR, 2 * PANEL);

// SAFETY: `row_group` dispatches `rows` in 1..=8 to tiles that access memory only within the
// `GroupJob` contract, and it is only compiled into NEON entry points.
unsafe impl Microkernels for NeonTiles {
    const PANEL: usize = PANEL;
    const MR: usize = 8;
    const MAX_GROUP_ROWS: usize = 8;

    #[inline(always)]
    unsafe fn row_group(job: &GroupJob) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees NEON.
        unsafe {
            match job.rows {
                1 => group::<NeonF32, 1, 8>(job),
                2 => group::<NeonF32, 2, 6>(job),
                3 => group::<NeonF32, 3, 4>(job),
                4 => group::<NeonF32, 4, 4>(job),
                5 => group::<NeonF32, 5, 3>(job),
                6 => group::<NeonF32, 6, 3>(job),
                7 => group::<NeonF32, 7, 2>(job),
                8 => group::<NeonF32, 8, 2>(job),
                _ => unreachable!("row group of {} rows", job.rows),
            }
        }
    }
}

// SAFETY: every method uses NEON intrinsics only, like `NeonF32` itself, and the dispatch
// builds NEON kernels only on aarch64 after detecting NEON.
unsafe impl TileVector for NeonF32 {
    const A_STEPS: usize = 4;
    const HAS_PREFETCH: bool = false;

    #[inline(always)]
    unsafe fn load_a(src: *const f32) -> Self {
        // SAFETY: the caller guarantees four readable floats (four steps of one row).
        NeonF32(unsafe { vld1q_f32(src) })
    }
    #[inline(always)]
    unsafe fn fma_step<const STEP: i32>(acc: Self, w: Self, a: Self) -> Self {
        // SAFETY: NEON present (trait contract); STEP < 4 (the tile's contract).
        NeonF32(unsafe { vfmaq_laneq_f32::<STEP>(acc.0, w.0, a.0) })
    }
    #[inline(always)]
    unsafe fn prefetch(_ptr: *const f32) {}
    #[inline(always)]
    unsafe fn gelu_row(row: *mut f32, len: usize) {
        // SAFETY: the caller guarantees the range and the ISA.
        unsafe { gelu_row(row, len) }
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
