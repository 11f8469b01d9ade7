//! Multi-head self-attention for one sequence, all heads, from a fused Q|K|V projection.

pub(crate) mod scalar;

use crate::Kernels;

pub(crate) type AttentionFn = fn(&[f32], usize, usize, &mut [f32], &mut [f32]);

impl Kernels {
    /// Self-attention of one sequence of `seq_len` tokens, every token attending to every token
    /// of the same sequence (no padding: batches pass each sequence separately).
    ///
    /// `qkv` holds `seq_len` rows of `3 * hidden` floats, laid out `Q | K | V`, each split into
    /// `heads` heads of `hidden / heads` floats. `out` receives `seq_len x hidden` context rows,
    /// heads side by side. Scores are scaled by `1 / sqrt(head_dim)`. `scratch` needs at least
    /// `seq_len` floats.
    ///
    /// # Panics
    /// If lengths disagree or `hidden` is not a multiple of `heads`.
    pub fn attention(
        &self,
        qkv: &[f32],
        seq_len: usize,
        heads: usize,
        out: &mut [f32],
        scratch: &mut [f32],
    ) {
        assert!(heads > 0, "attention: zero heads");
        assert_eq!(
            qkv.len(),
            3 * out.len(),
            "attention: qkv is not three times out"
        );
        if seq_len == 0 {
            assert!(
                out.is_empty(),
                "attention: rows given for an empty sequence"
            );
            return;
        }
        assert_eq!(out.len() % seq_len, 0, "attention: out is not seq_len rows");
        let hidden = out.len() / seq_len;
        assert_eq!(
            hidden % heads,
            0,
            "attention: hidden size not a multiple of heads"
        );
        assert!(
            scratch.len() >= seq_len,
            "attention: scratch shorter than seq_len"
        );
        (self.attention)(qkv, seq_len, heads, out, scratch)
    }
}
