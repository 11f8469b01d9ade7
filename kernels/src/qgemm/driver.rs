//! The int8 GEMM driver shared by the SIMD paths; each path brings its row quantiser and tiles.
//!
//! Rows of `A` go in groups of at most [`Int8Tiles::MR`], each quantised into its own small
//! packed block (`steps x rows x 4` values, step-major, so a tile broadcasts each row's 4 values
//! of a step from constant offsets). Blocking, from the CPU's cache sizes as for f32: the groups
//! of a row block (about a quarter of L2 of packed `A`) are quantised once, then every block of
//! weight panels (about half of L2) is swept by all of them, so a weight matrix larger than L2
//! (the feed-forward ones in i16 form, 1.2 MB) streams from L3 once per row block rather than
//! once per group. No `k` blocking: a group's block is at most `MR x k x 2` bytes.

use super::{QuantizedWeights, RowQuant};
use crate::gemm::blocked::Finish;
use crate::gemm::{Epilogue, GemmBlocking, Output};
use crate::workspace::Workspace;

/// One row group against a range of weight panels.
///
/// Pointer contract (the driver upholds it, the tiles rely on it):
/// - `a` holds `steps * rows * 4` values of [`Int8Tiles::VALUE_BYTES`] bytes each
///   (`a[(s * rows + i) * 4 + t]` is `u` of row `i` at `k` index `4s + t`, 0 past `k`), and
///   stays readable (initialised, its values unused) up to `steps * Int8Tiles::MR * 4` values,
///   the size of the block: a tile may load a whole register's worth of a step's rows at once;
/// - `w` starts `panels` panels `panel_stride` bytes apart, each `steps` steps of
///   `PANEL * 4` values of `VALUE_BYTES` bytes;
/// - `col_sums` and `scales` hold `panels * PANEL` values (zero-padded past `n`);
/// - `c` reaches `rows` rows of `ldc` floats with `cols` writable from each, and `bias` (unless
///   null) `cols` floats, where `cols <= panels * PANEL` counts the real columns of the range.
pub(crate) struct Job<'a> {
    pub rows: usize,
    pub a: *const u8,
    pub steps: usize,
    pub params: &'a [RowQuant],
    pub w: *const i8,
    pub panel_stride: usize,
    pub panels: usize,
    pub col_sums: *const i32,
    pub scales: *const f32,
    pub c: *mut f32,
    pub ldc: usize,
    pub cols: usize,
    pub bias: *const f32,
    pub finish: Finish,
}

/// One ISA's int8 row quantiser and tiles.
///
/// # Safety
/// The methods use the ISA's intrinsics: they may run only on a CPU with them, and only with
/// arguments that keep their stated contracts.
pub(crate) unsafe trait Int8Tiles {
    /// Output columns per weight panel (i32 lanes of one vector).
    const PANEL: usize;
    /// Most rows in a group.
    const MR: usize;
    /// Bytes per packed value of `A` and of the weights: 1 (u8 and s8, for `vpdpbusd`-style
    /// products), or 2 (both widened to i16 once, for `vpmaddwd`).
    const VALUE_BYTES: usize = 1;

    /// Quantises `rows` rows of `k` floats at `a` (row stride `k`), each value first multiplied
    /// by `smooth[p]` unless `smooth` is null, into the group block at `packed` (the
    /// [`Job::a`] layout, `steps = k.div_ceil(4)`), with each row's parameters in `params`,
    /// exactly as [`super::scalar::quantize_row`] does.
    ///
    /// # Safety
    /// `a` readable for `rows * k` floats, `smooth` null or readable for `k` floats, `packed`
    /// writable for `k.div_ceil(4) * rows * 4 * VALUE_BYTES` bytes, `params.len() >= rows`.
    unsafe fn quantize(
        a: *const f32,
        smooth: *const f32,
        k: usize,
        rows: usize,
        packed: *mut u8,
        params: &mut [RowQuant],
    );

    /// Runs every tile of the job (`rows` in `1..=MR`).
    ///
    /// # Safety
    /// The [`Job`] contract.
    unsafe fn row_group(job: &Job<'_>);
}

/// Row groups quantised ahead of a sweep over the weights, at most: bounds the stack array of
/// their parameters.
const MAX_BLOCK_GROUPS: usize = 32;

/// # Safety
/// The ISA of `T` is present; `w` was packed in `T::PANEL`-wide panels of `T::VALUE_BYTES`-byte
/// values; the [`Output`] contract holds for `out`.
#[inline(always)]
pub(crate) unsafe fn qgemm<T: Int8Tiles>(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    // `params` below holds 16 rows per group.
    const { assert!(T::MR <= 16) };
    debug_assert_eq!(w.panel, T::PANEL);
    debug_assert_eq!(w.widened, T::VALUE_BYTES == 2);
    let (n, k) = (w.n, w.k);
    if m == 0 || out.cols.is_empty() {
        return;
    }
    let steps = w.steps();
    let first_panel = out.cols.start / T::PANEL;
    let panels = out.cols.end.div_ceil(T::PANEL) - first_panel;
    let col0 = first_panel * T::PANEL;
    let panel_stride = steps * T::PANEL * 4 * T::VALUE_BYTES;
    let (bias, finish) = match epilogue {
        Epilogue::None => (std::ptr::null(), Finish::Plain),
        Epilogue::Bias(b) => (b.as_ptr(), Finish::Bias),
        Epilogue::BiasGelu(b) => (b.as_ptr(), Finish::BiasGelu),
        Epilogue::BiasResidual(b) => (b.as_ptr(), Finish::BiasResidual),
    };

    // Blocking: groups of a row block share one sweep over each block of weight panels.
    let blocking = GemmBlocking::current(T::MR);
    let group_bytes = steps * T::MR * 4 * T::VALUE_BYTES;
    let groups = m.div_ceil(T::MR);
    let block_groups = (blocking.a_block_bytes / group_bytes.max(1)).clamp(1, MAX_BLOCK_GROUPS);
    let block_panels = (blocking.weight_block_bytes / panel_stride.max(1)).max(1);

    // The row block's group blocks, back to back, in this thread's reusable f32 workspace (one
    // float per 4 bytes); each group's block is whole (`steps * MR * 4` values) whatever its
    // rows, as the Job contract wants.
    let group_floats = group_bytes / 4;
    let mut block = Workspace::take(block_groups.min(groups) * group_floats);
    let mut params = [RowQuant::default(); MAX_BLOCK_GROUPS * 16];
    let smooth = w
        .smooth_inv
        .as_ref()
        .map_or(std::ptr::null(), |m| m.as_ptr());
    let group_rows = |g: usize| (g * T::MR, T::MR.min(m - g * T::MR));
    for first in (0..groups).step_by(block_groups) {
        let last = (first + block_groups).min(groups);
        for g in first..last {
            let (row0, rows) = group_rows(g);
            let at = (g - first) * group_floats;
            // SAFETY: rows row0..row0+rows < m of `A` (row stride k); `smooth` null or k
            // floats; the group's block has `group_bytes` bytes at `at` floats in; `params`
            // has MR entries from (g - first) * MR (MR <= 16). The ISA is present (caller).
            unsafe {
                T::quantize(
                    a.as_ptr().add(row0 * k),
                    smooth,
                    k,
                    rows,
                    block.as_mut_ptr().add(at).cast::<u8>(),
                    &mut params[(g - first) * T::MR..],
                )
            };
        }
        for panel in (0..panels).step_by(block_panels) {
            let count = block_panels.min(panels - panel);
            let col = col0 + panel * T::PANEL;
            for g in first..last {
                let (row0, rows) = group_rows(g);
                let param0 = (g - first) * T::MR;
                let job = Job {
                    rows,
                    // SAFETY (these offsets): the group's block lies inside the workspace;
                    // panel `first_panel + panel` and column `col` lie inside the padded
                    // weights; row row0 < m, column col < n inside the `m x n` output.
                    a: unsafe { block.as_ptr().add((g - first) * group_floats).cast::<u8>() },
                    steps,
                    params: &params[param0..param0 + rows],
                    w: unsafe { w.data.as_ptr().add((first_panel + panel) * panel_stride) },
                    panel_stride,
                    panels: count,
                    col_sums: unsafe { w.col_sums.as_ptr().add(col) },
                    scales: unsafe { w.scales.as_ptr().add(col) },
                    c: unsafe { out.c.add(row0 * n + col) },
                    ldc: n,
                    cols: (count * T::PANEL).min(out.cols.end - col),
                    bias: if bias.is_null() {
                        bias
                    } else {
                        unsafe { bias.add(col) }
                    },
                    finish,
                };
                // SAFETY: the job keeps its contract: the group's block was filled for `rows`
                // rows, the panels exist in `w.data`, and the caller keeps the output contract.
                unsafe { T::row_group(&job) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::CacheSizes;
    use crate::gemm::blocked::tests::with_caches;
    use crate::{Epilogue, Isa, Kernels};

    /// Row and panel blocks of any size leave every output bit as it is: they only reorder
    /// whole (exact integer) dot products.
    #[test]
    fn results_do_not_depend_on_the_cache_sizes() {
        let (m, n, k) = (203, 301, 389);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 31.0)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 29.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 / 7.0 - 5.0).collect();
        for kernels in Kernels::available() {
            if kernels.isa() == Isa::Scalar {
                continue;
            }
            let q = kernels.quantize_weights(&w, n, k);
            let run = |l2: usize| {
                let sizes = CacheSizes {
                    l1d: 32 << 10,
                    l2,
                    l3: 0,
                    source: "test",
                };
                with_caches(sizes, || {
                    let mut c = vec![0.0f32; m * n];
                    kernels.qgemm(&a, m, &q, Epilogue::Bias(&bias), &mut c);
                    c
                })
            };
            let reference = run(64 << 20);
            for l2 in [4 << 10, 48 << 10, 512 << 10] {
                let same = run(l2)
                    .iter()
                    .zip(&reference)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{}: L2 {l2} changed the result", kernels.name());
            }
        }
    }
}
