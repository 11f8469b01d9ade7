//! Attention on any [`F32Vector`], register-blocked like a small GEMM.
//!
//! Per head, K is first transposed into scratch (`head_dim` rows of `seq_len`) and V copied
//! into packed rows (`seq_len` rows of `head_dim`: in `qkv` they are `3 · hidden` floats apart,
//! a stride that folds a long sequence's V rows onto a few L1 sets). Queries then go in blocks
//! of 8 rows with 32 vector registers, 6 with 16 ([`QUERY_BLOCK`]): their scores are a tile of those
//! rows x 2 vectors of keys (16 or 12 independent accumulator chains over `head_dim`, each step
//! 2 key loads and a broadcast per row); after each row's softmax, the contexts are a tile of
//! the same rows x 2 vectors of dimensions (chains over the keys). Leftover rows go in blocks of
//! 4, 2 and 1. A single chain per vector, as a plain loop gives, waits on the FMA latency at
//! every step: for 256-token texts this blocking made the kernel several times faster. Every
//! element is still one chain in the same order (over `d` for a score, over `j` for a context),
//! so the result does not depend on the blocking.

use crate::simd::F32Vector;

/// Most query rows per tile (scratch holds this many rows of scores): 8 with 32 vector
/// registers (16 accumulators); with 16, tiles of 6 rows (12 accumulators, 2 loads and a
/// broadcast).
pub(crate) const QUERY_BLOCK: usize = 8;

/// The tile both halves of attention are made of: `R` rows x `C` vectors,
/// `out[r][at..] = Σ_t a[r][t] · b[t·step + at..]` for `t` in `0..len`, one chain per element in
/// order of `t` (the last vector only `valid` lanes when `C == 1`). Scores: `a` the queries,
/// `t` over the head's dimensions, `b` the transposed keys, `at` the first key. Contexts: `a`
/// the softmaxed scores, `t` over the keys, `b` the V rows, `at` the first dimension.
///
/// # Safety
/// `V`'s ISA; `a[r]` reads `len` floats; `b + t·step + at` holds `(C - 1)·LANES + valid` floats
/// for every `t < len`; `out[r] + at` is writable for as many.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn broadcast_tile<V: F32Vector, const R: usize, const C: usize>(
    a: [*const f32; R],
    b: *const f32,
    step: usize,
    len: usize,
    at: usize,
    valid: usize,
    out: [*mut f32; R],
) {
    let lanes = V::LANES;
    // SAFETY: offsets within the ranges of the contract.
    unsafe {
        let mut acc = [[V::splat(0.0); C]; R];
        for t in 0..len {
            let row = b.add(t * step + at);
            let mut x = [V::splat(0.0); C];
            for (c, xc) in x.iter_mut().enumerate() {
                *xc = if valid < lanes {
                    V::load_partial(row.add(c * lanes), valid, 0.0)
                } else {
                    V::load(row.add(c * lanes))
                };
            }
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let at_t = V::splat(*a[r].add(t));
                for (sum, &xc) in acc_r.iter_mut().zip(&x) {
                    *sum = at_t.mul_add(xc, *sum);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (c, &sum) in acc_r.iter().enumerate() {
                if valid < lanes {
                    sum.store_partial(out[r].add(at + c * lanes), valid);
                } else {
                    sum.store(out[r].add(at + c * lanes));
                }
            }
        }
    }
}

/// One head of one sequence, as the query blocks see it.
struct Head {
    /// The sequence's qkv rows (`stride` floats apart).
    qkv: *const f32,
    stride: usize,
    /// Offset of the head's Q slice in a row.
    q_off: usize,
    /// The head's V rows, packed (`seq_len` rows of `head_dim`).
    values: *const f32,
    /// The head's transposed keys (`head_dim` rows of `seq_len`).
    keys_t: *const f32,
    seq_len: usize,
    head_dim: usize,
    /// `QUERY_BLOCK` rows of `seq_len` scores.
    scores: *mut f32,
    scale: f32,
    /// Context rows (`out_stride` floats apart), the head's slice at `out_off`.
    out: *mut f32,
    out_stride: usize,
    out_off: usize,
}

/// `R` query rows `i..i + R` of one head: scores, softmax, contexts.
///
/// # Safety
/// `V`'s ISA; `head` as set up by [`attention`], with `i + R <= seq_len` and `R <=
/// QUERY_BLOCK`.
#[inline(always)]
unsafe fn query_block<V: F32Vector, const R: usize>(head: &Head, i: usize) {
    const { assert!(R <= QUERY_BLOCK) };
    let lanes = V::LANES;
    let (seq_len, head_dim) = (head.seq_len, head.head_dim);
    // SAFETY: rows i..i + R (i + R <= seq_len) of qkv and out, scores rows r < R <=
    // QUERY_BLOCK of seq_len floats (scratch sized for QUERY_BLOCK rows), the packed K and V
    // of seq_len x head_dim floats, dims below head_dim, keys below seq_len.
    unsafe {
        let q: [*const f32; R] =
            std::array::from_fn(|r| head.qkv.add((i + r) * head.stride + head.q_off));
        let s: [*mut f32; R] = std::array::from_fn(|r| head.scores.add(r * seq_len));
        let mut j = 0;
        while j + 2 * lanes <= seq_len {
            broadcast_tile::<V, R, 2>(q, head.keys_t, seq_len, head_dim, j, lanes, s);
            j += 2 * lanes;
        }
        while j < seq_len {
            let valid = (seq_len - j).min(lanes);
            broadcast_tile::<V, R, 1>(q, head.keys_t, seq_len, head_dim, j, valid, s);
            j += lanes;
        }
        crate::softmax::simd::softmax_rows::<V, R>(s, seq_len, head.scale);
        let p: [*const f32; R] = std::array::from_fn(|r| s[r].cast_const());
        let ctx: [*mut f32; R] =
            std::array::from_fn(|r| head.out.add((i + r) * head.out_stride + head.out_off));
        let v = head.values;
        let mut d0 = 0;
        while d0 + 2 * lanes <= head_dim {
            broadcast_tile::<V, R, 2>(p, v, head_dim, seq_len, d0, lanes, ctx);
            d0 += 2 * lanes;
        }
        while d0 < head_dim {
            let valid = (head_dim - d0).min(lanes);
            broadcast_tile::<V, R, 1>(p, v, head_dim, seq_len, d0, valid, ctx);
            d0 += lanes;
        }
    }
}

/// As many blocks of `R` query rows from row `i` on as fit; returns the first row left.
///
/// # Safety
/// As [`query_block`] for every block.
#[inline(always)]
unsafe fn query_blocks<V: F32Vector, const R: usize>(head: &Head, mut i: usize) -> usize {
    while i + R <= head.seq_len {
        // SAFETY: i + R <= seq_len; the rest per the caller.
        unsafe { query_block::<V, R>(head, i) };
        i += R;
    }
    i
}

/// Heads `first_head..` of one sequence (as many as `out` has room for); see
/// [`super::AttentionFn`].
///
/// # Safety
/// The CPU must have `V`'s ISA; lengths as checked by the public entry points, with
/// `scratch.len() >= `[`crate::Kernels::attention_scratch_len`]`(seq_len, head_dim)`.
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
    let (keys_t, rest) = scratch.split_at_mut(seq_len * head_dim);
    let (values, scores) = rest.split_at_mut(seq_len * head_dim);
    assert!(
        scores.len() >= QUERY_BLOCK * seq_len,
        "attention: scratch too short"
    );
    for (slot, h) in (first_head..first_head + out_stride / head_dim).enumerate() {
        let (q_off, k_off, v_off) = (
            h * head_dim,
            hidden + h * head_dim,
            2 * hidden + h * head_dim,
        );
        for (j, row) in qkv.chunks_exact(stride).take(seq_len).enumerate() {
            let key = &row[k_off..k_off + head_dim];
            let column = keys_t[j..].as_mut_ptr();
            for (d, &x) in key.iter().enumerate() {
                // SAFETY: j < seq_len (`take`) and d < head_dim, so j + d·seq_len <
                // head_dim·seq_len, the length of `keys_t`.
                unsafe { *column.add(d * seq_len) = x };
            }
        }
        // Packed V rows: the rows of `qkv` are `3 · hidden` floats apart, a stride that maps
        // a long sequence's V rows onto a few L1 sets.
        for (j, row) in values.chunks_exact_mut(head_dim).enumerate() {
            row.copy_from_slice(&qkv[j * stride + v_off..][..head_dim]);
        }
        let head = Head {
            qkv: qkv.as_ptr(),
            stride,
            q_off,
            values: values.as_ptr(),
            keys_t: keys_t.as_ptr(),
            seq_len,
            head_dim,
            scores: scores.as_mut_ptr(),
            scale,
            out: out.as_mut_ptr(),
            out_stride,
            out_off: slot * head_dim,
        };
        // SAFETY: every block reads rows below seq_len and heads below `heads` (checked by the
        // public entry), writes rows below seq_len of `out` at this head's slot (inside
        // out_stride), and uses at most QUERY_BLOCK rows of scores (asserted above); ISA per
        // contract.
        unsafe {
            let i = if V::REGISTERS >= 32 {
                query_blocks::<V, 8>(&head, 0)
            } else {
                query_blocks::<V, 6>(&head, 0)
            };
            let i = query_blocks::<V, 4>(&head, i);
            let i = query_blocks::<V, 2>(&head, i);
            query_blocks::<V, 1>(&head, i);
        }
    }
}
