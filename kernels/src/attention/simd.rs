//! Attention on any [`F32Vector`]. Per head, K is first transposed into scratch
//! (`head_dim` rows of `seq_len`), so each query's scores are `head_dim` broadcast-FMAs over
//! contiguous vectors of keys; the context is `seq_len` broadcast-FMAs over V's row slice.

use crate::simd::F32Vector;

/// Heads `first_head..` of one sequence (as many as `out` has room for); see
/// [`super::AttentionFn`].
///
/// # Safety
/// The CPU must have `V`'s ISA; lengths as checked by the public entry points, with
/// `scratch.len() >= seq_len * (head_dim + 1)`.
#[inline(always)]
pub(crate) unsafe fn attention<V: F32Vector>(
    qkv: &[f32],
    seq_len: usize,
    heads: usize,
    first_head: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let hidden = qkv.len() / (3 * seq_len);
    let head_dim = hidden / heads;
    let out_stride = out.len() / seq_len;
    let stride = 3 * hidden;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let lanes = V::LANES;
    let (keys_t, scores) = scratch.split_at_mut(seq_len * head_dim);
    let scores = &mut scores[..seq_len];
    let full_keys = seq_len - seq_len % lanes;
    let rest_keys = seq_len - full_keys;
    let full_dims = head_dim - head_dim % lanes;
    let rest_dims = head_dim - full_dims;
    for (slot, h) in (first_head..first_head + out_stride / head_dim).enumerate() {
        let (q_off, k_off, v_off) = (
            h * head_dim,
            hidden + h * head_dim,
            2 * hidden + h * head_dim,
        );
        for j in 0..seq_len {
            for d in 0..head_dim {
                keys_t[d * seq_len + j] = qkv[j * stride + k_off + d];
            }
        }
        for i in 0..seq_len {
            let q = &qkv[i * stride + q_off..i * stride + q_off + head_dim];
            // SAFETY: key offsets stay below seq_len within each transposed row (partial
            // accesses cover exactly rest_keys floats); the ISA is present per the contract.
            unsafe {
                let kt = keys_t.as_ptr();
                let s = scores.as_mut_ptr();
                for j in (0..full_keys).step_by(lanes) {
                    let mut acc = V::splat(0.0);
                    for (d, &qd) in q.iter().enumerate() {
                        acc = V::splat(qd).mul_add(V::load(kt.add(d * seq_len + j)), acc);
                    }
                    acc.store(s.add(j));
                }
                if rest_keys > 0 {
                    let mut acc = V::splat(0.0);
                    for (d, &qd) in q.iter().enumerate() {
                        let k = V::load_partial(kt.add(d * seq_len + full_keys), rest_keys, 0.0);
                        acc = V::splat(qd).mul_add(k, acc);
                    }
                    acc.store_partial(s.add(full_keys), rest_keys);
                }
            }
            // SAFETY: same ISA contract.
            unsafe { crate::softmax::simd::softmax::<V>(scores, scale) };
            let ctx = &mut out[i * out_stride + slot * head_dim..][..head_dim];
            // SAFETY: dimension offsets stay below head_dim within ctx and each V row slice
            // (partial accesses cover exactly rest_dims floats); ISA as above.
            unsafe {
                let c = ctx.as_mut_ptr();
                for d0 in (0..full_dims).step_by(lanes) {
                    let mut acc = V::splat(0.0);
                    for (j, &pj) in scores.iter().enumerate() {
                        acc = V::splat(pj)
                            .mul_add(V::load(qkv.as_ptr().add(j * stride + v_off + d0)), acc);
                    }
                    acc.store(c.add(d0));
                }
                if rest_dims > 0 {
                    let mut acc = V::splat(0.0);
                    for (j, &pj) in scores.iter().enumerate() {
                        let v = V::load_partial(
                            qkv.as_ptr().add(j * stride + v_off + full_dims),
                            rest_dims,
                            0.0,
                        );
                        acc = V::splat(pj).mul_add(v, acc);
                    }
                    acc.store_partial(c.add(full_dims), rest_dims);
                }
            }
        }
    }
}
