//! Scaled softmax on any [`F32Vector`]: max, `exp(scale·x - max)` with the vector `exp`, sum,
//! multiply by the reciprocal of the sum.

use crate::simd::{self, F32Vector};

/// # Safety
/// The CPU must have `V`'s ISA.
#[inline(always)]
pub(crate) unsafe fn softmax<V: F32Vector>(x: &mut [f32], scale: f32) {
    let (lanes, len) = (V::LANES, x.len());
    let full = len - len % lanes;
    let rest = len - full;
    let p = x.as_mut_ptr();
    // SAFETY: offsets stay below len, partial accesses cover exactly `rest` floats; the ISA is
    // present per the contract.
    unsafe {
        let scale_v = V::splat(scale);
        let mut max = V::splat(f32::NEG_INFINITY);
        for i in (0..full).step_by(lanes) {
            max = max.max(V::load(p.add(i)).mul(scale_v));
        }
        if rest > 0 {
            max = max.max(V::load_partial(p.add(full), rest, f32::NEG_INFINITY).mul(scale_v));
        }
        let max = max.reduce_max();
        if len == 0 || !max.is_finite() {
            return;
        }
        let max_v = V::splat(max);
        let mut sum = V::splat(0.0);
        for i in (0..full).step_by(lanes) {
            let e = simd::exp(V::load(p.add(i)).mul(scale_v).sub(max_v));
            e.store(p.add(i));
            sum = sum.add(e);
        }
        if rest > 0 {
            let e = simd::exp(
                V::load_partial(p.add(full), rest, 0.0)
                    .mul(scale_v)
                    .sub(max_v),
            );
            e.store_partial(p.add(full), rest);
            // Padding lanes computed exp(-max) and must not count.
            let e = V::load_partial(p.add(full), rest, 0.0);
            sum = sum.add(e);
        }
        let inv = V::splat(1.0 / sum.reduce_sum());
        for i in (0..full).step_by(lanes) {
            V::load(p.add(i)).mul(inv).store(p.add(i));
        }
        if rest > 0 {
            V::load_partial(p.add(full), rest, 0.0)
                .mul(inv)
                .store_partial(p.add(full), rest);
        }
    }
}
