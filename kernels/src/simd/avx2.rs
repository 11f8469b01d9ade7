//! [`F32Vector`] for AVX2 + FMA: 8 floats in a `__m256`.

use std::arch::x86_64::*;

use super::F32Vector;

/// Eight f32 lanes. Only built inside AVX2 + FMA kernels.
#[derive(Clone, Copy)]
pub(crate) struct Avx2F32(pub(crate) __m256);

/// Lane `i` all ones when `i < n`: the mask AVX2's masked loads and stores take.
#[inline(always)]
unsafe fn lane_mask(n: usize) -> __m256i {
    // SAFETY: AVX2 is present (trait contract).
    unsafe {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lanes)
    }
}

// SAFETY: every method uses AVX/AVX2/FMA intrinsics only, and the dispatch builds AVX2 kernels
// only after detecting AVX2 and FMA.
unsafe impl F32Vector for Avx2F32 {
    const LANES: usize = 8;
    const REGISTERS: usize = 16;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_set1_ps(value) })
    }
    #[inline(always)]
    unsafe fn load(src: *const f32) -> Self {
        // SAFETY: the caller guarantees 8 readable floats.
        Avx2F32(unsafe { _mm256_loadu_ps(src) })
    }
    #[inline(always)]
    unsafe fn load_partial(src: *const f32, n: usize, fill: f32) -> Self {
        // SAFETY: the masked load reads only the n lanes the caller guarantees readable.
        unsafe {
            let mask = lane_mask(n);
            let loaded = _mm256_maskload_ps(src, mask);
            Avx2F32(_mm256_blendv_ps(
                _mm256_set1_ps(fill),
                loaded,
                _mm256_castsi256_ps(mask),
            ))
        }
    }
    #[inline(always)]
    unsafe fn store(self, dst: *mut f32) {
        // SAFETY: the caller guarantees 8 writable floats.
        unsafe { _mm256_storeu_ps(dst, self.0) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, dst: *mut f32, n: usize) {
        // SAFETY: the masked store writes only the n lanes the caller guarantees writable.
        unsafe { _mm256_maskstore_ps(dst, lane_mask(n), self.0) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_add_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, other: Self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_sub_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_mul_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn div(self, other: Self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_div_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_max_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn min(self, other: Self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_min_ps(self.0, other.0) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        // SAFETY: FMA present (trait contract).
        Avx2F32(unsafe { _mm256_fmadd_ps(self.0, b.0, c.0) })
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), self.0) })
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        // SAFETY: AVX present (trait contract).
        Avx2F32(unsafe {
            _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(self.0)
        })
    }
    #[inline(always)]
    unsafe fn pow2i(self) -> Self {
        // SAFETY: AVX2 present (trait contract); lanes hold integers in [-126, 127].
        unsafe {
            let n = _mm256_cvtps_epi32(self.0);
            let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(n, _mm256_set1_epi32(127)));
            Avx2F32(_mm256_castsi256_ps(bits))
        }
    }
    #[inline(always)]
    unsafe fn select_non_negative(self, if_non_negative: Self, if_negative: Self) -> Self {
        // SAFETY: AVX present (trait contract).
        unsafe {
            let negative = _mm256_cmp_ps::<_CMP_LT_OQ>(self.0, _mm256_setzero_ps());
            Avx2F32(_mm256_blendv_ps(if_non_negative.0, if_negative.0, negative))
        }
    }
    #[inline(always)]
    unsafe fn reduce_sum(self) -> f32 {
        // SAFETY: AVX present (trait contract).
        unsafe {
            let quad = _mm_add_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
            _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
        }
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        // SAFETY: AVX present (trait contract).
        unsafe {
            let quad = _mm_max_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let pair = _mm_max_ps(quad, _mm_movehl_ps(quad, quad));
            _mm_cvtss_f32(_mm_max_ss(pair, _mm_movehdup_ps(pair)))
        }
    }
}
