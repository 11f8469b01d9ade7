//! Portable exact GELU, computed in f64 through erf / erfc.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

pub(crate) fn gelu(x: &mut [f32]) {
    for v in x {
        *v = gelu_one(*v);
    }
}

/// One exact GELU value, rounded once to f32.
#[inline]
pub(crate) fn gelu_one(x: f32) -> f32 {
    gelu_f64(f64::from(x)) as f32
}

/// `0.5 x (1 + erf(x/√2))`. For negative x it is written `0.5 x erfc(|x|/√2)`, which avoids
/// the cancellation in `1 + erf` (near -1) and keeps full relative precision in the tail.
pub(crate) fn gelu_f64(x: f64) -> f64 {
    if x >= 0.0 || x.is_nan() {
        0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
    } else if x == f64::NEG_INFINITY {
        -0.0 // the limit; the formula would give -inf * 0 = NaN
    } else {
        0.5 * x * erfc(-x * FRAC_1_SQRT_2)
    }
}

/// Where erf switches from its series to `1 - erfc` (and erfc from `1 - erf` to its continued
/// fraction).
const SERIES_LIMIT: f64 = 2.0;

/// `erf(x)` in f64.
///
/// For |x| < 2 it sums `erf(x) = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))`, a series of
/// positive terms (no cancellation), stopping once a term no longer changes the sum (at most
/// about 40 terms). Beyond, `erf(x) = 1 - erfc(x)`.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax >= SERIES_LIMIT {
        return (1.0 - erfc(ax)).copysign(x);
    }
    let x2 = ax * ax;
    let mut term = ax;
    let mut sum = ax;
    let mut n = 0.0f64;
    loop {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        let next = sum + term;
        if next == sum {
            break;
        }
        sum = next;
    }
    (2.0 / PI.sqrt() * (-x2).exp() * sum).copysign(x)
}

/// `erfc(x) = 1 - erf(x)` in f64, with full relative precision for large x.
///
/// For x >= 2 it evaluates the continued fraction
/// `erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))` by Lentz's method; it
/// converges in under 100 terms at x = 2 and faster beyond. Below, `1 - erf(x)` loses at most
/// two or three digits of f64, far below f32 precision.
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < SERIES_LIMIT {
        return 1.0 - erf(x);
    }
    if x > 27.3 {
        return 0.0; // below the smallest f64 subnormal
    }
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = f;
    let mut d = 0.0f64;
    for n in 1..500 {
        let a = f64::from(n) * 0.5;
        d = x + a * d;
        d = if d == 0.0 { 1.0 / TINY } else { 1.0 / d };
        c = x + a / c;
        if c == 0.0 {
            c = TINY;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON {
            break;
        }
    }
    (-x * x).exp() / PI.sqrt() / f
}
