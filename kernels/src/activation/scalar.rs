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
/// fraction). Below it, `1 - erf` keeps erfc's relative error under 1e-11 (erfc(3) = 2.2e-5);
/// above, the continued fraction needs at most 31 terms.
const SERIES_LIMIT: f64 = 3.0;

/// Terms of the erf series below [`SERIES_LIMIT`]: at |x| = 3 the 48th term is below 1e-19 of
/// the sum.
const SERIES_TERMS: usize = 50;

/// `c[n] = 2ⁿ / (1·3·…·(2n+1))`, the coefficients of the erf series in powers of x².
const SERIES_COEFFICIENTS: [f64; SERIES_TERMS] = {
    let mut c = [1.0f64; SERIES_TERMS];
    let mut n = 1;
    while n < SERIES_TERMS {
        c[n] = c[n - 1] * 2.0 / (2 * n + 1) as f64;
        n += 1;
    }
    c
};

/// `erf(x)` in f64.
///
/// For |x| < 3 it sums `erf(x) = 2/√π · x · e^(-x²) · Σ cₙ x²ⁿ` with `cₙ = 2ⁿ / (1·3·…·(2n+1))`,
/// a series of positive terms (no cancellation) that converges for every x, evaluated by Horner's
/// rule. Beyond, `erf(x) = 1 - erfc(x)`.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax >= SERIES_LIMIT {
        return (1.0 - erfc(ax)).copysign(x);
    }
    let x2 = ax * ax;
    // Terms needed grow about linearly in |x| (21 at 1, 34 at 2, 49 at 2.99); this bound covers them.
    let terms = ((14.0 + 12.0 * ax) as usize + 1).min(SERIES_TERMS);
    let sum = SERIES_COEFFICIENTS[..terms]
        .iter()
        .rev()
        .fold(0.0, |acc, &c| acc * x2 + c);
    (2.0 / PI.sqrt() * ax * (-x2).exp() * sum).copysign(x)
}

/// `erfc(x) = 1 - erf(x)` in f64, with full relative precision for large x.
///
/// For x >= 3 it evaluates the continued fraction
/// `erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))` by Lentz's method (31
/// terms at x = 3, fewer beyond). Below, `1 - erf(x)` loses at most five digits of f64, far
/// below f32 precision.
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
