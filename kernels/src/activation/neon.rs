//! NEON entry point for GELU.

use crate::simd::isa_entries;
use crate::simd::neon::NeonF32;

isa_entries! { "neon", NeonF32;
    fn gelu(x: &mut [f32]) => super::simd::gelu;
}
