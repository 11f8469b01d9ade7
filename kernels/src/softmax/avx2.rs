//! AVX2 + FMA entry point for softmax.

use crate::simd::avx2::Avx2F32;
use crate::simd::isa_entries;

isa_entries! { "avx2,fma", Avx2F32;
    fn softmax(x: &mut [f32], scale: f32) => super::simd::softmax;
}
