//! Splitting one product across threads ([`crate::Kernels::gemm_parallel`]).
//!
//! - **Many rows**: contiguous row blocks, one per thread; each thread packs its own rows and
//!   streams all the weights through its own L2.
//! - **Few rows** (one short sentence): slices of the weight panels, one per thread; every
//!   thread reads all of the (tiny) `A` but only its share of the weights, which is what bounds
//!   the latency case, and writes its own columns of `C`.
//! - **Too little work** for a hand-off to pay: the calling thread alone.
//!
//! Every output element is computed by the same chain of operations whichever way the product
//! is cut (the tiles guarantee it for any row group or panel range), so results do not depend
//! on the thread count.

use super::{Epilogue, Output, PackedWeights};
use crate::dispatch::GemmFn;
use crate::parallel::SharedOutput;
use crate::TaskRunner;

/// Below this many floating-point operations per task, handing work to another thread costs
/// more than it saves: a hand-off to a rayon worker measured 2-10 µs here, and 256 KFLOP take
/// 2-5 µs on one core. Small as that is, a product whose weights overflow one core's L2 but fit
/// in two gains more than the hand-off costs (`kernels/DESIGN.md`).
const MIN_TASK_FLOPS: usize = 256 << 10;

/// Row-block tasks per thread: more, smaller tasks than threads let a thread that runs faster (a
/// shared host's cores do not run at one speed) take a larger share. Column slices are one per
/// thread: each task packs all of `A` again, which only parallel tasks hide.
const TASKS_PER_THREAD: usize = 3;

/// Row blocks need at least this many rows per task; below it the weights would be streamed
/// once per task for little arithmetic, so the columns are split instead.
const MIN_ROWS_PER_TASK: usize = 32;

/// Part `i` of `n` split into `parts` runs as even as possible, as a range.
fn even_part(n: usize, parts: usize, i: usize) -> std::ops::Range<usize> {
    let (base, longer) = (n / parts, n % parts);
    let start = i * base + i.min(longer);
    start..start + base + usize::from(i < longer)
}

/// `C = epilogue(A · Wᵀ)` across `runner`'s threads; the public wrapper checked the lengths.
pub(crate) fn run(
    gemm: GemmFn,
    a: &[f32],
    m: usize,
    w: &PackedWeights,
    epilogue: Epilogue<'_>,
    c: &mut [f32],
    runner: &dyn TaskRunner,
) {
    let (n, k) = (w.n, w.k);
    let threads = runner.threads();
    let tasks = (threads * TASKS_PER_THREAD).min(2 * m * n * k / MIN_TASK_FLOPS);
    let row_tasks = tasks.min(m / MIN_ROWS_PER_TASK);
    let shared = SharedOutput(c.as_mut_ptr());
    if threads <= 1 || tasks <= 1 {
        // SAFETY: `c` is `m x n` and uniquely borrowed for the call.
        unsafe {
            gemm(
                a,
                m,
                w,
                epilogue,
                Output {
                    c: shared.get(),
                    cols: 0..n,
                },
            )
        };
    } else if row_tasks >= threads {
        runner.run(row_tasks, &|t| {
            let rows = even_part(m, row_tasks, t);
            let out = Output {
                // SAFETY: rows.start < m, so the offset stays inside the `m x n` output.
                c: unsafe { shared.get().add(rows.start * n) },
                cols: 0..n,
            };
            // SAFETY: the task's rows are `rows.len()` rows of `C` that no other task writes,
            // and `run` holds the unique borrow of `C` until every task has returned.
            unsafe {
                gemm(
                    &a[rows.start * k..rows.end * k],
                    rows.len(),
                    w,
                    epilogue,
                    out,
                )
            };
        });
    } else {
        let width = w.panel_width();
        let panels = n.div_ceil(width);
        let tasks = tasks.min(threads).min(panels);
        runner.run(tasks, &|t| {
            let part = even_part(panels, tasks, t);
            let out = Output {
                c: shared.get(),
                cols: part.start * width..(part.end * width).min(n),
            };
            // SAFETY: the task's columns start on a panel boundary and no other task writes
            // them; `run` holds the unique borrow of `C` until every task has returned.
            unsafe { gemm(a, m, w, epilogue, out) };
        });
    }
}
