//! GELU on any [`F32Vector`]; the error bound is documented on [`crate::simd::gelu`].

use crate::simd::{self, F32Vector};

/// Exact-erf GELU of every element, in place.
///
/// # Safety
/// The CPU must have `V`'s ISA.
#[inline(always)]
pub(crate) unsafe fn gelu<V: F32Vector>(x: &mut [f32]) {
    let lanes = V::LANES;
    let ptr = x.as_mut_ptr();
    let mut i = 0;
    // SAFETY: every access stays within x (full vectors while i + lanes <= len, then a partial
    // one of len - i floats); the ISA is present per the contract.
    unsafe {
        while i + lanes <= x.len() {
            simd::gelu(V::load(ptr.add(i))).store(ptr.add(i));
            i += lanes;
        }
        if i < x.len() {
            let rest = x.len() - i;
            simd::gelu(V::load_partial(ptr.add(i), rest, 0.0)).store_partial(ptr.add(i), rest);
        }
    }
}
