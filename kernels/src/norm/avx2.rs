//! AVX2 + FMA entry point for LayerNorm.

use crate::simd::avx2::Avx2F32;
use crate::simd::isa_entries;

isa_entries! { "avx2,fma", Avx2F32;
    fn layernorm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) => super::simd::layernorm;
}
