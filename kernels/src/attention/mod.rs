//! Multi-head self-attention for one sequence, all heads, from a fused Q|K|V projection.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod scalar;
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) mod simd;

mod split;

use std::ops::Range;

use crate::{Kernels, TaskRunner};

/// Attention of one sequence for heads `first_head..first_head + n`: `(qkv, seq_len, heads,
/// first_head, out, scratch)`, where `qkv` is the sequence's `seq_len x 3·hidden` rows, `out`
/// is `seq_len` rows of the `n` heads' contexts side by side (`n = out.len() / (seq_len ·
/// head_dim)`), and `scratch` holds [`Kernels::attention_scratch_len`] floats.
pub(crate) type AttentionFn = fn(&[f32], usize, usize, usize, &mut [f32], &mut [f32]);

impl Kernels {
    /// Floats of scratch [`Kernels::attention`] needs for a sequence (a transposed K head, a
    /// packed V head and scores for a block of query rows).
    pub fn attention_scratch_len(seq_len: usize, head_dim: usize) -> usize {
        seq_len * (2 * head_dim + simd::QUERY_BLOCK)
    }

    /// Self-attention of one sequence of `seq_len` tokens, every token attending to every token
    /// of the same sequence (no padding: batches pass each sequence separately).
    ///
    /// `qkv` holds `seq_len` rows of `3 * hidden` floats, laid out `Q | K | V`, each split into
    /// `heads` heads of `hidden / heads` floats. `out` receives `seq_len x hidden` context rows,
    /// heads side by side. Scores are scaled by `1 / sqrt(head_dim)`. `scratch` needs at least
    /// [`Kernels::attention_scratch_len`] floats.
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
            scratch.len() >= Kernels::attention_scratch_len(seq_len, hidden / heads),
            "attention: scratch too short"
        );
        (self.attention)(qkv, seq_len, heads, 0, out, scratch)
    }

    /// [`Kernels::attention`] for every sequence of a batch, spread over the threads of
    /// `runner`. The batch is padding-free: `sequences` are consecutive row ranges that tile the
    /// rows exactly (the first starts at 0, each starts where the previous ended); `qkv` holds
    /// those rows (`3 * hidden` floats each) and `out` receives their context rows (`hidden`
    /// each). Work is cut by sequence and, when there are few sequences, by groups of heads;
    /// scratch memory comes from per-thread buffers kept between calls. The result does not
    /// depend on the thread count.
    ///
    /// # Panics
    /// If the ranges do not tile the rows, lengths disagree, or `hidden` is not a multiple of
    /// `heads`.
    pub fn attention_batch(
        &self,
        qkv: &[f32],
        sequences: &[Range<usize>],
        heads: usize,
        out: &mut [f32],
        runner: &dyn TaskRunner,
    ) {
        assert!(heads > 0, "attention: zero heads");
        assert_eq!(
            qkv.len(),
            3 * out.len(),
            "attention: qkv is not three times out"
        );
        let mut rows = 0;
        for range in sequences {
            assert!(
                range.start == rows && range.end >= range.start,
                "attention: sequences do not tile the rows in order"
            );
            rows = range.end;
        }
        if rows == 0 {
            assert!(out.is_empty(), "attention: rows given for no sequence");
            return;
        }
        assert_eq!(out.len() % rows, 0, "attention: out is not whole rows");
        let hidden = out.len() / rows;
        assert_eq!(
            hidden % heads,
            0,
            "attention: hidden size not a multiple of heads"
        );
        split::run(self.attention, qkv, sequences, heads, hidden, out, runner);
    }
}
