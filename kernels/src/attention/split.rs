//! Attention of a whole batch across threads ([`crate::Kernels::attention_batch`]).
//!
//! Tasks are (sequence, group of heads). With enough sequences each task is one whole sequence
//! and writes its own rows of the output directly. With few sequences (one long text, or the
//! single short query of the latency case) each sequence's heads are split into groups; a task
//! then computes its heads' contexts into a per-thread buffer and copies them into its own
//! columns of the sequence's rows. Below a minimum of work per task it all runs on the calling
//! thread. Each head's arithmetic is the same whichever task runs it.

use std::ops::Range;

use super::AttentionFn;
use crate::parallel::SharedOutput;
use crate::workspace::Workspace;
use crate::{Kernels, TaskRunner};

/// Floating-point operations below which a task is not worth a hand-off (as for GEMM).
const MIN_TASK_FLOPS: usize = 256 << 10;

/// Tasks to aim for per thread, so that uneven sequences balance out.
const TASKS_PER_THREAD: usize = 3;

/// Attention flops of one head over `len` tokens (scores and weighted sum).
fn head_flops(len: usize, head_dim: usize) -> usize {
    4 * len * len * head_dim
}

/// Every sequence's attention; the public wrapper checked that `sequences` tile the rows and
/// that `hidden` is a multiple of `heads`.
pub(crate) fn run(
    attention: AttentionFn,
    qkv: &[f32],
    sequences: &[Range<usize>],
    heads: usize,
    hidden: usize,
    out: &mut [f32],
    runner: &dyn TaskRunner,
) {
    let head_dim = hidden / heads;
    let threads = runner.threads();
    let total: usize = sequences
        .iter()
        .map(|r| heads * head_flops(r.len(), head_dim))
        .sum();
    let count = sequences.len();
    // Head groups per sequence: enough tasks for every thread, none below the minimum work.
    let wanted = (threads * TASKS_PER_THREAD).min(total / MIN_TASK_FLOPS);
    let groups = if count == 0 || wanted <= count {
        1
    } else {
        wanted.div_ceil(count).min(heads)
    };
    let tasks = count * groups;
    let shared = SharedOutput(out.as_mut_ptr());
    let task = |t: usize| {
        let range = &sequences[t / groups];
        let len = range.len();
        if len == 0 {
            return;
        }
        let rows = &qkv[range.start * 3 * hidden..range.end * 3 * hidden];
        let scratch_len = Kernels::attention_scratch_len(len, head_dim);
        if groups == 1 {
            let mut scratch = Workspace::take(scratch_len);
            // SAFETY: the sequence's rows lie inside `out` (the ranges tile its rows) and no
            // other task touches them; `run` holds the unique borrow until all tasks return.
            let mine = unsafe {
                std::slice::from_raw_parts_mut(shared.get().add(range.start * hidden), len * hidden)
            };
            attention(rows, len, heads, 0, mine, &mut scratch);
            return;
        }
        let group = t % groups;
        let first = group * heads / groups;
        let count = (group + 1) * heads / groups - first;
        let width = count * head_dim;
        let mut buffer = Workspace::take(scratch_len + len * width);
        let (scratch, context) = buffer.split_at_mut(scratch_len);
        attention(rows, len, heads, first, context, scratch);
        for (i, row) in context.chunks_exact(width).enumerate() {
            // SAFETY: row `range.start + i` of `out`, columns of heads `first..first + count`:
            // inside `out`, and written by this task only.
            unsafe {
                let dst = shared
                    .get()
                    .add((range.start + i) * hidden + first * head_dim);
                std::ptr::copy_nonoverlapping(row.as_ptr(), dst, width);
            }
        }
    };
    if threads <= 1 || tasks <= 1 || total < 2 * MIN_TASK_FLOPS {
        (0..tasks).for_each(task);
    } else {
        runner.run(tasks, &task);
    }
}
