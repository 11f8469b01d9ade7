//! Scaled softmax on any [`F32Vector`]: max, `exp(scale·x - max)` with the vector `exp`, sum,
//! multiply by the reciprocal of the sum.

use crate::simd::{self, F32Vector};

/// # Safety
/// The CPU must have `V`'s ISA.
#[inline(always)]
pub(crate) unsafe fn softmax<V: F32Vector>(x: &mut [f32], scale: f32) {
    // SAFETY: one row of `x.len()` floats, borrowed uniquely; the ISA per the contract.
    unsafe { softmax_rows::<V, 1>([x.as_mut_ptr()], x.len(), scale) }
}

/// [`softmax`] of `R` rows of `len` floats at once, interleaved step by step so that the rows'
/// dependency chains (the running max and sum, each `exp`) overlap: a short row alone is
/// bound by their latency. Each row gets exactly the operations, in the same order, that
/// [`softmax`] gives it alone.
///
/// # Safety
/// The CPU must have `V`'s ISA; each `rows[r]` points to `len` floats that nothing else
/// accesses during the call.
#[inline(always)]
pub(crate) unsafe fn softmax_rows<V: F32Vector, const R: usize>(
    rows: [*mut f32; R],
    len: usize,
    scale: f32,
) {
    let lanes = V::LANES;
    let full = len - len % lanes;
    let rest = len - full;
    if len == 0 {
        return;
    }
    const { assert!(V::LANES <= LANE_INDEX.len()) };
    // SAFETY: offsets stay below len, partial accesses cover exactly `rest` floats, the lane
    // numbers hold at least `V::LANES` floats (asserted above); the ISA is present per the
    // contract.
    unsafe {
        let scale_v = V::splat(scale);
        let mut max = [V::splat(f32::NEG_INFINITY); R];
        for i in (0..full).step_by(lanes) {
            for (m, &p) in max.iter_mut().zip(&rows) {
                *m = m.max(V::load(p.add(i)).mul(scale_v));
            }
        }
        if rest > 0 {
            for (m, &p) in max.iter_mut().zip(&rows) {
                *m = m.max(V::load_partial(p.add(full), rest, f32::NEG_INFINITY).mul(scale_v));
            }
        }
        let max = max.map(|m| m.reduce_max());
        if R > 1 && max.iter().any(|m| !m.is_finite()) {
            // Such a row is left as it is: one at a time, as alone.
            for p in rows {
                softmax_rows::<V, 1>([p], len, scale);
            }
            return;
        }
        if !max[0].is_finite() {
            return;
        }
        let max_v = max.map(|m| V::splat(m));
        let mut sum = [V::splat(0.0); R];
        // Two rows at a time here: a row's vectors are independent but for the sum, and the
        // sums and maxima of more rows, with `exp`'s temporaries, would spill on 16-register
        // ISAs.
        let mut r = 0;
        while r + 2 <= R {
            let (p0, p1) = (rows[r], rows[r + 1]);
            for i in (0..full).step_by(lanes) {
                let e0 = exp_in_place(p0.add(i), scale_v, max_v[r]);
                let e1 = exp_in_place(p1.add(i), scale_v, max_v[r + 1]);
                sum[r] = sum[r].add(e0);
                sum[r + 1] = sum[r + 1].add(e1);
            }
            r += 2;
        }
        if r < R {
            for i in (0..full).step_by(lanes) {
                sum[r] = sum[r].add(exp_in_place(rows[r].add(i), scale_v, max_v[r]));
            }
        }
        // The tail is kept (in registers where they suffice) until it is scaled, rather than
        // stored and read back: a load from a masked store stalls on store forwarding.
        let mut tail = [V::splat(0.0); R];
        if rest > 0 {
            // Negative in the first `rest` lanes, which are kept; the padding lanes computed
            // exp(-max) and must not count.
            let padding = V::load(LANE_INDEX.as_ptr()).sub(V::splat(rest as f32));
            for r in 0..R {
                let e = simd::exp(
                    V::load_partial(rows[r].add(full), rest, 0.0)
                        .mul(scale_v)
                        .sub(max_v[r]),
                );
                tail[r] = padding.select_non_negative(V::splat(0.0), e);
                sum[r] = sum[r].add(tail[r]);
            }
        }
        let inv = sum.map(|s| V::splat(1.0 / s.reduce_sum()));
        for (&p, &inv) in rows.iter().zip(&inv) {
            for i in (0..full).step_by(lanes) {
                V::load(p.add(i)).mul(inv).store(p.add(i));
            }
        }
        if rest > 0 {
            for r in 0..R {
                tail[r].mul(inv[r]).store_partial(rows[r].add(full), rest);
            }
        }
    }
}

/// `exp(scale·x - max)` of the vector at `p`, stored back and returned.
///
/// # Safety
/// `V`'s ISA; `p` holds `V::LANES` floats nothing else accesses.
#[inline(always)]
unsafe fn exp_in_place<V: F32Vector>(p: *mut f32, scale: V, max: V) -> V {
    // SAFETY: per the contract.
    unsafe {
        let e = simd::exp(V::load(p).mul(scale).sub(max));
        e.store(p);
        e
    }
}

/// Lane numbers, for masks built by comparison (no vector has more than 16 lanes).
static LANE_INDEX: [f32; 16] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
];

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::{softmax, softmax_rows};
    #[cfg(target_arch = "x86_64")]
    use crate::simd::avx2::Avx2F32;
    #[cfg(target_arch = "x86_64")]
    use crate::simd::avx512::Avx512F32;
    #[cfg(target_arch = "aarch64")]
    use crate::simd::neon::NeonF32;
    use crate::simd::F32Vector;

    /// Rows of `len` values (one row with `special` at `at`, when given), each softmaxed alone
    /// and `R` at a time: the same bits.
    fn same_bits<V: F32Vector, const R: usize>(len: usize, special: Option<(usize, f32)>) {
        let mut seed = 0x9E37_79B9u32 ^ (len as u32) << 8 ^ R as u32;
        let mut rows: Vec<Vec<f32>> = (0..R)
            .map(|_| {
                (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        (seed % 20_001) as f32 / 1000.0 - 10.0
                    })
                    .collect()
            })
            .collect();
        if let Some((at, value)) = special {
            rows[R / 2][at % len] = value;
        }
        let mut alone = rows.clone();
        // SAFETY: the caller checked the ISA; every pointer is a distinct row of `len` floats.
        unsafe {
            for row in &mut alone {
                softmax::<V>(row, 0.3);
            }
            let pointers: [*mut f32; R] = std::array::from_fn(|r| rows[r].as_mut_ptr());
            softmax_rows::<V, R>(pointers, len, 0.3);
        }
        for (r, (got, want)) in rows.iter().zip(&alone).enumerate() {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got), bits(want), "R={R} len={len} row {r} {special:?}");
        }
    }

    fn every_shape<V: F32Vector>() {
        for len in (1..=40).chain([64, 255, 256]) {
            for special in [
                None,
                Some((len / 3, f32::INFINITY)),
                Some((len / 2, f32::NAN)),
            ] {
                same_bits::<V, 1>(len, special);
                same_bits::<V, 2>(len, special);
                same_bits::<V, 3>(len, special);
                same_bits::<V, 6>(len, special);
                same_bits::<V, 8>(len, special);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2() {
        every_shape::<Avx2F32>();
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn avx512() {
        every_shape::<Avx512F32>();
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn rows_together_equal_rows_alone_bit_for_bit() {
        let mut ran = 0;
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            unsafe { avx2() };
            ran += 1;
        }
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the features were just detected.
            unsafe { avx512() };
            ran += 1;
        }
        eprintln!("softmax_rows checked on {ran} vector ISA(s)");
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn rows_together_equal_rows_alone_bit_for_bit() {
        #[target_feature(enable = "neon")]
        unsafe fn neon() {
            every_shape::<NeonF32>();
        }
        // SAFETY: NEON is part of every aarch64 target Rust supports.
        unsafe { neon() };
    }
}
