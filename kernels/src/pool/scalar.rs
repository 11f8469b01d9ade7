//! Portable pooling and normalisation.

pub(crate) fn mean_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) {
    out.fill(0.0);
    if n_rows == 0 {
        return;
    }
    for row in rows.chunks_exact(out.len()) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    // Divide rather than multiply by a reciprocal: bit-for-bit what sentence-transformers does.
    let count = n_rows as f32;
    for o in out.iter_mut() {
        *o /= count;
    }
}

pub(crate) fn max_pool(rows: &[f32], n_rows: usize, out: &mut [f32]) {
    if n_rows == 0 {
        out.fill(0.0);
        return;
    }
    out.fill(f32::NEG_INFINITY);
    for row in rows.chunks_exact(out.len()) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o = o.max(v);
        }
    }
}

pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    let inv = (1.0 / norm.max(1e-12)) as f32;
    for x in v.iter_mut() {
        *x *= inv;
    }
}
