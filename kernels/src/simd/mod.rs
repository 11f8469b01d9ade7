//! A thin layer over one ISA's f32 vector registers, so that element-wise kernels (LayerNorm,
//! GELU, softmax, attention, pooling) are written once, generically, and instantiated per ISA
//! inside that ISA's `#[target_feature]` entry points (AVX2, AVX-512, NEON). The GEMM microkernels do not use it: they
//! are hand-written per ISA.
//!
//! Every method is `#[inline(always)]`: once inlined into a `#[target_feature]` function, the
//! intrinsics inside inline too and the generic code compiles to straight-line vector code.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

/// f32 vectors of one ISA.
///
/// # Safety
/// Implementations use their ISA's intrinsics. Every method may only run on a CPU with those
/// features, which the dispatch guarantees by handing out an ISA's kernels only after detecting
/// them. Pointer arguments must be valid for the stated number of floats.
pub(crate) unsafe trait F32Vector: Copy {
    /// Floats per vector.
    const LANES: usize;
    /// Vector registers the ISA has (what register-blocked kernels can hold at once).
    const REGISTERS: usize;

    /// Every lane `value`.
    unsafe fn splat(value: f32) -> Self;
    /// `LANES` floats from `src` (unaligned).
    unsafe fn load(src: *const f32) -> Self;
    /// The first `n < LANES` floats from `src`, the other lanes `fill`; reads only `n` floats.
    unsafe fn load_partial(src: *const f32, n: usize, fill: f32) -> Self;
    /// Writes all lanes to `dst` (unaligned).
    unsafe fn store(self, dst: *mut f32);
    /// Writes the first `n < LANES` lanes to `dst`; touches only `n` floats.
    unsafe fn store_partial(self, dst: *mut f32, n: usize);
    unsafe fn add(self, other: Self) -> Self;
    unsafe fn sub(self, other: Self) -> Self;
    unsafe fn mul(self, other: Self) -> Self;
    unsafe fn div(self, other: Self) -> Self;
    /// Lane-wise maximum. With a NaN operand the result is the ISA's own: x86 returns `other`,
    /// NEON returns NaN (a path's NaN outputs are not part of any kernel's contract).
    unsafe fn max(self, other: Self) -> Self;
    /// Lane-wise minimum, NaN as for [`F32Vector::max`].
    unsafe fn min(self, other: Self) -> Self;
    /// `self * b + c`, fused (one rounding).
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `|self|`.
    unsafe fn abs(self) -> Self;
    /// Round to the nearest integer (ties to even).
    unsafe fn round(self) -> Self;
    /// `2^n` for lanes holding integers in `[-126, 127]`.
    unsafe fn pow2i(self) -> Self;
    /// Per lane: `if_non_negative` where `self >= 0`, else `if_negative`.
    unsafe fn select_non_negative(self, if_non_negative: Self, if_negative: Self) -> Self;
    /// Sum of the lanes.
    unsafe fn reduce_sum(self) -> f32;
    /// Maximum of the lanes.
    unsafe fn reduce_max(self) -> f32;
}

/// `e^x`, Cephes-style: `x = n ln2 + r` with `|r| <= ln2/2`, a degree-7 polynomial for `e^r`,
/// then `2^n` through the exponent bits. Relative error below 2 ulp for `x` in [-87.3, 88.3];
/// inputs are clamped to that range (so `e^x` underflows to about 1e-38 rather than 0, and never
/// overflows). NaN stays NaN on NEON; on x86 the clamp turns it into `e^-87.3` (see
/// [`F32Vector::max`]).
#[inline(always)]
pub(crate) unsafe fn exp<V: F32Vector>(x: V) -> V {
    // SAFETY (for every call below): the caller guarantees the CPU has V's ISA.
    unsafe {
        let x = x.max(V::splat(-87.3)).min(V::splat(88.3));
        let n = x.mul(V::splat(std::f32::consts::LOG2_E)).round();
        // ln 2 split in two so that n * LN2_HI is exact.
        let r = n.mul_add(V::splat(-0.693_359_4), x);
        let r = n.mul_add(V::splat(2.121_944_4e-4), r);
        let mut p = V::splat(1.987_569_1e-4);
        p = p.mul_add(r, V::splat(1.398_199_9e-3));
        p = p.mul_add(r, V::splat(8.333_452e-3));
        p = p.mul_add(r, V::splat(4.166_579_6e-2));
        p = p.mul_add(r, V::splat(1.666_666_5e-1));
        p = p.mul_add(r, V::splat(5e-1));
        let r2 = r.mul(r);
        let e_r = p.mul_add(r2, r.add(V::splat(1.0)));
        e_r.mul(n.pow2i())
    }
}

/// The exact (erf) GELU, `0.5 x (1 + erf(x/√2))`, as `x - h` for `x >= 0` and `h` for `x < 0`,
/// where `h = 0.5 |x|-side tail = 0.5 x erfc(|x|/√2)`. erfc comes from the Chebyshev fit
/// `erfc(z) = t exp(-z² - 1.26551223 + t P(t))`, `t = 1/(1 + z/2)` (Numerical Recipes' `erfcc`),
/// whose relative error is below 1.2e-7 for every z >= 0. With `exp` (2 ulp) and the exponent
/// carried in two parts, the GELU's relative error is below 6e-7 (measured 4.6e-7) for every
/// |x| <= 12, the negative tail included; the kernel tests check it over 22 million inputs.
/// Beyond -13 the true value is below f32's normal range and the result is only tiny.
#[inline(always)]
pub(crate) unsafe fn gelu<V: F32Vector>(x: V) -> V {
    // SAFETY (for every call below): the caller guarantees the CPU has V's ISA.
    unsafe {
        // Clamped so that ±inf meet no inf·0, and so that exp's own clamp (at -87.3) is never
        // reached: at |x| = 13 the exponent is about -84.8 and erfc about 1e-38, so the tail
        // value h is below f32's normal range from there on.
        let x_clamped = x.max(V::splat(-13.0)).min(V::splat(13.0));
        let z = x_clamped
            .abs()
            .mul(V::splat(std::f32::consts::FRAC_1_SQRT_2));
        let one = V::splat(1.0);
        let t = one.div(z.mul_add(V::splat(0.5), one));
        let mut p = V::splat(0.170_872_77);
        p = p.mul_add(t, V::splat(-0.822_152_23));
        p = p.mul_add(t, V::splat(1.488_515_9));
        p = p.mul_add(t, V::splat(-1.135_204));
        p = p.mul_add(t, V::splat(0.278_868_07));
        p = p.mul_add(t, V::splat(-0.186_288_06));
        p = p.mul_add(t, V::splat(0.096_784_18));
        p = p.mul_add(t, V::splat(0.374_091_96));
        p = p.mul_add(t, V::splat(1.000_023_7));
        p = p.mul_add(t, V::splat(-1.265_512_2));
        // The exponent p - z², with z² = x²/2 carried exactly as xx/2 + xx_err/2 and the
        // subtraction's rounding error kept too (two-sum): at z = 8 the exponent is about -65,
        // where one f32 rounding alone would cost 4e-6 relative in the result.
        let xx = x_clamped.mul(x_clamped);
        let xx_err = x_clamped.mul_add(x_clamped, V::splat(0.0).sub(xx));
        let minus_half_xx = V::splat(-0.5).mul(xx);
        let sum = p.add(minus_half_xx);
        let p_part = sum.sub(minus_half_xx);
        let lost = p.sub(p_part).add(minus_half_xx.sub(sum.sub(p_part)));
        let lost = V::splat(-0.5).mul_add(xx_err, lost);
        let e = exp(sum);
        let erfc = t.mul(e.mul_add(lost, e)); // e^(sum + lost) ≈ e^sum (1 + lost)
        let h = V::splat(0.5).mul(x_clamped).mul(erfc);
        x.select_non_negative(x.sub(h), h)
    }
}

/// Defines safe per-ISA kernel entry points that run a generic kernel on one vector type inside
/// a `#[target_feature]` function, e.g.
/// `isa_entries! { "avx2,fma", Avx2F32; fn gelu(x: &mut [f32]) => super::simd::gelu; }`.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_macros)
)]
macro_rules! isa_entries {
    ($features:literal, $vector:ty; $(fn $name:ident($($arg:ident: $ty:ty),*) => $($generic:ident)::+;)*) => {
        $(
            pub(crate) fn $name($($arg: $ty),*) {
                #[target_feature(enable = $features)]
                unsafe fn with_features($($arg: $ty),*) {
                    // SAFETY: this function only runs with the ISA's features present (below).
                    unsafe { $($generic)::+::<$vector>($($arg),*) }
                }
                // SAFETY: entry points are reachable only through their ISA's kernel table, which
                // the dispatch hands out only after detecting these features on the CPU.
                unsafe { with_features($($arg),*) }
            }
        )*
    };
}
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_imports)
)]
pub(crate) use isa_entries;
