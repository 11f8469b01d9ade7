//! The dense layers of an encoder layer: their tensor names and shapes.

use crate::config::BertConfig;

/// The four dense layers of an encoder layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dense {
    Qkv,
    AttentionOut,
    Intermediate,
    Output,
}

impl Dense {
    pub(crate) const ALL: [Dense; 4] = [
        Dense::Qkv,
        Dense::AttentionOut,
        Dense::Intermediate,
        Dense::Output,
    ];

    /// The tensor names (without `.weight`) of the dense layer in encoder layer `layer`.
    pub(crate) fn names(self, layer: usize) -> Vec<String> {
        let prefix = format!("encoder.layer.{layer}");
        match self {
            Dense::Qkv => ["query", "key", "value"]
                .iter()
                .map(|part| format!("{prefix}.attention.self.{part}"))
                .collect(),
            Dense::AttentionOut => vec![format!("{prefix}.attention.output.dense")],
            Dense::Intermediate => vec![format!("{prefix}.intermediate.dense")],
            Dense::Output => vec![format!("{prefix}.output.dense")],
        }
    }
}

/// `(n, k)` of a dense layer's weight (Q, K and V each `h x h`).
pub(crate) fn dense_shape(config: &BertConfig, dense: Dense) -> (usize, usize) {
    let (h, inner) = (config.hidden_size, config.intermediate_size);
    match dense {
        Dense::Qkv | Dense::AttentionOut => (h, h),
        Dense::Intermediate => (inner, h),
        Dense::Output => (h, inner),
    }
}
