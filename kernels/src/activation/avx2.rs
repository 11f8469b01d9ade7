//! AVX2 + FMA entry point for GELU.

use crate::simd::avx2::Avx2F32;
use crate::simd::isa_entries;

isa_entries! { "avx2,fma", Avx2F32;
    fn gelu(x: &mut [f32]) => super::simd::gelu;
}
