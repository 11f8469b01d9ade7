//! AVX-512 entry point for softmax.

use crate::simd::avx512::Avx512F32;
use crate::simd::isa_entries;

isa_entries! { "avx512f,avx512bw,avx512vl,avx2,fma", Avx512F32;
    fn softmax(x: &mut [f32], scale: f32) => super::simd::softmax;
}
