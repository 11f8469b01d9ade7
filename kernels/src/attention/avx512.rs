//! AVX-512 entry point for attention.

use crate::simd::avx512::Avx512F32;
use crate::simd::isa_entries;

isa_entries! { "avx512f,avx512bw,avx512vl,avx2,fma", Avx512F32;
    fn attention(qkv: &[f32], seq_len: usize, heads: usize, first_head: usize, out: &mut [f32], scratch: &mut [f32]) => super::simd::attention;
}
