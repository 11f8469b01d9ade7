//! Model forward passes.

pub(crate) mod bert;
mod pool_tasks;
