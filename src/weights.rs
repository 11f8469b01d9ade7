//! Tensors from a memory-mapped `model.safetensors`, converted to f32 once at load.

use std::path::{Path, PathBuf};

use minilm_kernels::mapped_file::MappedFile;
use safetensors::{Dtype, SafeTensors};

use crate::config::io_error;
use crate::error::{Error, Result};

/// Bytes of a tensor converted before their pages of the map are released.
const RELEASE_BYTES: usize = 1 << 20;

/// An open safetensors file. Tensors are read through [`WeightFile::tensors`].
pub(crate) struct WeightFile {
    path: PathBuf,
    bytes: MappedFile,
}

impl WeightFile {
    pub(crate) fn open(path: &Path) -> Result<WeightFile> {
        let bytes = MappedFile::open(path).map_err(|e| io_error(path, e))?;
        Ok(WeightFile {
            path: path.to_owned(),
            bytes,
        })
    }

    /// Parses the header (checking every offset against the file) and finds the name prefix.
    pub(crate) fn tensors(&self) -> Result<Tensors<'_>> {
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| Error::Safetensors {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let prefix = ["", "bert."]
            .into_iter()
            .find(|p| {
                st.tensor(&format!("{p}embeddings.word_embeddings.weight"))
                    .is_ok()
            })
            .unwrap_or("");
        Ok(Tensors {
            path: &self.path,
            file: &self.bytes,
            st,
            prefix,
        })
    }
}

/// The tensors of one file, looked up by their names without a `bert.` prefix.
pub(crate) struct Tensors<'a> {
    path: &'a Path,
    file: &'a MappedFile,
    st: SafeTensors<'a>,
    prefix: &'static str,
}

impl Tensors<'_> {
    /// The tensor `name` as f32, after checking it has `shape`.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.get_any(&[name], shape)
    }

    /// The first of `names` present (for checkpoints that spell a tensor two ways).
    pub(crate) fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Vec<f32>> {
        let found = names.iter().find_map(|name| {
            self.st
                .tensor(&format!("{}{name}", self.prefix))
                .ok()
                .map(|view| (*name, view))
        });
        let Some((name, view)) = found else {
            return Err(Error::MissingTensor {
                path: self.path.to_owned(),
                name: names[0].to_owned(),
            });
        };
        if view.shape() != shape {
            return Err(Error::TensorShape {
                path: self.path.to_owned(),
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let data = view.data();
        let dtype = view.dtype();
        let width = match dtype {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            other => {
                return Err(Error::TensorDtype {
                    path: self.path.to_owned(),
                    name: name.to_owned(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        // Converted a piece at a time, each piece's pages of the map given back once copied, so
        // that loading never holds a tensor twice (the 47 MB word embeddings included).
        let mut values = Vec::with_capacity(data.len() / width);
        let base = self.file.as_ptr() as usize;
        for piece in data.chunks(RELEASE_BYTES - RELEASE_BYTES % width) {
            extend_converted(&mut values, piece, dtype);
            let start = piece.as_ptr() as usize - base;
            self.file.release(start..start + piece.len());
        }
        Ok(values)
    }

    /// A LayerNorm's `(weight, bias)`, also found under the old names `gamma` / `beta`.
    pub(crate) fn layernorm(&self, module: &str, width: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let gamma = self.get_any(
            &[&format!("{module}.weight"), &format!("{module}.gamma")],
            &[width],
        )?;
        let beta = self.get_any(
            &[&format!("{module}.bias"), &format!("{module}.beta")],
            &[width],
        )?;
        Ok((gamma, beta))
    }
}

/// Appends the little-endian values of `bytes` as f32 (F32, F16 or BF16; the caller checked the
/// dtype). One loop per dtype, so each conversion inlines into it.
fn extend_converted(values: &mut Vec<f32>, bytes: &[u8], dtype: Dtype) {
    match dtype {
        Dtype::F32 => values.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        Dtype::F16 => values.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        Dtype::BF16 => values.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        _ => {}
    }
}
