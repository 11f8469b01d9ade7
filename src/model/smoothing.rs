//! SmoothQuant factors, per input channel of every dense layer (computed by `calibrate.rs` or
//! read from a quantised file), which the int8 dense layers fold into their weights.

use super::names::Dense;

/// The smoothing factors of every dense layer: `[layer][slot][p]`, slots in [`Dense::ALL`]
/// order, `k` factors each.
pub(crate) struct Smoothing(pub(crate) Vec<Vec<Vec<f32>>>);

impl Smoothing {
    /// The factors of dense layer `dense` of encoder layer `layer`.
    pub(crate) fn factors(&self, layer: usize, dense: Dense) -> &[f32] {
        let slot = Dense::ALL.iter().position(|&d| d == dense).unwrap_or(0);
        &self.0[layer][slot]
    }
}
