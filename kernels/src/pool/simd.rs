//! Pooling and L2 normalisation on any [`F32Vector`].

use crate::simd::F32Vector;

/// Applies `f` to each vector-wide column block `[i, i + n)` of the output, `n <= LANES`.
#[inline(always)]
fn for_column_blocks(width: usize, lanes: usize, mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    while i < width {
        let n = lanes.min(width - i);
        f(i, n);
        i += n;
    }
}

#[inline(always)]
unsafe fn load<V: F32Vector>(p: *const f32, n: usize, fill: f32) -> V {
    // SAFETY: the caller guarantees n readable floats and the ISA.
    unsafe {
        if n == V::LANES {
            V::load(p)
        } else {
            V::load_partial(p, n, fill)
        }
    }
}

#[inline(always)]
unsafe fn store<V: F32Vector>(v: V, p: *mut f32, n: usize) {
    // SAFETY: the caller guarantees n writable floats and the ISA.
    unsafe {
        if n == V::LANES {
            v.store(p)
        } else {
            v.store_partial(p, n)
        }
    }
}

/// # Safety
/// The CPU must have `V`'s ISA; `rows.len() == n_rows * out.len()`.
#[inline(always)]
pub(crate) unsafe fn mean_pool<V: F32Vector>(rows: &[f32], n_rows: usize, out: &mut [f32]) {
    let width = out.len();
    for_column_blocks(width, V::LANES, |i, n| {
        // SAFETY: column block [i, i + n) lies inside every row and inside out.
        unsafe {
            let mut sum = V::splat(0.0);
            for r in 0..n_rows {
                sum = sum.add(load::<V>(rows.as_ptr().add(r * width + i), n, 0.0));
            }
            // Divide (not multiply by a reciprocal), as sentence-transformers does.
            let count = V::splat(n_rows.max(1) as f32);
            store(sum.div(count), out.as_mut_ptr().add(i), n);
        }
    });
}

/// # Safety
/// As [`mean_pool`].
#[inline(always)]
pub(crate) unsafe fn max_pool<V: F32Vector>(rows: &[f32], n_rows: usize, out: &mut [f32]) {
    if n_rows == 0 {
        out.fill(0.0);
        return;
    }
    let width = out.len();
    for_column_blocks(width, V::LANES, |i, n| {
        // SAFETY: column block [i, i + n) lies inside every row and inside out.
        unsafe {
            let mut max = V::splat(f32::NEG_INFINITY);
            for r in 0..n_rows {
                max = max.max(load::<V>(rows.as_ptr().add(r * width + i), n, 0.0));
            }
            store(max, out.as_mut_ptr().add(i), n);
        }
    });
}

/// # Safety
/// The CPU must have `V`'s ISA.
#[inline(always)]
pub(crate) unsafe fn l2_normalize<V: F32Vector>(v: &mut [f32]) {
    let width = v.len();
    let mut squares = 0.0f32;
    for_column_blocks(width, V::LANES, |i, n| {
        // SAFETY: [i, i + n) lies inside v.
        unsafe {
            let x = load::<V>(v.as_ptr().add(i), n, 0.0);
            squares += x.mul(x).reduce_sum();
        }
    });
    let inv = 1.0 / squares.sqrt().max(1e-12);
    for_column_blocks(width, V::LANES, |i, n| {
        // SAFETY: [i, i + n) lies inside v.
        unsafe {
            let x = load::<V>(v.as_ptr().add(i), n, 0.0);
            store(x.mul(V::splat(inv)), v.as_mut_ptr().add(i), n);
        }
    });
}
