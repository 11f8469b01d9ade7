//! NEON int8 tiles: 4-column panels, steps of 4 `k` values (16 bytes, one register per panel
//! and step), for two paths that share the layout and differ in the dot step:
//! - **dotprod** (FEAT_DotProd: Cortex-A55/A76 and later, e.g. Raspberry Pi 5, Graviton 2+):
//!   `sdot v.4s, w.16b, a.4b[lane]`, four products per lane, the activation row taken from one
//!   lane of a register that holds four rows' step (no broadcast);
//! - **plain NEON** (Cortex-A53/A72, e.g. Raspberry Pi 3/4): the same sums by widening:
//!   `smull`/`smull2` multiply the panel's 16 weight bytes by the row's 4 bytes (repeated) into
//!   i16 (each product at most 128 x 127 in magnitude, so exact), and `sadalp` adds adjacent
//!   pairs into i32 lanes; two such half-sums per column meet in one `addp` at the end.
//!
//! `sdot` multiplies signed by signed, so this path stores each activation as `u - 128` (`u` the
//! u8 value every path computes) and puts `128 Σ_p q[j,p]` back when dequantising: in exact
//! (wrapping) i32, so the sums, and so the results before GELU, equal the other paths' bits.
//!
//! `vdotq_s32` is still unstable in Rust, so `sdot` is written as inline assembly, inside
//! functions compiled with the `dotprod` feature and reachable only after detecting it.

use std::arch::aarch64::*;
use std::arch::asm;

use super::driver::{self, Int8Tiles, Job};
use super::{QuantizedWeights, RowQuant};
use crate::gemm::tile::{store_tile, TileSums};
use crate::gemm::{Epilogue, Output};
use crate::simd::neon::NeonF32;

pub(crate) const PANEL: usize = 4;

/// # Safety
/// The [`Output`] contract; the CPU has NEON (the dispatch hands this entry out only then).
pub(crate) unsafe fn qgemm(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    #[target_feature(enable = "neon")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: NEON is enabled here; `w` was packed by this path (the public wrapper checks
        // `w.isa`), so in 4-wide panels; the caller keeps the output contract.
        unsafe { driver::qgemm::<Neon<false>>(a, m, w, epilogue, out) }
    }
    // SAFETY: reachable only through the NEON kernel table, handed out only on aarch64 after
    // the dispatch detected NEON.
    unsafe { with_features(a, m, w, epilogue, out) }
}

/// # Safety
/// The [`Output`] contract; the CPU has NEON and the dot-product extension (the dispatch hands
/// this entry out only then).
pub(crate) unsafe fn qgemm_dotprod(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn with_features(
        a: &[f32],
        m: usize,
        w: &QuantizedWeights,
        epilogue: Epilogue<'_>,
        out: Output,
    ) {
        // SAFETY: as in `qgemm`, with the dot-product extension enabled too.
        unsafe { driver::qgemm::<Neon<true>>(a, m, w, epilogue, out) }
    }
    // SAFETY: reachable only through the NEON dotprod kernel table, handed out only after the
    // dispatch detected NEON and FEAT_DotProd.
    unsafe { with_features(a, m, w, epilogue, out) }
}

/// The NEON tiles, with `sdot` when `DOT`, widening otherwise.
struct Neon<const DOT: bool>;

// SAFETY: `quantize` and `row_group` access memory only within their contracts, and are only
// compiled into the entry points above (`sdot` only into `qgemm_dotprod`).
unsafe impl<const DOT: bool> Int8Tiles for Neon<DOT> {
    const PANEL: usize = PANEL;
    const MR: usize = if DOT { 8 } else { 4 };

    #[inline(always)]
    unsafe fn quantize(
        a: *const f32,
        smooth: *const f32,
        k: usize,
        rows: usize,
        packed: *mut u8,
        params: &mut [RowQuant],
    ) {
        // SAFETY: the trait contract: rows x k readable floats, `smooth` null or k floats, the
        // block writable for k.div_ceil(4) * rows * 4 bytes; NEON present.
        unsafe {
            for (i, param) in params.iter_mut().enumerate().take(rows) {
                let row = a.add(i * k);
                let full = k / 4 * 4;
                let value4 = |p: usize| {
                    let x = vld1q_f32(row.add(p));
                    if smooth.is_null() {
                        x
                    } else {
                        vmulq_f32(x, vld1q_f32(smooth.add(p)))
                    }
                };
                let value = |p: usize| {
                    let x = *row.add(p);
                    if smooth.is_null() {
                        x
                    } else {
                        x * *smooth.add(p)
                    }
                };
                // Minimum and maximum are exact in any order, and `fminnm`/`fmaxnm` ignore NaN
                // as `f32::min`/`max` do, so the parameters equal the scalar quantiser's.
                let (mut lo4, mut hi4) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
                for p in (0..full).step_by(4) {
                    let x = value4(p);
                    lo4 = vminnmq_f32(lo4, x);
                    hi4 = vmaxnmq_f32(hi4, x);
                }
                let (mut lo, mut hi) = (vminnmvq_f32(lo4), vmaxnmvq_f32(hi4));
                for p in full..k {
                    lo = lo.min(value(p));
                    hi = hi.max(value(p));
                }
                let q = RowQuant::for_range(lo, hi);
                *param = q;
                let (inv, zero) = (vdupq_n_f32(q.inv), vdupq_n_f32(q.zero as f32));
                let (floor, ceil) = (vdupq_n_f32(0.0), vdupq_n_f32(255.0));
                let stride = rows * 4;
                let dst = packed.add(i * 4);
                for p in (0..full).step_by(4) {
                    // u = clamp(round_even(x · inv) + zero, 0, 255), as `RowQuant::quantize`.
                    let x = vrndnq_f32(vmulq_f32(value4(p), inv));
                    let x = vminq_f32(vmaxq_f32(vaddq_f32(x, zero), floor), ceil);
                    let ints = vcvtq_u32_f32(x);
                    let halves = vmovn_u32(ints);
                    let bytes = vmovn_u16(vcombine_u16(halves, halves));
                    let u = vget_lane_u32::<0>(vreinterpret_u32_u8(bytes));
                    dst.add((p / 4) * stride)
                        .cast::<u32>()
                        .write_unaligned(u ^ 0x8080_8080);
                }
                // The tail, and `u = 0` (stored as -128) up to the last whole step: the
                // padded weights there are 0, so those products vanish either way.
                for p in full..k.div_ceil(4) * 4 {
                    let u = if p < k { q.quantize(value(p)) } else { 0 };
                    *dst.add((p / 4) * stride + p % 4) = u ^ 0x80;
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn row_group(job: &Job<'_>) {
        // SAFETY (every arm): the caller keeps the job contract and guarantees the ISA.
        unsafe {
            if DOT {
                match job.rows {
                    1 => group::<DOT, 1, 8>(job),
                    2 => group::<DOT, 2, 6>(job),
                    3 => group::<DOT, 3, 4>(job),
                    4 => group::<DOT, 4, 4>(job),
                    5 => group::<DOT, 5, 3>(job),
                    6 => group::<DOT, 6, 3>(job),
                    7 => group::<DOT, 7, 3>(job),
                    8 => group::<DOT, 8, 3>(job),
                    _ => unreachable!("int8 row group of {} rows", job.rows),
                }
            } else {
                match job.rows {
                    1 => group::<DOT, 1, 4>(job),
                    2 => group::<DOT, 2, 3>(job),
                    3 => group::<DOT, 3, 2>(job),
                    4 => group::<DOT, 4, 2>(job),
                    _ => unreachable!("int8 row group of {} rows", job.rows),
                }
            }
        }
    }
}

/// The group's panels, `NP` at a time, then one at a time.
///
/// # Safety
/// NEON present (and dotprod when `DOT`); `job` keeps the [`Job`] contract with
/// `job.rows == MR`.
#[inline(always)]
unsafe fn group<const DOT: bool, const MR: usize, const NP: usize>(job: &Job<'_>) {
    let mut q = 0;
    // SAFETY (both loops): tiles at panels q..q+NP (resp. q) < job.panels, within the contract.
    unsafe {
        while q + NP <= job.panels {
            if DOT {
                tile_dot::<MR, NP>(job, q);
            } else {
                tile_widening::<MR, NP>(job, q);
            }
            q += NP;
        }
        while q < job.panels {
            if DOT {
                tile_dot::<MR, 1>(job, q);
            } else {
                tile_widening::<MR, 1>(job, q);
            }
            q += 1;
        }
    }
}

/// `acc + Σ_t w[4l + t] · a[4 LANE + t]` per i32 lane `l`: `sdot` by element.
///
/// # Safety
/// NEON and FEAT_DotProd present (only inlined into the `dotprod` entry point).
#[inline(always)]
unsafe fn sdot_lane<const LANE: i32>(acc: int32x4_t, w: int8x16_t, a: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only arithmetic; the caller guarantees the dot-product extension.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {a:v}.4b[{lane}]",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            a = in(vreg) a,
            lane = const LANE,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// Every panel of one row: `acc[q] += sdot(w[q], a.4b[LANE])`.
///
/// # Safety
/// As [`sdot_lane`].
#[inline(always)]
unsafe fn sdot_row<const NP: usize, const LANE: i32>(
    acc: &mut [int32x4_t; NP],
    w: &[int8x16_t; NP],
    a: int8x16_t,
) {
    for (sum, &wq) in acc.iter_mut().zip(w) {
        // SAFETY: the caller guarantees the ISA.
        *sum = unsafe { sdot_lane::<LANE>(*sum, wq, a) };
    }
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job, with `sdot`.
///
/// # Safety
/// NEON and dotprod present; `job` keeps the [`Job`] contract with `job.rows == MR` and
/// `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile_dot<const MR: usize, const NP: usize>(job: &Job<'_>, q0: usize) {
    // SAFETY: weight loads stay in panels q0 + q < job.panels, steps s < job.steps. A step's
    // rows are `MR * 4` bytes at `a + s * MR * 4`; the 16-byte loads of rows 0-3 (and 4-7 when
    // MR > 4) may read up to 12 bytes past them (at most `(steps - 1) * MR * 4 + 32` bytes in
    // all), which the Job contract keeps readable up to `steps * 8 * 4` bytes (this path's
    // group size is 8) and which is never used: only lanes below MR feed a sum. Output columns
    // are limited to `job.cols`.
    unsafe {
        let mut acc = [[vdupq_n_s32(0); NP]; MR];
        let w = job.w.add(q0 * job.panel_stride);
        for s in 0..job.steps {
            let a = job.a.add(s * MR * 4).cast::<i8>();
            let low = vld1q_s8(a);
            let high = if MR > 4 { vld1q_s8(a.add(16)) } else { low };
            let mut wv = [vdupq_n_s8(0); NP];
            for (q, v) in wv.iter_mut().enumerate() {
                *v = vld1q_s8(w.add(q * job.panel_stride + s * PANEL * 4));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                match i {
                    0 => sdot_row::<NP, 0>(row, &wv, low),
                    1 => sdot_row::<NP, 1>(row, &wv, low),
                    2 => sdot_row::<NP, 2>(row, &wv, low),
                    3 => sdot_row::<NP, 3>(row, &wv, low),
                    4 => sdot_row::<NP, 0>(row, &wv, high),
                    5 => sdot_row::<NP, 1>(row, &wv, high),
                    6 => sdot_row::<NP, 2>(row, &wv, high),
                    _ => sdot_row::<NP, 3>(row, &wv, high),
                }
            }
        }
        finish_tile::<MR, NP>(job, q0, &acc);
    }
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job, by widening to i16.
///
/// # Safety
/// NEON present; `job` keeps the [`Job`] contract with `job.rows == MR` and
/// `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile_widening<const MR: usize, const NP: usize>(job: &Job<'_>, q0: usize) {
    // SAFETY: weight loads stay in panels q0 + q < job.panels, steps s < job.steps; activation
    // reads are row i < MR's 4 bytes of step s. Output columns are limited to `job.cols`.
    unsafe {
        // Per row and panel: columns 0-1 and 2-3, each lane half a column's sum.
        let mut low = [[vdupq_n_s32(0); NP]; MR];
        let mut high = [[vdupq_n_s32(0); NP]; MR];
        let w = job.w.add(q0 * job.panel_stride);
        for s in 0..job.steps {
            let a = job.a.add(s * MR * 4);
            let mut wv = [vdupq_n_s8(0); NP];
            for (q, v) in wv.iter_mut().enumerate() {
                *v = vld1q_s8(w.add(q * job.panel_stride + s * PANEL * 4));
            }
            for i in 0..MR {
                let bytes = a.add(i * 4).cast::<u32>().read_unaligned();
                let av = vreinterpretq_s8_u32(vdupq_n_u32(bytes));
                for q in 0..NP {
                    let products_low = vmull_s8(vget_low_s8(wv[q]), vget_low_s8(av));
                    let products_high = vmull_high_s8(wv[q], av);
                    low[i][q] = vpadalq_s16(low[i][q], products_low);
                    high[i][q] = vpadalq_s16(high[i][q], products_high);
                }
            }
        }
        let mut acc = [[vdupq_n_s32(0); NP]; MR];
        for i in 0..MR {
            for q in 0..NP {
                acc[i][q] = vpaddq_s32(low[i][q], high[i][q]);
            }
        }
        finish_tile::<MR, NP>(job, q0, &acc);
    }
}

/// Dequantises a tile's sums (as `super::dequantize` does, with the `u - 128` offset put
/// back), then the epilogue.
///
/// # Safety
/// NEON present; `job` keeps the [`Job`] contract with `job.rows == MR` and
/// `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn finish_tile<const MR: usize, const NP: usize>(
    job: &Job<'_>,
    q0: usize,
    acc: &[[int32x4_t; NP]; MR],
) {
    // SAFETY: column sums and scales are read for panels q0 + q < job.panels (padded to whole
    // panels); C and bias within `job.cols` columns of rows i < MR.
    unsafe {
        let mut sums = TileSums::new();
        for q in 0..NP {
            let col = (q0 + q) * PANEL;
            let col_sums = vld1q_s32(job.col_sums.add(col));
            let scales = vld1q_f32(job.scales.add(col));
            for (i, row) in acc.iter().enumerate() {
                let p = job.params[i];
                // acc_u8 - zero·colsum = acc_s8 + 128·colsum - zero·colsum.
                let fix = vmulq_s32(vdupq_n_s32(p.zero.wrapping_sub(128)), col_sums);
                let exact = vcvtq_f32_s32(vsubq_s32(row[q], fix));
                let scale = vmulq_f32(vdupq_n_f32(p.scale), scales);
                vst1q_f32(sums.at(MR, NP, PANEL, i, q), vmulq_f32(exact, scale));
            }
        }
        let col0 = q0 * PANEL;
        store_tile::<NeonF32, MR, NP>(&sums, job.c, job.ldc, job.bias, col0, job.cols, job.finish);
    }
}
