//! How kernels that split their work reach the caller's threads.
//!
//! The kernels own no threads and depend on no thread pool: a caller that wants a product
//! spread over threads passes a [`TaskRunner`] (the engine passes its [`crate::team::Team`]; a
//! rayon pool works too, as the benches show).
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

/// An output buffer shared with the tasks of one split kernel call, each of which writes only
/// its own disjoint elements (rows, columns or heads) while the call holds the unique borrow of
/// the buffer and waits for every task.
#[derive(Clone, Copy)]
pub(crate) struct SharedOutput(pub(crate) *mut f32);

// SAFETY: the pointer is dereferenced only inside a split call's tasks, each on elements no
// other task touches, while the call holds the buffer's unique borrow until all tasks return.
unsafe impl Send for SharedOutput {}
// SAFETY: as above.
unsafe impl Sync for SharedOutput {}

impl SharedOutput {
    /// The pointer (a method, so that closures capture the whole wrapper, not its field).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}
