//! Portable GEMM: the reference for every SIMD path.
//!
//! Weights stay in their `n x k` row-major order, so each output is one contiguous dot product.
//! Blocks of weight rows are reused across all rows of `A` while they sit in cache.

use super::{AlignedF32, Epilogue, Output, PackedWeights};
use crate::activation::scalar::gelu_one;
use crate::Isa;

/// Weight rows per block: 32 rows of K=1536 floats is 192 KiB, which stays in L2.
const WEIGHT_ROWS_PER_BLOCK: usize = 32;

pub(crate) fn pack_weights(
    rows: &mut dyn FnMut(usize, &mut [f32]),
    n: usize,
    k: usize,
) -> PackedWeights {
    let mut data = AlignedF32::zeroed(n * k);
    for (j, row) in data.chunks_exact_mut(k.max(1)).take(n).enumerate() {
        rows(j, row);
    }
    PackedWeights {
        isa: Isa::Scalar,
        n,
        k,
        panel: 1,
        data,
    }
}

/// # Safety
/// The [`Output`] contract: `out.c` reaches `m` rows of `w.n` floats, and nothing else reads or
/// writes the columns `out.cols` of them during the call.
pub(crate) unsafe fn gemm(
    a: &[f32],
    m: usize,
    w: &PackedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    let (n, k) = (w.n, w.k);
    for j0 in out.cols.clone().step_by(WEIGHT_ROWS_PER_BLOCK) {
        let j1 = (j0 + WEIGHT_ROWS_PER_BLOCK).min(out.cols.end);
        for i in 0..m {
            let a_row = &a[i * k..(i + 1) * k];
            for j in j0..j1 {
                let acc = dot(a_row, &w.data[j * k..(j + 1) * k]);
                // SAFETY: i < m and j < cols.end <= n, inside the `m x n` output the caller
                // guarantees, in a column no one else touches during the call.
                let c = unsafe { &mut *out.c.add(i * n + j) };
                *c = match epilogue {
                    Epilogue::None => acc,
                    Epilogue::Bias(bias) => acc + bias[j],
                    Epilogue::BiasGelu(bias) => gelu_one(acc + bias[j]),
                    Epilogue::BiasResidual(bias) => *c + (acc + bias[j]),
                };
            }
        }
    }
}

/// Dot product with eight independent partial sums (the compiler can keep them in vector
/// registers), reduced pairwise at the end.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut a_chunks = a.chunks_exact(8);
    let mut b_chunks = b.chunks_exact(8);
    for (ca, cb) in (&mut a_chunks).zip(&mut b_chunks) {
        for l in 0..8 {
            lanes[l] += ca[l] * cb[l];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        tail += x * y;
    }
    let quads = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    ((quads[0] + quads[2]) + (quads[1] + quads[3])) + tail
}
