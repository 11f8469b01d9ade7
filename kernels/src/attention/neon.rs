//! NEON entry point for attention.

use crate::simd::isa_entries;
use crate::simd::neon::NeonF32;

isa_entries! { "neon", NeonF32;
    fn attention(qkv: &[f32], seq_len: usize, heads: usize, first_head: usize, out: &mut [f32], scratch: &mut [f32]) => super::simd::attention;
}
