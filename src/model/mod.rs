//! Model forward passes.

pub(crate) mod bert;
pub(crate) mod linear;
pub(crate) mod names;
pub(crate) mod smoothing;
