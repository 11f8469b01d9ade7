//! A dense layer's weights as the kernels want them: packed f32, or int8 (quantised at load
//! or read from a quantised file), straight from the mapped tensors.

use minilm_kernels::{AlignedF32, Kernels, PackedWeights, QuantizedWeights};

use crate::error::{Error, Result};
use crate::options::Precision;
use crate::weights::Tensors;

/// A dense layer: its weight, packed for the kernels, and its bias.
pub(crate) struct Linear {
    pub weight: Weight,
    pub bias: AlignedF32,
}

/// A dense layer's weight in the model's precision.
pub(crate) enum Weight {
    F32(PackedWeights),
    Int8(QuantizedWeights),
}

impl Weight {
    /// Packs (or quantises, with the smoothing factors `smooth` if any, and packs) an `n x k`
    /// weight whose rows come from `rows`.
    fn from_rows(
        kernels: &Kernels,
        precision: Precision,
        smooth: Option<&[f32]>,
        n: usize,
        k: usize,
        rows: &mut dyn FnMut(usize, &mut [f32]),
    ) -> Weight {
        match precision {
            Precision::Int8 => {
                Weight::Int8(kernels.quantize_weight_rows_smoothed(n, k, smooth, rows))
            }
            _ => Weight::F32(kernels.pack_weight_rows(n, k, rows)),
        }
    }

    pub(crate) fn k(&self) -> usize {
        match self {
            Weight::F32(w) => w.k(),
            Weight::Int8(w) => w.k(),
        }
    }
}

impl Linear {
    /// The `n x k` weight `{name}.weight`, packed straight from the file (no f32 copy of the
    /// whole matrix), and its bias.
    pub(crate) fn load(
        tensors: &Tensors<'_>,
        kernels: &Kernels,
        precision: Precision,
        smooth: Option<&[f32]>,
        name: &str,
        n: usize,
        k: usize,
    ) -> Result<Linear> {
        let bias = tensors.get(&format!("{name}.bias"), &[n])?;
        if tensors.is_quantized() {
            let t = tensors.int8(&format!("{name}.weight"), n, k)?;
            return Ok(Linear {
                weight: Weight::Int8(kernels.int8_weights(
                    n,
                    k,
                    &t.values,
                    &t.scales,
                    t.smooth.as_deref(),
                )),
                bias,
            });
        }
        let weight = tensors.find(&[&format!("{name}.weight")], &[n, k])?;
        let mut converted = Ok(());
        let packed = Weight::from_rows(kernels, precision, smooth, n, k, &mut |j, row| {
            if converted.is_ok() {
                converted = weight.convert(j * k, row);
            }
        });
        converted?;
        tensors.release(&weight);
        Ok(Linear {
            weight: packed,
            bias,
        })
    }

    /// Q, K and V as one product: their `h x h` weights stacked into one `3h x h` matrix (each
    /// part found and shape-checked before anything is packed), and their biases likewise.
    pub(crate) fn load_qkv(
        tensors: &Tensors<'_>,
        kernels: &Kernels,
        precision: Precision,
        smooth: Option<&[f32]>,
        prefix: &str,
        h: usize,
    ) -> Result<Linear> {
        if tensors.is_quantized() {
            let (mut values, mut scales) =
                (Vec::with_capacity(3 * h * h), Vec::with_capacity(3 * h));
            let mut smooth: Option<Option<Vec<f32>>> = None;
            let mut bias = AlignedF32::zeroed(3 * h);
            for (part, out) in ["query", "key", "value"]
                .into_iter()
                .zip(bias.chunks_mut(h.max(1)))
            {
                let name = format!("{prefix}.attention.self.{part}");
                let t = tensors.int8(&format!("{name}.weight"), h, h)?;
                // Q, K and V run as one product on one quantised input: one smoothing.
                match &smooth {
                    Some(first) if *first != t.smooth => {
                        return Err(Error::Safetensors {
                            path: tensors.path().to_owned(),
                            message: format!(
                                "{prefix}.attention.self: query, key and value must share one \
                                 smoothing (they take the same input)"
                            ),
                        })
                    }
                    _ => smooth = Some(t.smooth),
                }
                values.extend_from_slice(&t.values);
                scales.extend_from_slice(&t.scales);
                out.copy_from_slice(&tensors.get(&format!("{name}.bias"), &[h])?);
            }
            let smooth = smooth.flatten();
            return Ok(Linear {
                weight: Weight::Int8(kernels.int8_weights(
                    3 * h,
                    h,
                    &values,
                    &scales,
                    smooth.as_deref(),
                )),
                bias,
            });
        }
        let mut weights = Vec::with_capacity(3);
        let mut bias = AlignedF32::zeroed(3 * h);
        for (part, out) in ["query", "key", "value"]
            .into_iter()
            .zip(bias.chunks_mut(h.max(1)))
        {
            let name = format!("{prefix}.attention.self.{part}");
            weights.push(tensors.find(&[&format!("{name}.weight")], &[h, h])?);
            out.copy_from_slice(&tensors.get(&format!("{name}.bias"), &[h])?);
        }
        let mut converted = Ok(());
        let packed = Weight::from_rows(kernels, precision, smooth, 3 * h, h, &mut |j, row| {
            if converted.is_ok() {
                converted = weights[j / h].convert((j % h) * h, row);
            }
        });
        converted?;
        for weight in &weights {
            tensors.release(weight);
        }
        Ok(Linear {
            weight: packed,
            bias,
        })
    }
}
