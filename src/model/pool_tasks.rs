//! The kernels' [`TaskRunner`] on the current rayon pool (the embedder's own, inside
//! `ThreadPool::install`).

use minilm_kernels::TaskRunner;
use rayon::prelude::*;

/// Runs kernel tasks on the rayon pool the calling thread belongs to.
pub(crate) struct PoolTasks;

impl TaskRunner for PoolTasks {
    fn threads(&self) -> usize {
        rayon::current_num_threads()
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        (0..tasks).into_par_iter().with_max_len(1).for_each(task);
    }
}
