//! [`quantize_model`]: an int8 copy of a model directory that loads directly, smaller on disk
//! and quicker to start than quantising at every load.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use minilm_kernels::qgemm::quantize_weight_row;
use safetensors::{Dtype, View};

use crate::config::{io_error, BertConfig, SentenceConfig};
use crate::error::{Error, Result};
use crate::weights::{WeightFile, QUANTIZATION_KEY, QUANTIZATION_SCHEME};

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

/// Files and folders of a model directory that hold weights in other formats: not copied.
const OTHER_WEIGHTS: [&str; 9] = [
    "bin", "onnx", "h5", "msgpack", "ot", "pt", "pth", "safetensors", "xml",
];

/// Writes an int8 copy of the model directory `src` into `dst` (created if needed): every
/// dense-layer weight of the encoder as int8 values with one f32 scale per output channel
/// (symmetric: `scale = max |w| / 127`, the same values [`crate::Precision::Int8`] computes at
/// load), every other tensor unchanged, the scheme named in the file's metadata; and the
/// directory's other files (config, tokenizer, pooling) copied. [`crate::Embedder::from_dir`]
/// on `dst` then runs in int8 with the same embeddings as quantising `src` at load.
///
/// The weights file is written under a temporary name and renamed, so a failed run never
/// leaves a half-written `model.safetensors`.
pub fn quantize_model(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Result<QuantizeSummary> {
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

    // The dense weights, by name without the file's prefix, with their (n, k).
    let (h, inner) = (config.hidden_size, config.intermediate_size);
    let mut dense: HashMap<String, (usize, usize)> = HashMap::new();
    for layer in 0..config.num_layers {
        let prefix = format!("encoder.layer.{layer}");
        for part in ["query", "key", "value"] {
            dense.insert(format!("{prefix}.attention.self.{part}.weight"), (h, h));
        }
        dense.insert(format!("{prefix}.attention.output.dense.weight"), (h, h));
        dense.insert(format!("{prefix}.intermediate.dense.weight"), (inner, h));
        dense.insert(format!("{prefix}.output.dense.weight"), (h, inner));
    }
    for (name, &(n, k)) in &dense {
        tensors.find(&[name.as_str()], &[n, k])?; // present, float, the shape of the config
    }

    let mut out: Vec<(String, Tensor<'_>)> = Vec::new();
    for (name, dtype, shape, data) in tensors.all() {
        let short = name.strip_prefix(tensors.prefix()).unwrap_or(&name);
        let Some(&(n, k)) = dense.get(short) else {
            out.push((name, Tensor::borrowed(dtype, shape, data)));
            continue;
        };
        let weight = tensors.find(&[short], &[n, k])?;
        let mut values = vec![0i8; n * k];
        let mut scales = vec![0.0f32; n];
        let mut row = vec![0.0f32; k];
        for (j, scale) in scales.iter_mut().enumerate() {
            weight.convert(j * k, &mut row);
            *scale = quantize_weight_row(&row, &mut values[j * k..(j + 1) * k]);
            if !scale.is_finite() {
                return Err(Error::Safetensors {
                    path: source_path.clone(),
                    message: format!("{short}: row {j} holds a value that is not finite"),
                });
            }
        }
        let bytes = values.iter().map(|&v| v as u8).collect();
        let scale_bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        out.push((format!("{name}_scale"), Tensor::owned(Dtype::F32, vec![n], scale_bytes)));
        out.push((name, Tensor::owned(Dtype::I8, vec![n, k], bytes)));
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
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).map_err(|e| io_error(path, e));
    Ok(QuantizeSummary {
        quantized_tensors: dense.len(),
        input_bytes: size(&source_path)?,
        output_bytes: size(&target)?,
    })
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
