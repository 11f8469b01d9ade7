//! Portable attention: per head, per query row, scores → softmax → weighted sum of V rows.

use crate::gemm::scalar::dot;
use crate::softmax::scalar::softmax;

/// Heads `first_head..` of one sequence (as many as `out` has room for); see
/// [`super::AttentionFn`].
pub(crate) fn attention(
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
    let scores = &mut scratch[..seq_len];
    for (slot, h) in (first_head..first_head + out_stride / head_dim).enumerate() {
        let (q_off, k_off, v_off) = (
            h * head_dim,
            hidden + h * head_dim,
            2 * hidden + h * head_dim,
        );
        for i in 0..seq_len {
            let q = &qkv[i * stride + q_off..i * stride + q_off + head_dim];
            for (j, s) in scores.iter_mut().enumerate() {
                *s = dot(q, &qkv[j * stride + k_off..j * stride + k_off + head_dim]);
            }
            softmax(scores, scale);
            let ctx = &mut out[i * out_stride + slot * head_dim..][..head_dim];
            ctx.fill(0.0);
            for (j, &p) in scores.iter().enumerate() {
                let v = &qkv[j * stride + v_off..j * stride + v_off + head_dim];
                for (c, &x) in ctx.iter_mut().zip(v) {
                    *c += p * x;
                }
            }
        }
    }
}
