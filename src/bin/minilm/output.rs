//! Writing embeddings as JSON lines, JSON or NumPy `.npy`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Json,
    Npy,
}

/// Streams vectors to stdout or a file in one format. A file is written under a temporary name
/// beside it and renamed into place by [`Writer::finish`], so a failed run never leaves a file
/// that looks complete (an `.npy` header promises every row).
pub struct Writer {
    out: BufWriter<Box<dyn Write>>,
    format: Format,
    written: usize,
    /// `(temporary, final)` paths when writing to a file; `None` once renamed or for stdout.
    file: Option<(PathBuf, PathBuf)>,
}

fn write_error(e: std::io::Error) -> String {
    format!("cannot write output: {e}")
}

impl Writer {
    /// Opens the destination and writes any header (`count` vectors of `dim` floats follow).
    pub fn create(
        path: Option<&Path>,
        format: Format,
        count: usize,
        dim: usize,
    ) -> Result<Writer, String> {
        let (sink, file): (Box<dyn Write>, _) = match path {
            Some(path) => {
                let mut partial = path.as_os_str().to_owned();
                partial.push(".partial");
                let partial = PathBuf::from(partial);
                let sink = File::create(&partial)
                    .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
                (Box::new(sink), Some((partial, path.to_owned())))
            }
            None => (Box::new(std::io::stdout().lock()), None),
        };
        let mut writer = Writer {
            out: BufWriter::new(sink),
            format,
            written: 0,
            file,
        };
        match format {
            Format::Npy => writer
                .out
                .write_all(&npy_header(count, dim))
                .map_err(write_error)?,
            Format::Json => writer.out.write_all(b"[").map_err(write_error)?,
            Format::Jsonl => {}
        }
        Ok(writer)
    }

    pub fn write(&mut self, vector: &[f32]) -> Result<(), String> {
        let out = &mut self.out;
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut *out, vector).map_err(|e| e.to_string())?;
                out.write_all(b"\n").map_err(write_error)?;
            }
            Format::Json => {
                if self.written > 0 {
                    out.write_all(b",\n").map_err(write_error)?;
                }
                serde_json::to_writer(&mut *out, vector).map_err(|e| e.to_string())?;
            }
            Format::Npy => {
                for v in vector {
                    out.write_all(&v.to_le_bytes()).map_err(write_error)?;
                }
            }
        }
        self.written += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), String> {
        if let Format::Json = self.format {
            self.out.write_all(b"]\n").map_err(write_error)?;
        }
        self.out.flush().map_err(write_error)?;
        if let Some((partial, path)) = self.file.take() {
            std::fs::rename(&partial, &path).map_err(|e| {
                format!(
                    "cannot move {} to {}: {e}",
                    partial.display(),
                    path.display()
                )
            })?;
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some((partial, _)) = self.file.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// A version 1.0 `.npy` header for a little-endian float32 C-order array of `(rows, cols)`,
/// padded so the data starts on a 64-byte boundary.
fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + dict.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let header_len = (dict.len() + padding + 1) as u16;
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&header_len.to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.extend(std::iter::repeat_n(b' ', padding));
    header.push(b'\n');
    header
}
