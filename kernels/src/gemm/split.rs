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

use std::ops::Range;

use super::Output;
use crate::parallel::SharedOutput;
use crate::TaskRunner;

/// Below this many floating-point operations per task, handing work to another thread costs
/// more than it saves: a hand-off to a rayon worker measured 2-10 µs here, and 256 KFLOP take
/// 2-5 µs on one core. Small as that is, a product whose weights overflow one core's L2 but fit
/// in two gains more than the hand-off costs (`kernels/DESIGN.md`).
pub(crate) const MIN_TASK_FLOPS: usize = 256 << 10;

/// Row-block tasks per thread: more, smaller tasks than threads let a thread that runs faster (a
/// shared host's cores do not run at one speed) take a larger share. Column slices are one per
/// thread: each task packs all of `A` again, which only parallel tasks hide.
const TASKS_PER_THREAD: usize = 3;

/// Row blocks need at least this many rows per task; below it the weights would be streamed
/// once per task for little arithmetic, so the columns are split instead.
const MIN_ROWS_PER_TASK: usize = 32;

/// Part `i` of `n` split into `parts` runs as even as possible, as a range.
fn even_part(n: usize, parts: usize, i: usize) -> Range<usize> {
    let (base, longer) = (n / parts, n % parts);
    let start = i * base + i.min(longer);
    start..start + base + usize::from(i < longer)
}

/// The shape of one product as the split sees it.
pub(crate) struct Product {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Output columns per weight panel: a column slice starts on a multiple.
    pub panel: usize,
    /// Floating-point (or integer) operations one hand-off must carry to pay for itself.
    pub min_task_ops: usize,
}

/// Runs `entry(rows, out)` over pieces of the `m x n` output `c` across `runner`'s threads;
/// `entry` computes rows `rows` of `C` (with `out.c` at the first of them) in the columns
/// `out.cols`. The public wrappers checked the lengths.
pub(crate) fn run(
    product: &Product,
    c: &mut [f32],
    runner: &dyn TaskRunner,
    entry: &(dyn Fn(Range<usize>, Output) + Sync),
) {
    let Product { m, n, k, .. } = *product;
    let threads = runner.threads();
    let tasks = (threads * TASKS_PER_THREAD).min(2 * m * n * k / product.min_task_ops.max(1));
    let row_tasks = tasks.min(m / MIN_ROWS_PER_TASK);
    let shared = SharedOutput(c.as_mut_ptr());
    if threads <= 1 || tasks <= 1 {
        entry(
            0..m,
            Output {
                c: shared.get(),
                cols: 0..n,
            },
        );
    } else if row_tasks >= threads {
        runner.run(row_tasks, &|t| {
            let rows = even_part(m, row_tasks, t);
            let out = Output {
                // SAFETY: rows.start < m, so the offset stays inside the `m x n` output.
                c: unsafe { shared.get().add(rows.start * n) },
                cols: 0..n,
            };
            // The task's rows are `rows.len()` rows of `C` that no other task writes, and
            // `run` holds the unique borrow of `C` until every task has returned.
            entry(rows, out);
        });
    } else {
        let width = product.panel;
        let panels = n.div_ceil(width);
        let tasks = tasks.min(threads).min(panels);
        runner.run(tasks, &|t| {
            let part = even_part(panels, tasks, t);
            let out = Output {
                c: shared.get(),
                cols: part.start * width..(part.end * width).min(n),
            };
            // The task's columns start on a panel boundary and no other task writes them;
            // `run` holds the unique borrow of `C` until every task has returned.
            entry(0..m, out);
        });
    }
}
