//! Model forward passes.

pub(crate) mod bert;
