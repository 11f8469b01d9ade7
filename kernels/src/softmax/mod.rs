//! Scaled softmax over one row.

pub(crate) mod scalar;

use crate::Kernels;

impl Kernels {
    /// `x = softmax(scale · x)` in place. An empty row is left alone.
    pub fn softmax(&self, x: &mut [f32], scale: f32) {
        (self.softmax)(x, scale)
    }
}
