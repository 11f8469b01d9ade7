//! SmoothQuant calibration: per input channel of every dense layer, the factor that moves part
//! of the activations' range into the weights before both are quantised. Shared by
//! [`crate::quantize_model`] (which stores the factors in the file) and [`crate::Precision::Int8`]
//! on an f32 model (which calibrates at load, on fewer texts).

use crate::config::BertConfig;
use crate::error::Result;
use crate::model::names::{dense_shape, Dense};
use crate::model::smoothing::Smoothing;
use crate::runner::Runner;
use crate::text_plan::Planner;
use crate::weights::Tensors;

/// SmoothQuant's migration strength: the share of each channel's activation range moved into
/// the weights.
const SMOOTHING_ALPHA: f32 = 0.5;

/// Pairs of the STS-B dev split whose sentences are the built-in calibration texts.
const CALIBRATION_PAIRS: usize = 300;

/// Texts quantising at load calibrates on: the first of the built-in ones. On the reference
/// texts (before the factors were put on a grid), 32 gave min / mean cosine 0.9963 / 0.9991
/// against 0.9964 / 0.9992 for all 600, and 16 gave 0.9948 / 0.9990; on the grid, 32 give
/// 0.99635 / 0.99905. The f32 pass over them is a few tens of milliseconds.
pub(crate) const AT_LOAD_TEXTS: usize = 32;

/// The built-in calibration texts: both sentences of each of the first 300 STS-B dev pairs.
pub(crate) fn builtin_texts() -> Vec<String> {
    const STSB_DEV: &str = include_str!("../tests/data/stsb/stsb-en-dev.csv");
    let mut texts = Vec::new();
    for line in STSB_DEV.lines().take(CALIBRATION_PAIRS) {
        // `sentence1,sentence2,score`, with CSV quoting.
        let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        texts.extend(fields.into_iter().take(2));
    }
    texts
}

/// Steps of the factors' grid per octave.
const GRID_STEPS_PER_OCTAVE: f32 = 4.0;

/// `m` rounded to the nearest power of `2^(1/4)`: the calibration pass runs in f32, whose last
/// bits differ between kernel paths, and factors on a grid absorb those differences (a factor
/// changes only if its exact value lies within about 1e-6 of a grid midpoint).
fn on_grid(m: f32) -> f32 {
    ((m.log2() * GRID_STEPS_PER_OCTAVE).round() / GRID_STEPS_PER_OCTAVE).exp2()
}

/// SmoothQuant factors calibrated on `texts` (cut as `planner` cuts them) run through `f32`
/// (an f32 runner of the model whose weights `tensors` holds): `m_p = sqrt(max |x_p| /
/// max_j |w_jp|)` (strength 0.5) per input channel, over the tokens of the texts and the rows
/// of the weights (Q, K and V together: they share their input), clamped to `1e-3..=1e3` and
/// rounded to the grid ([`on_grid`]), 1 where undefined.
pub(crate) fn smoothing(
    f32: &Runner,
    planner: &Planner,
    tensors: &Tensors<'_>,
    config: &BertConfig,
    texts: &[&str],
) -> Result<Smoothing> {
    let maxima = f32.dense_input_maxima(planner, texts)?;
    let mut layers = Vec::with_capacity(config.num_layers);
    for (layer, maxima) in maxima.iter().enumerate() {
        let mut slots = Vec::with_capacity(Dense::ALL.len());
        for (dense, x_max) in Dense::ALL.into_iter().zip(maxima) {
            let (n, k) = dense_shape(config, dense);
            let mut weight_max = vec![0.0f32; k];
            let mut row = vec![0.0f32; k];
            for name in dense.names(layer) {
                let weight = tensors.find(&[&format!("{name}.weight")], &[n, k])?;
                for j in 0..n {
                    weight.convert(j * k, &mut row)?;
                    for (m, &w) in weight_max.iter_mut().zip(&row) {
                        *m = m.max(w.abs());
                    }
                }
            }
            let factors = x_max
                .iter()
                .zip(&weight_max)
                .map(|(&x, &w)| {
                    let m = x.powf(SMOOTHING_ALPHA) / w.powf(1.0 - SMOOTHING_ALPHA);
                    if m.is_finite() && m > 0.0 {
                        on_grid(m.clamp(1e-3, 1e3))
                    } else {
                        1.0
                    }
                })
                .collect();
            slots.push(factors);
        }
        layers.push(slots);
    }
    Ok(Smoothing(layers))
}
