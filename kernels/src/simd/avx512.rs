//! [`F32Vector`] for AVX-512 F: 16 floats in a `__m512`.

use std::arch::x86_64::*;

use super::F32Vector;

/// Sixteen f32 lanes. Only built inside AVX-512 kernels.
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32(pub(crate) __m512);

/// Bit `i` set when `i < n` (n < 16).
#[inline(always)]
fn lane_mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

// SAFETY: every method uses AVX-512 F intrinsics only (plus SSE for the final reductions), and
// the dispatch builds AVX-512 kernels only after detecting AVX-512 F/BW/VL.
unsafe impl F32Vector for Avx512F32 {
    const LANES: usize = 16;
    const REGISTERS: usize = 32;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_set1_ps(value) })
    }
    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        // SAFETY: the caller guarantees 16 readable floats.
        Avx512F32(unsafe { _mm512_loadu_ps(src) })
    }
    #[inline(always)]
    unsafe fn load_partial(src: *const f32, n: usize, fill: f32) -> Self {
        // SAFETY: masked-off lanes are not read; the caller guarantees n readable floats.
        Avx512F32(unsafe { _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lane_mask(n), src) })
    }
    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        // SAFETY: the caller guarantees 16 writable floats.
        unsafe { _mm512_storeu_ps(dst, self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, dst: *mut f32, n: usize) {
        // SAFETY: masked-off lanes are not written; the caller guarantees n writable floats.
        unsafe { _mm512_mask_storeu_ps(dst, lane_mask(n), self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_add_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_sub_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_mul_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn div(self, other: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_div_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_max_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn min(self, other: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_min_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe { _mm512_abs_ps(self.0) })
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        Avx512F32(unsafe {
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0)
        })
    }
    #[inline(always)]
    unsafe fn pow2i(self) -> Self {
        // SAFETY: AVX-512 F present (trait contract); lanes hold integers in [-126, 127].
        unsafe {
            let n = _mm512_cvtps_epi32(self.0);
            let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(n, _mm512_set1_epi32(127)));
            Avx512F32(_mm512_castsi512_ps(bits))
        }
    }
    #[inline(always)]
    unsafe fn select_non_negative(self, if_non_negative: Self, if_negative: Self) -> Self {
        // SAFETY: AVX-512 F present (trait contract).
        unsafe {
            let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self.0, _mm512_setzero_ps());
            Avx512F32(_mm512_mask_blend_ps(
                negative,
                if_non_negative.0,
                if_negative.0,
            ))
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(self) -> f32 {
        // SAFETY: AVX-512 F present (trait contract).
        unsafe { _mm512_reduce_add_ps(self.0) }
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        // SAFETY: AVX-512 F present (trait contract).
        unsafe { _mm512_reduce_max_ps(self.0) }
    }
}
