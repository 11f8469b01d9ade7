//! [`F32Vector`] for aarch64 Advanced SIMD (NEON): 4 floats in a `float32x4_t`.
//!
//! NEON is part of the aarch64 baseline, so every aarch64 CPU runs these; the kernels still go
//! through `#[target_feature(enable = "neon")]` entry points like the x86 paths.

use std::arch::aarch64::*;

use super::F32Vector;

/// Four f32 lanes. Only built inside NEON kernels.
#[derive(Clone, Copy)]
pub(crate) struct NeonF32(pub(crate) float32x4_t);

// SAFETY: every method uses NEON intrinsics only, and the dispatch builds NEON kernels only on
// aarch64, where NEON is always present (and is detected all the same).
unsafe impl F32Vector for NeonF32 {
    const LANES: usize = 4;
    const REGISTERS: usize = 32;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vdupq_n_f32(value) })
    }
    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        // SAFETY: the caller guarantees 4 readable floats.
        NeonF32(unsafe { vld1q_f32(src) })
    }
    #[inline(always)]
    unsafe fn load_partial(src: *const f32, n: usize, fill: f32) -> Self {
        // NEON has no masked load: the n floats go through a small array.
        let mut lanes = [fill; 4];
        // SAFETY: the caller guarantees n < 4 readable floats at src; `lanes` holds 4.
        unsafe {
            std::ptr::copy_nonoverlapping(src, lanes.as_mut_ptr(), n.min(4));
            NeonF32(vld1q_f32(lanes.as_ptr()))
        }
    }
    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        // SAFETY: the caller guarantees 4 writable floats.
        unsafe { vst1q_f32(dst, self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, dst: *mut f32, n: usize) {
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` holds 4 floats; the caller guarantees n < 4 writable floats at dst.
        unsafe {
            vst1q_f32(lanes.as_mut_ptr(), self.0);
            std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst, n.min(4));
        }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vaddq_f32(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vsubq_f32(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vmulq_f32(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn div(self, other: Self) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vdivq_f32(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vmaxq_f32(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn min(self, other: Self) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vminq_f32(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: NEON present (trait contract); `vfmaq_f32(c, a, b)` is `c + a * b`, fused.
        NeonF32(unsafe { vfmaq_f32(c.0, self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        // SAFETY: NEON present (trait contract).
        NeonF32(unsafe { vabsq_f32(self.0) })
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        // SAFETY: NEON present (trait contract); `frintn` rounds to nearest, ties to even.
        NeonF32(unsafe { vrndnq_f32(self.0) })
    }
    #[inline(always)]
    unsafe fn pow2i(self) -> Self {
        // SAFETY: NEON present (trait contract); lanes hold integers in [-126, 127].
        unsafe {
            let n = vcvtnq_s32_f32(self.0);
            let bits = vshlq_n_s32::<23>(vaddq_s32(n, vdupq_n_s32(127)));
            NeonF32(vreinterpretq_f32_s32(bits))
        }
    }
    #[inline(always)]
    unsafe fn select_non_negative(self, if_non_negative: Self, if_negative: Self) -> Self {
        // SAFETY: NEON present (trait contract). NaN compares false, as on x86 (`_CMP_LT_OQ`).
        unsafe {
            let negative = vcltzq_f32(self.0);
            NeonF32(vbslq_f32(negative, if_negative.0, if_non_negative.0))
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(self) -> f32 {
        // SAFETY: NEON present (trait contract).
        unsafe { vaddvq_f32(self.0) }
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        // SAFETY: NEON present (trait contract).
        unsafe { vmaxvq_f32(self.0) }
    }
}
