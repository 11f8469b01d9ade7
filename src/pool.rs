//! Token vectors to one sentence vector: the configured pooling modes, then optional L2
//! normalisation.

use minilm_kernels::Kernels;

use crate::config::Pooling;

/// Pools one sequence's `rows` (each `hidden` wide) into `out` (`hidden * modes` wide).
pub(crate) fn pool_sequence(
    kernels: &Kernels,
    pooling: Pooling,
    normalize: bool,
    rows: &[f32],
    hidden: usize,
    out: &mut [f32],
) {
    let n_rows = rows.len() / hidden;
    let mut parts = out.chunks_exact_mut(hidden);
    if pooling.cls {
        let part = parts.next().expect("output sized for every mode");
        match rows.get(..hidden) {
            Some(first) => part.copy_from_slice(first),
            None => part.fill(0.0),
        }
    }
    if pooling.max {
        kernels.max_pool(rows, parts.next().expect("output sized for every mode"));
    }
    if pooling.mean {
        kernels.mean_pool(rows, parts.next().expect("output sized for every mode"));
    }
    if pooling.mean_sqrt_len {
        let part = parts.next().expect("output sized for every mode");
        kernels.mean_pool(rows, part);
        let scale = (n_rows as f32).sqrt();
        part.iter_mut().for_each(|v| *v *= scale);
    }
    if normalize {
        kernels.l2_normalize(out);
    }
}
