//! [`quantize_model`]: an int8 copy of a model directory that loads directly, smaller on disk
//! and quicker to start than quantising at every load.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use minilm_kernels::qgemm::quantize_weight_row;
use safetensors::{Dtype, View};

use crate::calibrate::{builtin_texts, AT_LOAD_TEXTS};
use crate::config::{io_error, BertConfig, SentenceConfig};
use crate::error::{Error, Result};
use crate::model::names::{dense_shape, Dense};
use crate::weights::{WeightFile, QUANTIZATION_KEY, QUANTIZATION_SCHEME};
use crate::{Embedder, Options, Precision};

/// What [`quantize_model`] wrote.
#[derive(Clone, Debug)]
pub struct QuantizeSummary {
    /// Dense-layer weights stored as int8 (six per encoder layer: Q, K, V, attention output,
    /// intermediate, output).
    pub quantized_tensors: usize,
    /// Size of the source `model.safetensors`, in bytes.
    pub input_bytes: u64,
    /// Size of the written `model.safetensors`, in bytes.
    pub output_bytes: u64,
}

/// Where the activation statistics for smoothing come from.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub enum Calibration<'a> {
    /// 600 built-in sentences (the first 300 pairs of the STS Benchmark dev split).
    #[default]
    BuiltIn,
    /// The first 32 of the built-in sentences: what [`crate::Precision::Int8`] calibrates with
    /// when it quantises an f32 model at load, so the file computes what that does.
    AtLoad,
    /// The caller's texts (a few hundred typical inputs are plenty).
    Texts(&'a [&'a str]),
    /// No smoothing.
    None,
}

/// Files and folders of a model directory that hold weights in other formats: not copied.
const OTHER_WEIGHTS: [&str; 9] = [
    "bin",
    "onnx",
    "h5",
    "msgpack",
    "ot",
    "pt",
    "pth",
    "safetensors",
    "xml",
];

/// Writes an int8 copy of the model directory `src` into `dst` (created if needed): every
/// dense-layer weight of the encoder as int8 values with one f32 scale per output channel
/// (symmetric: `scale = max |w| / 127`), the word-embedding table likewise with one scale per
/// row (read in place at load: the all-MiniLM-L6-v2 file goes from 90.9 to about 23 MB), every
/// other tensor unchanged, the scheme named in the file's metadata; and the directory's other
/// files (config, tokenizer, pooling) copied.
/// [`crate::Embedder::from_dir`] on `dst` then runs in int8.
///
/// With `calibration` (default: built-in texts), each dense layer is smoothed first
/// (SmoothQuant, strength 0.5): `src` runs in f32 over the texts, and each input channel `p`
/// gets the factor `m_p = sqrt(max |x_p| / max_j |w_jp|)`; the weights are quantised times
/// `m_p`, the activations divided by it before theirs. Channels with outlying activations (BERT
/// has a few) then cost the other channels less resolution. The factors are stored with the
/// weights (`{name}.weight_smooth`). With [`Calibration::AtLoad`] the file holds exactly what
/// [`crate::Precision::Int8`] computes when it quantises an f32 model at load (on the same
/// kernel path: the calibration pass runs in f32, whose last bits differ between paths).
///
/// The weights file is written under a temporary name and renamed, so a failed run never
/// leaves a half-written `model.safetensors`.
///
/// ```
/// use minilm::{Calibration, Embedder, Options, Precision};
///
/// let dst = std::env::temp_dir().join(format!("minilm-int8-doc-{}", std::process::id()));
/// // Calibration::None is quickest; Calibration::BuiltIn gives the best quality.
/// let summary = minilm::quantize_model(minilm::default_model_dir()?, &dst, Calibration::None)?;
/// assert_eq!(summary.quantized_tensors, 6 * 6); // six dense weights in each of six layers
/// assert!(summary.output_bytes < summary.input_bytes);
/// let int8 = Embedder::from_dir(&dst, &Options::default())?;
/// assert_eq!(int8.precision(), Precision::Int8);
/// # std::fs::remove_dir_all(&dst).ok();
/// # Ok::<(), minilm::Error>(())
/// ```
pub fn quantize_model(
    src: impl AsRef<Path>,
    dst: impl AsRef<Path>,
    calibration: Calibration<'_>,
) -> Result<QuantizeSummary> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    if !src.is_dir() {
        return Err(Error::ModelNotFound {
            tried: vec![format!("directory {} (does not exist)", src.display())],
        });
    }
    let same = match (src.canonicalize(), dst.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::InvalidOption(
            "the output directory must differ from the model directory".into(),
        ));
    }
    let config = BertConfig::from_file(&src.join("config.json"))?;
    SentenceConfig::from_dir(src)?;
    let source_path = src.join("model.safetensors");
    let source = WeightFile::open(&source_path)?;
    let tensors = source.tensors()?;
    if tensors.is_quantized() {
        return Err(Error::InvalidOption(format!(
            "{} is already quantised",
            source_path.display()
        )));
    }

    // Smoothing factors per layer and dense layer, from an f32 run over the texts.
    let smoothing = match calibration {
        Calibration::None => None,
        Calibration::BuiltIn | Calibration::AtLoad | Calibration::Texts(_) => {
            let builtin = builtin_texts();
            let texts: Vec<&str> = match calibration {
                Calibration::Texts(texts) => texts.to_vec(),
                Calibration::AtLoad => builtin[..AT_LOAD_TEXTS]
                    .iter()
                    .map(String::as_str)
                    .collect(),
                _ => builtin.iter().map(String::as_str).collect(),
            };
            let embedder = Embedder::from_dir(src, &Options::default().precision(Precision::F32))?;
            Some(crate::calibrate::smoothing(
                &embedder.runner,
                &embedder.planner,
                &tensors,
                &config,
                &texts,
            )?)
        }
    };

    // The dense weights, by name without the file's prefix: (n, k, smoothing factors).
    let mut dense: HashMap<String, (usize, usize, Option<&[f32]>)> = HashMap::new();
    for layer in 0..config.num_layers {
        for kind in Dense::ALL {
            let (n, k) = dense_shape(&config, kind);
            let smooth = smoothing.as_ref().map(|s| s.factors(layer, kind));
            for name in kind.names(layer) {
                dense.insert(name + ".weight", (n, k, smooth));
            }
        }
    }

    let mut out: Vec<(String, Tensor<'_>)> = Vec::new();
    for (name, dtype, shape, data) in tensors.all() {
        let short = name.strip_prefix(tensors.prefix()).unwrap_or(&name);
        if short == WORD_EMBEDDINGS {
            // int8 rows, one symmetric scale each: a quarter of the f32 table's bytes.
            let (vocab, h) = (config.vocab_size, config.hidden_size);
            let (values, scales) = quantize_rows(&tensors, short, vocab, h, None, &source_path)?;
            out.extend(int8_tensors(&name, values, scales, None, h));
            continue;
        }
        let Some((n, k, smooth)) = dense.get(short) else {
            out.push((name, Tensor::borrowed(dtype, shape, data)));
            continue;
        };
        let (values, scales) =
            quantize_rows(&tensors, short, *n, *k, smooth.as_deref(), &source_path)?;
        out.extend(int8_tensors(&name, values, scales, smooth.as_deref(), *k));
    }

    std::fs::create_dir_all(dst).map_err(|e| io_error(dst, e))?;
    copy_model_files(src, dst)?;
    // Collected into whichever map type the safetensors build takes.
    let metadata = [
        (QUANTIZATION_KEY.to_owned(), QUANTIZATION_SCHEME.to_owned()),
        ("format".to_owned(), "pt".to_owned()),
    ]
    .into_iter()
    .collect();
    let target = dst.join("model.safetensors");
    let partial = dst.join("model.safetensors.partial");
    let bytes = safetensors::serialize(out, Some(metadata)).map_err(|e| Error::Safetensors {
        path: partial.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&partial, bytes).map_err(|e| io_error(&partial, e))?;
    std::fs::rename(&partial, &target).map_err(|e| io_error(&target, e))?;
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| io_error(path, e))
    };
    Ok(QuantizeSummary {
        quantized_tensors: dense.len(),
        input_bytes: size(&source_path)?,
        output_bytes: size(&target)?,
    })
}

/// The word-embedding table's name (without the file's prefix).
const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// The `n x k` tensor `name`, each row multiplied by `smooth` (if any) and quantised with its
/// own symmetric scale: (row-major values, scales).
fn quantize_rows(
    tensors: &crate::weights::Tensors<'_>,
    name: &str,
    n: usize,
    k: usize,
    smooth: Option<&[f32]>,
    path: &Path,
) -> Result<(Vec<i8>, Vec<f32>)> {
    let weight = tensors.find(&[name], &[n, k])?;
    let mut values = vec![0i8; n * k];
    let mut scales = vec![0.0f32; n];
    let mut row = vec![0.0f32; k];
    for (j, scale) in scales.iter_mut().enumerate() {
        weight.convert(j * k, &mut row)?;
        if let Some(smooth) = smooth {
            row.iter_mut().zip(smooth).for_each(|(w, m)| *w *= m);
        }
        *scale = quantize_weight_row(&row, &mut values[j * k..(j + 1) * k]);
        if !scale.is_finite() {
            return Err(Error::Safetensors {
                path: path.to_owned(),
                message: format!("{name}: row {j} holds a value that is not finite"),
            });
        }
    }
    Ok((values, scales))
}

/// The tensors a quantised `name` is stored as: `{name}_scale` (F32 `[n]`), `{name}_smooth`
/// (F32 `[k]`, with smoothing) and `name` itself (I8 `[n, k]`).
fn int8_tensors(
    name: &str,
    values: Vec<i8>,
    scales: Vec<f32>,
    smooth: Option<&[f32]>,
    k: usize,
) -> Vec<(String, Tensor<'static>)> {
    let n = scales.len();
    let floats = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = vec![(
        format!("{name}_scale"),
        Tensor::owned(Dtype::F32, vec![n], floats(&scales)),
    )];
    if let Some(smooth) = smooth {
        out.push((
            format!("{name}_smooth"),
            Tensor::owned(Dtype::F32, vec![k], floats(smooth)),
        ));
    }
    let bytes = values.into_iter().map(|v| v as u8).collect();
    out.push((name.to_owned(), Tensor::owned(Dtype::I8, vec![n, k], bytes)));
    out
}

/// Copies the files of `src` (recursively) into `dst`, except weights in any format.
fn copy_model_files(src: &Path, dst: &Path) -> Result<()> {
    let entries = std::fs::read_dir(src).map_err(|e| io_error(src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(src, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let kind = entry.file_type().map_err(|e| io_error(&path, e))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let hidden = name.to_string_lossy().starts_with('.');
        if hidden || OTHER_WEIGHTS.contains(&ext) || name == "onnx" || name == "openvino" {
            continue;
        }
        let target = dst.join(&name);
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| io_error(&target, e))?;
            copy_model_files(&path, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&path, &target).map_err(|e| io_error(&target, e))?;
        }
    }
    Ok(())
}

/// A tensor to write: the source file's bytes, or new ones.
struct Tensor<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Cow<'a, [u8]>,
}

impl<'a> Tensor<'a> {
    fn borrowed(dtype: Dtype, shape: Vec<usize>, data: &'a [u8]) -> Tensor<'a> {
        Tensor {
            dtype,
            shape,
            data: Cow::Borrowed(data),
        }
    }

    fn owned(dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Tensor<'a> {
        Tensor {
            dtype,
            shape,
            data: Cow::Owned(data),
        }
    }
}

impl View for Tensor<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }

    fn data_len(&self) -> usize {
        self.data.len()
    }
}
