//! Comparing embeddings: the cosine of two vectors, and the rows of a matrix nearest to a
//! query (what `minilm search` and a server's `/similarity` do).

/// The cosine of `a` and `b`, summed in f64: 0 when either is all zeros, NaN when either
/// holds a non-finite value. For normalised embeddings it equals their dot product to within
/// f32 rounding. Extra elements of the longer slice are ignored.
///
/// ```
/// assert_eq!(minilm::cosine(&[1.0, 0.0], &[1.0, 0.0]), 1.0);
/// assert_eq!(minilm::cosine(&[1.0, 0.0], &[0.0, 2.0]), 0.0);
/// assert_eq!(minilm::cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0); // no direction
/// ```
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norms = (aa * bb).sqrt();
    if !norms.is_finite() || dot.is_nan() {
        f32::NAN
    } else if norms > 0.0 {
        (dot / norms) as f32
    } else {
        0.0
    }
}

/// One row of a search's corpus and its cosine with the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The row's index in the corpus.
    pub index: usize,
    /// Its cosine with the query (see [`cosine`]).
    pub score: f32,
}

/// The `k` rows of `corpus` (row after row, `dim` floats each) nearest to `query` by cosine,
/// best first; equal scores keep corpus order, so the result is deterministic, and a NaN score
/// (a row with a non-finite value) ranks last. Fewer than `k` when the corpus is smaller; none
/// when `dim` is 0. A trailing partial row is ignored.
///
/// ```
/// let corpus = [1.0, 0.0, /* row 1 */ 0.6, 0.8, /* row 2 */ 0.0, 1.0];
/// let hits = minilm::top_k(&[0.0, 1.0], &corpus, 2, 2);
/// assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), [2, 1]);
/// assert!((hits[1].score - 0.8).abs() < 1e-6);
/// ```
pub fn top_k(query: &[f32], corpus: &[f32], dim: usize, k: usize) -> Vec<Hit> {
    if dim == 0 || k == 0 {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = corpus
        .chunks_exact(dim)
        .enumerate()
        .map(|(index, row)| Hit {
            index,
            score: cosine(query, row),
        })
        .collect();
    let key = |hit: &Hit| {
        if hit.score.is_nan() {
            f32::NEG_INFINITY
        } else {
            hit.score
        }
    };
    let best_first = |a: &Hit, b: &Hit| key(b).total_cmp(&key(a)).then(a.index.cmp(&b.index));
    if k < hits.len() {
        // Partition around the k-th best, then order only the k kept.
        hits.select_nth_unstable_by(k - 1, best_first);
        hits.truncate(k);
    }
    hits.sort_by(best_first);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_rows_rank_last() {
        let corpus = [
            f32::NAN,
            0.0,
            /* row 1 */ -1.0,
            0.0,
            /* row 2 */ f32::INFINITY,
            1.0,
        ];
        let hits = top_k(&[1.0, 0.0], &corpus, 2, 3);
        assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), [1, 0, 2]);
    }

    /// `top_k` equals a full stable sort cut to `k`, ties and all.
    #[test]
    fn top_k_is_a_cut_full_sort() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Few distinct values, so ties are common.
            ((seed >> 40) % 5) as f32 - 2.0
        };
        for rows in [0, 1, 2, 7, 40] {
            let dim = 3;
            let corpus: Vec<f32> = (0..rows * dim).map(|_| next()).collect();
            let query: Vec<f32> = (0..dim).map(|_| next()).collect();
            let mut all: Vec<Hit> = corpus
                .chunks_exact(dim)
                .enumerate()
                .map(|(index, row)| Hit {
                    index,
                    score: cosine(&query, row),
                })
                .collect();
            all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
            for k in [0, 1, 3, rows, rows + 5] {
                let expected = &all[..k.min(rows)];
                assert_eq!(
                    top_k(&query, &corpus, dim, k),
                    expected,
                    "rows {rows} k {k}"
                );
            }
        }
    }
}
