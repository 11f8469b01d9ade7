//! Quantised output vectors, as sentence-transformers' `quantize_embeddings` makes them: `int8`
//! and `uint8` (one byte per dimension, 4x smaller) and `binary` and `ubinary` (one bit per
//! dimension, 32x smaller), for vector stores that keep them so.
//!
//! The arithmetic is sentence-transformers 6.2's, in the same f32 operations, so the same float
//! vectors give the same bytes:
//! - `int8` / `uint8`: per dimension `step = (max - min) / 255` (1 when that is 0), then
//!   `q = clamp(floor((x - min) / step), 0, 255)`; `uint8` is `q`, `int8` is `q - 128`. The
//!   ranges come from calibration vectors ([`Ranges`]), or else from the call's own vectors.
//! - `binary` / `ubinary`: one bit per dimension, set when `x > 0`, packed most significant bit
//!   first, each row padded with zero bits to whole bytes; `ubinary` is the byte, `binary` the
//!   byte minus 128.

use std::fmt;

use crate::error::{Error, Result};

/// The element type of output vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputPrecision {
    /// The model's f32 vectors, as they are.
    #[default]
    Float32,
    /// One signed byte per dimension, scaled into per-dimension ranges.
    Int8,
    /// One unsigned byte per dimension, scaled into per-dimension ranges.
    Uint8,
    /// Sign bits, eight dimensions per byte, as `i8` (the byte minus 128).
    Binary,
    /// Sign bits, eight dimensions per byte, as `u8`.
    Ubinary,
}

impl OutputPrecision {
    /// Every precision, in the order above.
    pub const ALL: [OutputPrecision; 5] = [
        OutputPrecision::Float32,
        OutputPrecision::Int8,
        OutputPrecision::Uint8,
        OutputPrecision::Binary,
        OutputPrecision::Ubinary,
    ];

    /// The name sentence-transformers uses: `float32`, `int8`, `uint8`, `binary`, `ubinary`.
    ///
    /// ```
    /// use minilm::OutputPrecision;
    /// assert_eq!(OutputPrecision::Ubinary.name(), "ubinary");
    /// assert_eq!("int8".parse::<OutputPrecision>()?, OutputPrecision::Int8);
    /// assert!("int4".parse::<OutputPrecision>().is_err());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            OutputPrecision::Float32 => "float32",
            OutputPrecision::Int8 => "int8",
            OutputPrecision::Uint8 => "uint8",
            OutputPrecision::Binary => "binary",
            OutputPrecision::Ubinary => "ubinary",
        }
    }

    /// Elements per row for vectors of `dim` dimensions: `dim`, or `dim / 8` rounded up for the
    /// bit-packed forms.
    ///
    /// ```
    /// use minilm::OutputPrecision;
    /// assert_eq!(OutputPrecision::Int8.row_len(384), 384);
    /// assert_eq!(OutputPrecision::Binary.row_len(100), 13);
    /// ```
    pub fn row_len(self, dim: usize) -> usize {
        match self {
            OutputPrecision::Binary | OutputPrecision::Ubinary => dim.div_ceil(8),
            _ => dim,
        }
    }

    /// Whether the int8 / uint8 scaling needs [`Ranges`].
    pub fn needs_ranges(self) -> bool {
        matches!(self, OutputPrecision::Int8 | OutputPrecision::Uint8)
    }
}

impl fmt::Display for OutputPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OutputPrecision {
    type Err = Error;

    fn from_str(name: &str) -> Result<OutputPrecision> {
        OutputPrecision::ALL
            .into_iter()
            .find(|p| p.name() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                let names: Vec<&str> = OutputPrecision::ALL.iter().map(|p| p.name()).collect();
                Error::InvalidOption(format!(
                    "unknown output precision {name:?} (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

/// Per-dimension ranges for `int8` / `uint8` output: the smallest and largest value of each
/// dimension over a set of calibration vectors. Fix them once (from a representative sample of
/// the corpus) so that a vector's bytes do not depend on what else is in its call.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges {
    min: Vec<f32>,
    max: Vec<f32>,
}

impl Ranges {
    /// Ranges from their bounds. Both must have the same length, be finite and `min <= max`.
    ///
    /// ```
    /// let ranges = minilm::Ranges::new(vec![-1.0, 0.0], vec![1.0, 0.5])?;
    /// assert_eq!(ranges.dim(), 2);
    /// assert!(minilm::Ranges::new(vec![1.0], vec![0.0]).is_err());
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn new(min: Vec<f32>, max: Vec<f32>) -> Result<Ranges> {
        if min.len() != max.len() || min.is_empty() {
            return Err(Error::InvalidOption(format!(
                "ranges need as many minima as maxima, at least one (got {} and {})",
                min.len(),
                max.len()
            )));
        }
        let bad = min
            .iter()
            .zip(&max)
            .position(|(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo <= hi));
        if let Some(d) = bad {
            return Err(Error::InvalidOption(format!(
                "range of dimension {d} is [{}, {}]: bounds must be finite and ordered",
                min[d], max[d]
            )));
        }
        Ok(Ranges { min, max })
    }

    /// The per-dimension minimum and maximum of `vectors` (row after row, `dim` floats each,
    /// at least one row), as sentence-transformers computes them from `calibration_embeddings`.
    ///
    /// ```
    /// let ranges = minilm::Ranges::from_embeddings(&[0.5, -1.0, /* row 1 */ 0.25, 2.0], 2)?;
    /// assert_eq!((ranges.min(), ranges.max()), (&[0.25, -1.0][..], &[0.5, 2.0][..]));
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn from_embeddings(vectors: &[f32], dim: usize) -> Result<Ranges> {
        if dim == 0 || vectors.is_empty() || !vectors.len().is_multiple_of(dim) {
            return Err(Error::InvalidOption(format!(
                "ranges need whole rows of {dim} floats, at least one (got {} floats)",
                vectors.len()
            )));
        }
        let mut min = vectors[..dim].to_vec();
        let mut max = min.clone();
        for row in vectors.chunks_exact(dim).skip(1) {
            for ((lo, hi), &x) in min.iter_mut().zip(max.iter_mut()).zip(row) {
                // NaN-proof as numpy's min/max are not; embeddings are finite anyway.
                *lo = lo.min(x);
                *hi = hi.max(x);
            }
        }
        Ranges::new(min, max)
    }

    /// Dimensions covered.
    pub fn dim(&self) -> usize {
        self.min.len()
    }

    /// The lower bound of each dimension.
    pub fn min(&self) -> &[f32] {
        &self.min
    }

    /// The upper bound of each dimension.
    pub fn max(&self) -> &[f32] {
        &self.max
    }
}

/// Output vectors in one precision, row after row (see [`OutputPrecision::row_len`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Embeddings {
    /// f32 vectors, `dim` per row.
    Float32 {
        /// Dimensions per row.
        dim: usize,
        /// The values, row after row.
        values: Vec<f32>,
    },
    /// `int8` vectors, `dim` per row.
    Int8 {
        /// Dimensions per row.
        dim: usize,
        /// The values, row after row.
        values: Vec<i8>,
    },
    /// `uint8` vectors, `dim` per row.
    Uint8 {
        /// Dimensions per row.
        dim: usize,
        /// The values, row after row.
        values: Vec<u8>,
    },
    /// `binary` vectors, `dim / 8` (rounded up) bytes per row.
    Binary {
        /// Dimensions per row (bits before padding).
        dim: usize,
        /// The packed bytes minus 128, row after row.
        values: Vec<i8>,
    },
    /// `ubinary` vectors, `dim / 8` (rounded up) bytes per row.
    Ubinary {
        /// Dimensions per row (bits before padding).
        dim: usize,
        /// The packed bytes, row after row.
        values: Vec<u8>,
    },
}

impl Embeddings {
    /// The precision of the elements.
    pub fn precision(&self) -> OutputPrecision {
        match self {
            Embeddings::Float32 { .. } => OutputPrecision::Float32,
            Embeddings::Int8 { .. } => OutputPrecision::Int8,
            Embeddings::Uint8 { .. } => OutputPrecision::Uint8,
            Embeddings::Binary { .. } => OutputPrecision::Binary,
            Embeddings::Ubinary { .. } => OutputPrecision::Ubinary,
        }
    }

    /// Dimensions of the vectors (before any bit packing).
    pub fn dim(&self) -> usize {
        match *self {
            Embeddings::Float32 { dim, .. }
            | Embeddings::Int8 { dim, .. }
            | Embeddings::Uint8 { dim, .. }
            | Embeddings::Binary { dim, .. }
            | Embeddings::Ubinary { dim, .. } => dim,
        }
    }

    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.precision().row_len(self.dim())
    }

    fn elements(&self) -> usize {
        match self {
            Embeddings::Float32 { values, .. } => values.len(),
            Embeddings::Int8 { values, .. } | Embeddings::Binary { values, .. } => values.len(),
            Embeddings::Uint8 { values, .. } | Embeddings::Ubinary { values, .. } => values.len(),
        }
    }

    /// The element range of row `row`, `None` when that overflows.
    fn row_range(&self, row: usize) -> Option<std::ops::Range<usize>> {
        let n = self.row_len();
        let start = row.checked_mul(n)?;
        Some(start..start.checked_add(n)?)
    }

    /// Number of rows (vectors).
    pub fn len(&self) -> usize {
        self.elements().checked_div(self.row_len()).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends row `row` to `out` as little-endian bytes (4 per float, 1 per byte element), the
    /// layout of `.npy` and raw output. Nothing for a row past the end.
    ///
    /// ```
    /// let e = minilm::quantize_embeddings(&[1.0, -1.0, 0.5, 0.0], 2, minilm::OutputPrecision::Ubinary, None)?;
    /// let mut bytes = Vec::new();
    /// e.row_le_bytes(1, &mut bytes);
    /// assert_eq!(bytes, [0b1000_0000]);
    /// # Ok::<(), minilm::Error>(())
    /// ```
    pub fn row_le_bytes(&self, row: usize, out: &mut Vec<u8>) {
        let Some(range) = self.row_range(row) else {
            return;
        };
        match self {
            Embeddings::Float32 { values, .. } => {
                if let Some(row) = values.get(range) {
                    out.extend(row.iter().flat_map(|v| v.to_le_bytes()));
                }
            }
            Embeddings::Int8 { values, .. } | Embeddings::Binary { values, .. } => {
                if let Some(row) = values.get(range) {
                    out.extend(row.iter().map(|&v| v as u8));
                }
            }
            Embeddings::Uint8 { values, .. } | Embeddings::Ubinary { values, .. } => {
                if let Some(row) = values.get(range) {
                    out.extend_from_slice(row);
                }
            }
        }
    }

    /// Row `row` as JSON numbers, e.g. for JSON output: floats in the shortest form that reads
    /// back as the same f32 (`0.1`, not `0.10000000149011612`); `None` past the end.
    ///
    /// ```
    /// let e = minilm::Embeddings::Float32 { dim: 2, values: vec![0.1, -2.5] };
    /// assert_eq!(serde_json::Value::Array(e.row_json(0).unwrap()).to_string(), "[0.1,-2.5]");
    /// assert_eq!(e.row_json(usize::MAX), None);
    /// ```
    pub fn row_json(&self, row: usize) -> Option<Vec<serde_json::Value>> {
        let range = self.row_range(row)?;
        Some(match self {
            Embeddings::Float32 { values, .. } => values
                .get(range)?
                .iter()
                .map(|&v| shortest_json(v))
                .collect(),
            Embeddings::Int8 { values, .. } | Embeddings::Binary { values, .. } => {
                values.get(range)?.iter().map(|&v| v.into()).collect()
            }
            Embeddings::Uint8 { values, .. } | Embeddings::Ubinary { values, .. } => {
                values.get(range)?.iter().map(|&v| v.into()).collect()
            }
        })
    }
}

/// `v` as a JSON number with the digits of its shortest f32 form (`null` if not finite).
fn shortest_json(v: f32) -> serde_json::Value {
    v.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// `vectors` (row after row, `dim` floats each) in `precision`, as sentence-transformers'
/// `quantize_embeddings(vectors, precision, ranges=...)` computes them (see the module docs).
///
/// `int8` and `uint8` scale each dimension into `ranges`; without them, into the minimum and
/// maximum of `vectors` itself, as sentence-transformers' `encode(..., precision="int8")` does.
/// That needs at least two rows, and makes a vector's bytes depend on the rest of the call:
/// pass [`Ranges`] from a fixed calibration set for anything stored. Values outside the ranges
/// are clamped.
///
/// ```
/// use minilm::{quantize_embeddings, Embeddings, OutputPrecision, Ranges};
/// let vectors = [0.0, -1.0, /* row 1 */ 1.0, 1.0];
/// let bits = quantize_embeddings(&vectors, 2, OutputPrecision::Ubinary, None)?;
/// assert_eq!(bits, Embeddings::Ubinary { dim: 2, values: vec![0b0000_0000, 0b1100_0000] });
/// let ranges = Ranges::new(vec![0.0, -1.0], vec![1.0, 1.0])?;
/// let bytes = quantize_embeddings(&vectors, 2, OutputPrecision::Uint8, Some(&ranges))?;
/// // The top of a range may land in bucket 254 (f32 rounding of `1 / (1 / 255)`), exactly as
/// // in sentence-transformers.
/// assert_eq!(bytes, Embeddings::Uint8 { dim: 2, values: vec![0, 0, 254, 254] });
/// # Ok::<(), minilm::Error>(())
/// ```
pub fn quantize_embeddings(
    vectors: &[f32],
    dim: usize,
    precision: OutputPrecision,
    ranges: Option<&Ranges>,
) -> Result<Embeddings> {
    if dim == 0 || !vectors.len().is_multiple_of(dim) {
        return Err(Error::InvalidOption(format!(
            "{} floats are not whole rows of {dim}",
            vectors.len()
        )));
    }
    let rows = vectors.len() / dim;
    let own;
    let ranges = match (precision.needs_ranges(), ranges) {
        (false, _) => None,
        (true, Some(ranges)) if ranges.dim() == dim => Some(ranges),
        (true, Some(ranges)) => {
            return Err(Error::InvalidOption(format!(
                "ranges cover {} dimensions, the vectors have {dim}",
                ranges.dim()
            )))
        }
        (true, None) if rows < 2 && !vectors.is_empty() => {
            return Err(Error::InvalidOption(format!(
                "{precision} output of a single vector needs calibration ranges (its own range \
                 is one point)"
            )))
        }
        (true, None) if vectors.is_empty() => None,
        (true, None) => {
            own = Ranges::from_embeddings(vectors, dim)?;
            Some(&own)
        }
    };
    Ok(match precision {
        OutputPrecision::Float32 => Embeddings::Float32 {
            dim,
            values: vectors.to_vec(),
        },
        OutputPrecision::Uint8 => Embeddings::Uint8 {
            dim,
            values: scaled(vectors, ranges).collect(),
        },
        OutputPrecision::Int8 => Embeddings::Int8 {
            dim,
            values: scaled(vectors, ranges)
                .map(|q| (i16::from(q) - 128) as i8)
                .collect(),
        },
        OutputPrecision::Ubinary => Embeddings::Ubinary {
            dim,
            values: packed_signs(vectors, dim),
        },
        OutputPrecision::Binary => Embeddings::Binary {
            dim,
            values: packed_signs(vectors, dim)
                .into_iter()
                .map(|b| (i16::from(b) - 128) as i8)
                .collect(),
        },
    })
}

/// Each value's bucket 0..=255 in its dimension's range (empty without ranges, which happens
/// only for no vectors).
fn scaled<'a>(vectors: &'a [f32], ranges: Option<&'a Ranges>) -> impl Iterator<Item = u8> + 'a {
    let (min, max) = ranges.map_or((&[][..], &[][..]), |r| (r.min(), r.max()));
    let dim = min.len().max(1);
    vectors
        .chunks_exact(dim)
        .take(if min.is_empty() { 0 } else { usize::MAX })
        .flat_map(move |row| {
            row.iter().zip(min).zip(max).map(|((&x, &lo), &hi)| {
                let mut step = (hi - lo) / 255.0;
                if step == 0.0 {
                    step = 1.0;
                }
                // `as` saturates (and maps NaN to 0): the clamp to 0..=255.
                ((x - lo) / step).floor() as u8
            })
        })
}

/// Sign bits (`x > 0`) of each row, most significant bit first, rows padded to whole bytes.
fn packed_signs(vectors: &[f32], dim: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(vectors.len() / dim * dim.div_ceil(8));
    for row in vectors.chunks_exact(dim) {
        out.extend(row.chunks(8).map(|eight| {
            eight.iter().enumerate().fold(0u8, |byte, (bit, &x)| {
                byte | (u8::from(x > 0.0) << (7 - bit))
            })
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_sentence_transformers_rules() {
        // Ranges [0, 255]: step 1, so the bucket is floor(x); values outside are clamped.
        let ranges = Ranges::new(vec![0.0], vec![255.0]).unwrap();
        let vectors = [-3.0, 0.0, 0.99, 1.0, 254.5, 255.0, 300.0];
        let q = quantize_embeddings(&vectors, 1, OutputPrecision::Uint8, Some(&ranges)).unwrap();
        assert_eq!(
            q,
            Embeddings::Uint8 {
                dim: 1,
                values: vec![0, 0, 0, 1, 254, 255, 255]
            }
        );
        let q = quantize_embeddings(&vectors, 1, OutputPrecision::Int8, Some(&ranges)).unwrap();
        assert_eq!(
            q,
            Embeddings::Int8 {
                dim: 1,
                values: vec![-128, -128, -128, -127, 126, 127, 127]
            }
        );
        // A dimension of zero range has step 1: values at the bound go to bucket 0.
        let flat = Ranges::new(vec![0.5], vec![0.5]).unwrap();
        let q = quantize_embeddings(&[0.5, 0.7], 1, OutputPrecision::Uint8, Some(&flat)).unwrap();
        assert_eq!(
            q,
            Embeddings::Uint8 {
                dim: 1,
                values: vec![0, 0]
            }
        );
    }

    #[test]
    fn bits_pack_per_row_most_significant_first() {
        // dim 10: two bytes per row, the second padded with six zero bits.
        let mut vectors = vec![-1.0f32; 20];
        vectors[0] = 1.0; // row 0, bit 7 of byte 0
        vectors[9] = 0.1; // row 0, bit 6 of byte 1
        vectors[10 + 7] = 2.0; // row 1, bit 0 of byte 0
        vectors[10 + 8] = 0.0; // zero is not positive
        let q = quantize_embeddings(&vectors, 10, OutputPrecision::Ubinary, None).unwrap();
        assert_eq!(
            q,
            Embeddings::Ubinary {
                dim: 10,
                values: vec![0x80, 0x40, 0x01, 0x00]
            }
        );
        assert_eq!((q.row_len(), q.len()), (2, 2));
        let q = quantize_embeddings(&vectors, 10, OutputPrecision::Binary, None).unwrap();
        assert_eq!(
            q,
            Embeddings::Binary {
                dim: 10,
                values: vec![0, -64, -127, -128]
            }
        );
    }

    #[test]
    fn own_ranges_need_two_vectors() {
        let one = [0.1, 0.2];
        assert!(quantize_embeddings(&one, 2, OutputPrecision::Int8, None).is_err());
        assert!(quantize_embeddings(&one, 2, OutputPrecision::Binary, None).is_ok());
        let none = quantize_embeddings(&[], 2, OutputPrecision::Int8, None).unwrap();
        assert!(none.is_empty());
        let wrong = Ranges::new(vec![0.0], vec![1.0]).unwrap();
        assert!(quantize_embeddings(&one, 2, OutputPrecision::Int8, Some(&wrong)).is_err());
        assert!(quantize_embeddings(&one, 3, OutputPrecision::Float32, None).is_err());
    }
}
