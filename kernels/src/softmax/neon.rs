//! NEON entry point for softmax.

use crate::simd::isa_entries;
use crate::simd::neon::NeonF32;

isa_entries! { "neon", NeonF32;
    fn softmax(x: &mut [f32], scale: f32) => super::simd::softmax;
}
