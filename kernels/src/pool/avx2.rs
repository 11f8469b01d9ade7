//! AVX2 + FMA entry points for pooling and normalisation.

use crate::simd::avx2::Avx2F32;
use crate::simd::isa_entries;

isa_entries! { "avx2,fma", Avx2F32;
    fn mean_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) => super::simd::mean_pool;
    fn max_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) => super::simd::max_pool;
    fn l2_normalize(v: &mut [f32]) => super::simd::l2_normalize;
}
