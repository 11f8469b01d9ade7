//! AVX-512 entry points for pooling and normalisation.

use crate::simd::avx512::Avx512F32;
use crate::simd::isa_entries;

isa_entries! { "avx512f,avx512bw,avx512vl,avx2,fma", Avx512F32;
    fn mean_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) => super::simd::mean_pool;
    fn max_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) => super::simd::max_pool;
    fn l2_normalize(v: &mut [f32]) => super::simd::l2_normalize;
}
