//! NEON entry points for pooling and normalisation.

use crate::simd::isa_entries;
use crate::simd::neon::NeonF32;

isa_entries! { "neon", NeonF32;
    fn mean_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) => super::simd::mean_pool;
    fn max_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) => super::simd::max_pool;
    fn l2_normalize(v: &mut [f32]) => super::simd::l2_normalize;
}
