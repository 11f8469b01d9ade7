//! The int8 GEMM driver shared by the SIMD paths; each path brings its row quantiser and tiles.
//!
//! Rows of `A` go in groups of at most [`Int8Tiles::MR`]: a group is quantised into a small
//! packed block (`steps x rows x 4` bytes, step-major, so a tile broadcasts each row's 4 bytes of
//! a step from constant offsets), then its tiles sweep the call's weight panels. No `k` blocking:
//! a group's block is at most `MR x k` bytes (12 KiB for `k = 1536`), and every int8 weight
//! matrix of the model (at most 1536 x 384 bytes) stays in L2 across the groups.

use super::{QuantizedWeights, RowQuant};
use crate::gemm::blocked::Finish;
use crate::gemm::{Epilogue, Output};
use crate::workspace::Workspace;

/// One row group against a range of weight panels.
///
/// Pointer contract (the driver upholds it, the tiles rely on it):
/// - `a` holds `steps * rows * 4` bytes (`a[(s * rows + i) * 4 + t]` is `u` of row `i` at
///   `k` index `4s + t`, 0 past `k`), and stays readable (initialised, its values unused) up to
///   `steps * Int8Tiles::MR * 4` bytes, the size of the block: a tile may load a whole
///   register's worth of a step's rows at once;
/// - `w` starts `panels` panels `panel_stride` bytes apart, each `steps` steps of `PANEL * 4`;
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

    /// Quantises `rows` rows of `k` floats at `a` (row stride `k`), each value first multiplied
    /// by `smooth[p]` unless `smooth` is null, into the group block at `packed` (the
    /// [`Job::a`] layout, `steps = k.div_ceil(4)`), with each row's parameters in `params`,
    /// exactly as [`super::scalar::quantize_row`] does.
    ///
    /// # Safety
    /// `a` readable for `rows * k` floats, `smooth` null or readable for `k` floats, `packed`
    /// writable for `k.div_ceil(4) * rows * 4` bytes, `params.len() >= rows`.
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

/// # Safety
/// The ISA of `T` is present; `w` was packed in `T::PANEL`-wide panels; the [`Output`]
/// contract holds for `out`.
#[inline(always)]
pub(crate) unsafe fn qgemm<T: Int8Tiles>(
    a: &[f32],
    m: usize,
    w: &QuantizedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    debug_assert_eq!(w.panel, T::PANEL);
    let (n, k) = (w.n, w.k);
    if m == 0 || out.cols.is_empty() {
        return;
    }
    let steps = w.steps();
    let first_panel = out.cols.start / T::PANEL;
    let panels = out.cols.end.div_ceil(T::PANEL) - first_panel;
    let col0 = first_panel * T::PANEL;
    let panel_stride = steps * T::PANEL * 4;
    let (bias, finish) = match epilogue {
        Epilogue::None => (std::ptr::null(), Finish::Plain),
        Epilogue::Bias(b) => (b.as_ptr(), Finish::Bias),
        Epilogue::BiasGelu(b) => (b.as_ptr(), Finish::BiasGelu),
        Epilogue::BiasResidual(b) => (b.as_ptr(), Finish::BiasResidual),
    };
    // The group block, `steps * MR * 4` bytes, in this thread's reusable f32 workspace (one
    // float per 4 bytes).
    // All `steps * MR * 4` bytes, whatever the group's rows: the Job contract keeps them readable.
    let mut block = Workspace::take(steps * T::MR);
    let packed = block.as_mut_ptr().cast::<u8>();
    let mut params = [RowQuant::default(); 16];
    let smooth = w
        .smooth_inv
        .as_ref()
        .map_or(std::ptr::null(), |m| m.as_ptr());
    let mut g = 0;
    while g < m {
        let rows = T::MR.min(m - g);
        // SAFETY: rows g..g+rows < m of `A` (row stride k); `smooth` null or k floats; the
        // block has `steps * MR * 4` bytes; `params` has 16 >= MR entries. The ISA is present
        // (caller).
        unsafe { T::quantize(a.as_ptr().add(g * k), smooth, k, rows, packed, &mut params) };
        let job = Job {
            rows,
            a: packed,
            steps,
            params: &params[..rows],
            // SAFETY (these offsets): panel `first_panel` and column `col0` lie inside the
            // padded weights, and row g < m, column col0 < n inside the `m x n` output.
            w: unsafe { w.data.as_ptr().add(first_panel * panel_stride) },
            panel_stride,
            panels,
            col_sums: unsafe { w.col_sums.as_ptr().add(col0) },
            scales: unsafe { w.scales.as_ptr().add(col0) },
            c: unsafe { out.c.add(g * n + col0) },
            ldc: n,
            cols: out.cols.end - col0,
            bias: if bias.is_null() {
                bias
            } else {
                unsafe { bias.add(col0) }
            },
            finish,
        };
        // SAFETY: the job keeps its contract: the block was just filled for `rows` rows, the
        // panels `first_panel..` exist in `w.data`, and the caller keeps the output contract.
        unsafe { T::row_group(&job) };
        g += rows;
    }
}
