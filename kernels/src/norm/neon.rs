//! NEON entry point for LayerNorm.

use crate::simd::isa_entries;
use crate::simd::neon::NeonF32;

isa_entries! { "neon", NeonF32;
    fn layernorm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) => super::simd::layernorm;
}
