//! Tensors from a memory-mapped `model.safetensors`, converted to f32 once at load.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minilm_kernels::mapped_file::{MappedBytes, MappedF32, MappedFile};
use minilm_kernels::AlignedF32;
use safetensors::{Dtype, SafeTensors};

use crate::config::io_error;
use crate::error::{Error, Result};

/// Bytes of a tensor converted before their pages of the map are released.
const RELEASE_BYTES: usize = 1 << 20;

/// The metadata key naming a quantised file's scheme, and the scheme this version writes: int8
/// dense-layer weights, symmetric per output channel (`{name}.weight` as I8 `[n, k]` and
/// `{name}.weight_scale` as F32 `[n]`, `w ≈ scale · value`), to be run with per-token
/// asymmetric u8 activations; the word embeddings likewise int8, one symmetric scale per row
/// (`embeddings.word_embeddings.weight` as I8 `[vocab, hidden]` and `..._scale` as F32
/// `[vocab]`); every other tensor as in the f32 model.
pub(crate) const QUANTIZATION_KEY: &str = "minilm.quantization";
pub(crate) const QUANTIZATION_SCHEME: &str = "int8-weight-per-channel-symmetric/v2";
/// The schemes this version reads: the current one, and v1 (the same but with f32 word
/// embeddings; at int8 each looked-up row takes the same int8 round trip, so a v1 file computes
/// what the v2 file of the same model does, not exactly what versions before v2 computed).
const READABLE_SCHEMES: [&str; 2] = [QUANTIZATION_SCHEME, "int8-weight-per-channel-symmetric/v1"];

/// An open safetensors file. Tensors are read through [`WeightFile::tensors`].
pub(crate) struct WeightFile {
    path: PathBuf,
    bytes: Arc<MappedFile>,
}

impl WeightFile {
    pub(crate) fn open(path: &Path) -> Result<WeightFile> {
        let bytes = MappedFile::open(path).map_err(|e| io_error(path, e))?;
        Ok(WeightFile {
            path: path.to_owned(),
            bytes: Arc::new(bytes),
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
        let (_, header) =
            SafeTensors::read_metadata(&self.bytes).map_err(|e| Error::Safetensors {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        let quantized = match header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(QUANTIZATION_KEY))
        {
            None => false,
            Some(scheme) if READABLE_SCHEMES.contains(&scheme.as_str()) => true,
            Some(scheme) => {
                return Err(Error::Safetensors {
                    path: self.path.clone(),
                    message: format!(
                        "quantised with scheme {scheme:?}, which this version of minilm does not \
                         read (it reads {}); quantise the f32 model again",
                        READABLE_SCHEMES.map(|s| format!("{s:?}")).join(", ")
                    ),
                })
            }
        };
        Ok(Tensors {
            path: &self.path,
            file: &self.bytes,
            st,
            prefix,
            quantized,
        })
    }
}

/// The tensors of one file, looked up by their names without a `bert.` prefix.
pub(crate) struct Tensors<'a> {
    path: &'a Path,
    file: &'a Arc<MappedFile>,
    st: SafeTensors<'a>,
    prefix: &'static str,
    quantized: bool,
}

impl<'a> Tensors<'a> {
    /// Whether the file holds int8 dense-layer weights (its metadata names the scheme).
    pub(crate) fn is_quantized(&self) -> bool {
        self.quantized
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// The name prefix of the file's tensors (`""` or `"bert."`).
    pub(crate) fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// An int8 weight of a quantised file: its row-major `n x k` values, `n` scales and, when
    /// the file has them, `k` smoothing factors; each checked for dtype and shape, the scales
    /// for being finite and non-negative, the smoothing factors for being finite and positive.
    pub(crate) fn int8(&self, name: &str, n: usize, k: usize) -> Result<Int8Tensor> {
        let full = format!("{}{name}", self.prefix);
        let view = self.st.tensor(&full).map_err(|_| Error::MissingTensor {
            path: self.path.to_owned(),
            name: name.to_owned(),
        })?;
        if view.dtype() != Dtype::I8 {
            return Err(Error::TensorDtype {
                path: self.path.to_owned(),
                name: name.to_owned(),
                dtype: format!(
                    "{:?} (a quantised file stores dense weights as I8)",
                    view.dtype()
                ),
            });
        }
        if view.shape() != [n, k] {
            return Err(Error::TensorShape {
                path: self.path.to_owned(),
                name: name.to_owned(),
                expected: vec![n, k],
                found: view.shape().to_vec(),
            });
        }
        let values = view.data().iter().map(|&b| b as i8).collect();
        let scale_name = format!("{name}_scale");
        let scales = self.get(&scale_name, &[n])?;
        if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return Err(Error::Safetensors {
                path: self.path.to_owned(),
                message: format!("{scale_name} holds {bad}, not a finite non-negative scale"),
            });
        }
        let smooth_name = format!("{name}_smooth");
        let smooth = if self
            .st
            .tensor(&format!("{}{smooth_name}", self.prefix))
            .is_ok()
        {
            let smooth = self.get(&smooth_name, &[k])?;
            if let Some(bad) = smooth.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
                return Err(Error::Safetensors {
                    path: self.path.to_owned(),
                    message: format!("{smooth_name} holds {bad}, not a finite positive factor"),
                });
            }
            Some(smooth.to_vec())
        } else {
            None
        };
        self.release_bytes(view.data());
        Ok(Int8Tensor {
            values,
            scales: scales.to_vec(),
            smooth,
        })
    }

    /// Every tensor of the file as (name, dtype, shape, bytes), in file order.
    pub(crate) fn all(&self) -> Vec<(String, Dtype, Vec<usize>, &'a [u8])> {
        let mut all: Vec<_> = self
            .st
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.dtype(), view.shape().to_vec(), view.data()))
            .collect();
        all.sort_by_key(|(_, _, _, data)| data.as_ptr() as usize);
        all
    }
    /// The tensor `name` as f32, after checking it has `shape`.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<AlignedF32> {
        self.get_any(&[name], shape)
    }

    /// The first of `names` present (for checkpoints that spell a tensor two ways).
    pub(crate) fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<AlignedF32> {
        let tensor = self.find(names, shape)?;
        let mut values = AlignedF32::zeroed(tensor.len());
        // Converted a piece at a time, each piece's pages of the map given back once copied,
        // so that loading never holds a tensor twice (the 47 MB word embeddings included).
        let piece = RELEASE_BYTES / tensor.width;
        for (index, out) in values.chunks_mut(piece).enumerate() {
            tensor.convert(index * piece, out)?;
            self.release_elements(&tensor, index * piece..index * piece + out.len());
        }
        Ok(values)
    }

    /// The tensor `name`, checked to have `shape` and a float dtype, still in the file: for a
    /// caller that converts it row by row (into packed weights) and then calls
    /// [`Tensors::release`].
    pub(crate) fn find(&self, names: &[&str], shape: &[usize]) -> Result<FileTensor<'a>> {
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
        Ok(FileTensor {
            path: self.path,
            name: name.to_owned(),
            data: view.data(),
            dtype,
            width,
        })
    }

    /// The tensor `name`, checked to have `shape` and every value finite, read in place from the
    /// map (which the view keeps alive) when the file stores it as 4-byte-aligned F32; `None`
    /// when it must be converted into a copy instead ([`Tensors::get`]: F16, BF16, misaligned).
    /// The finiteness check reads the tensor once and writes nothing.
    pub(crate) fn in_place(&self, name: &str, shape: &[usize]) -> Result<Option<MappedF32>> {
        let tensor = self.find(&[name], shape)?;
        if tensor.dtype != Dtype::F32 {
            return Ok(None);
        }
        let Some(view) = MappedF32::new(Arc::clone(self.file), self.byte_range(tensor.data)) else {
            return Ok(None);
        };
        match first_non_finite(&view) {
            None => {
                // The check faulted every page in; only the rows texts use need to stay.
                self.release_bytes(tensor.data);
                Ok(Some(view))
            }
            Some(index) => Err(Error::NonFiniteWeight {
                path: self.path.to_owned(),
                name: tensor.name,
                index,
                value: view[index],
            }),
        }
    }

    /// The table `name` of `rows x width` int8 values with one scale per row (`{name}_scale`,
    /// each finite and non-negative), the values read in place from the map, when the file
    /// stores `name` as I8; `None` when it stores it as floats (read those with
    /// [`Tensors::in_place`] or [`Tensors::get`]). Nothing of the values is read at load.
    pub(crate) fn int8_rows_in_place(
        &self,
        name: &str,
        rows: usize,
        width: usize,
    ) -> Result<Option<(MappedBytes, Vec<f32>)>> {
        let full = format!("{}{name}", self.prefix);
        let Ok(view) = self.st.tensor(&full) else {
            return Ok(None);
        };
        if view.dtype() != Dtype::I8 {
            return Ok(None);
        }
        if view.shape() != [rows, width] {
            return Err(Error::TensorShape {
                path: self.path.to_owned(),
                name: name.to_owned(),
                expected: vec![rows, width],
                found: view.shape().to_vec(),
            });
        }
        let scale_name = format!("{name}_scale");
        let scales = self.get(&scale_name, &[rows])?;
        if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return Err(Error::Safetensors {
                path: self.path.to_owned(),
                message: format!("{scale_name} holds {bad}, not a finite non-negative scale"),
            });
        }
        // The header's offsets were checked against the file when it was parsed.
        let values = MappedBytes::new(Arc::clone(self.file), self.byte_range(view.data()))
            .ok_or_else(|| Error::Safetensors {
                path: self.path.to_owned(),
                message: format!("{name} lies outside the file"),
            })?;
        Ok(Some((values, scales.to_vec())))
    }

    /// Gives back the pages of the map that hold `tensor` (see [`MappedFile::release`]).
    pub(crate) fn release(&self, tensor: &FileTensor<'_>) {
        self.release_elements(tensor, 0..tensor.len());
    }

    /// Where `data`, a slice of the map, lies in the file.
    fn byte_range(&self, data: &[u8]) -> Range<usize> {
        let start = data.as_ptr() as usize - self.file.as_ptr() as usize;
        start..start + data.len()
    }

    fn release_bytes(&self, data: &[u8]) {
        self.file.release(self.byte_range(data));
    }

    fn release_elements(&self, tensor: &FileTensor<'_>, elements: Range<usize>) {
        let start = self.byte_range(tensor.data).start;
        self.file
            .release(start + elements.start * tensor.width..start + elements.end * tensor.width);
    }

    /// A LayerNorm's `(weight, bias)`, also found under the old names `gamma` / `beta`.
    pub(crate) fn layernorm(&self, module: &str, width: usize) -> Result<(AlignedF32, AlignedF32)> {
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

/// An int8 dense weight as a quantised file stores it.
pub(crate) struct Int8Tensor {
    pub values: Vec<i8>,
    pub scales: Vec<f32>,
    pub smooth: Option<Vec<f32>>,
}

/// A tensor of the file whose shape and dtype (F32, F16 or BF16) have been checked.
pub(crate) struct FileTensor<'a> {
    path: &'a Path,
    name: String,
    data: &'a [u8],
    dtype: Dtype,
    /// Bytes per element.
    width: usize,
}

impl FileTensor<'_> {
    /// Elements in the tensor.
    pub(crate) fn len(&self) -> usize {
        self.data.len() / self.width
    }

    /// Writes elements `first..first + out.len()` (row-major) as f32 into `out`, and refuses a
    /// NaN or infinite value with [`Error::NonFiniteWeight`]. One loop per dtype, so each
    /// conversion inlines into it; the check runs over `out` while it is still in cache.
    ///
    /// # Panics
    /// If the range runs past the tensor.
    pub(crate) fn convert(&self, first: usize, out: &mut [f32]) -> Result<()> {
        let bytes = &self.data[first * self.width..(first + out.len()) * self.width];
        match self.dtype {
            Dtype::F16 => {
                for (value, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *value = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            Dtype::BF16 => {
                for (value, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *value = half::bf16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            _ => {
                for (value, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *value = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
        match first_non_finite(out) {
            None => Ok(()),
            Some(i) => Err(Error::NonFiniteWeight {
                path: self.path.to_owned(),
                name: self.name.clone(),
                index: first + i,
                value: out[i],
            }),
        }
    }
}

/// The index of the first NaN or infinity in `values`. Blocks of 256 are tested with a
/// branch-free OR over the exponent bits (which LLVM vectorises; a plain `position` with its
/// early exit does not), so a clean table is scanned at memory speed: this check reads every
/// weight of the model at load.
fn first_non_finite(values: &[f32]) -> Option<usize> {
    const EXPONENT: u32 = 0x7f80_0000;
    let mut start = 0;
    for block in values.chunks(256) {
        let all_ones = block
            .iter()
            .fold(false, |any, v| any | (v.to_bits() & EXPONENT == EXPONENT));
        if all_ones {
            return block.iter().position(|v| !v.is_finite()).map(|i| start + i);
        }
        start += block.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_non_finite;

    #[test]
    fn first_non_finite_finds_the_first_bad_value_across_block_edges() {
        let clean: Vec<f32> = (0..1000)
            .map(|i| match i % 4 {
                0 => f32::MAX,
                1 => -f32::MIN_POSITIVE / 2.0, // subnormal
                2 => 0.0,
                _ => i as f32 * -1.5,
            })
            .collect();
        assert_eq!(first_non_finite(&clean), None);
        assert_eq!(first_non_finite(&[]), None);
        for at in [0, 1, 255, 256, 257, 511, 512, 999] {
            let payload_nans = [f32::from_bits(0x7f80_0001), f32::from_bits(0xffc0_0001)];
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN]
                .into_iter()
                .chain(payload_nans)
            {
                let mut values = clean.clone();
                if at < 999 {
                    values[999] = f32::NAN; // a later one must not win
                }
                values[at] = bad;
                assert_eq!(first_non_finite(&values), Some(at), "{bad} at {at}");
            }
        }
    }
}
