//! AVX2 + FMA entry point for attention.

use crate::simd::avx2::Avx2F32;
use crate::simd::isa_entries;

isa_entries! { "avx2,fma", Avx2F32;
    fn attention(qkv: &[f32], seq_len: usize, heads: usize, first_head: usize, out: &mut [f32], scratch: &mut [f32]) => super::simd::attention;
}
