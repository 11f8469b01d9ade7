//! TEMPORARY: the Avx512 GEMM path until its microkernels land; runs the portable loop on weights
//! labelled for this path, so dispatch, packing checks and tests are exercised end to end.

use super::{Epilogue, PackedWeights};
use crate::Isa;

pub(crate) fn pack_weights(weight: &[f32], n: usize, k: usize) -> PackedWeights {
    PackedWeights {
        isa: Isa::Avx512,
        ..super::scalar::pack_weights(weight, n, k)
    }
}

pub(crate) fn gemm(a: &[f32], m: usize, w: &PackedWeights, epilogue: Epilogue<'_>, c: &mut [f32]) {
    super::scalar::gemm(a, m, w, epilogue, c)
}
