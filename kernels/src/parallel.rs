//! How kernels that split their work reach the caller's threads.
//!
//! The crate owns no threads and depends on no thread pool: a caller that wants a product
//! spread over threads passes a [`TaskRunner`] (the engine's wraps its private rayon pool).
//! Kernels decide how to cut the work; the runner only runs the pieces.

/// Runs independent tasks, possibly at the same time, and returns when all are done.
pub trait TaskRunner: Sync {
    /// How many threads the tasks may spread over (at least 1).
    fn threads(&self) -> usize;

    /// Calls `task(i)` once for every `i` in `0..tasks`, in any order, on any threads.
    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync));
}

/// Runs every task on the calling thread, one after another.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sequential;

impl TaskRunner for Sequential {
    fn threads(&self) -> usize {
        1
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        (0..tasks).for_each(task);
    }
}
