//! Writing embeddings as JSON lines, JSON, NumPy `.npy` or raw little-endian rows, a batch at a
//! time, in any output precision (f32, or the bytes of int8, uint8, binary, ubinary).

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use minilm::{Embeddings, OutputPrecision};

use crate::error::{CliError, CliResult};

/// `--format`: how the vectors are written.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON array per text.
    Jsonl,
    /// One JSON array of arrays.
    Json,
    /// A NumPy array of shape (texts, row length).
    Npy,
    /// Little-endian rows (float32, or one byte per element), no header.
    Raw,
}

/// Where the vectors go.
enum Sink {
    Stdout(std::io::StdoutLock<'static>),
    /// A regular file (under its temporary name): it can be rewound.
    File(File),
    /// Something that is not a regular file, such as a pipe or a device: written in order.
    Stream(File),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::File(file) | Sink::Stream(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::File(file) | Sink::Stream(file) => file.flush(),
        }
    }
}

/// Whether `path` names something other than a regular file (a pipe, a device such as
/// /dev/stdout): written in place, in order, never replaced.
fn is_stream(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Whether writing `format` to `path` (stdout for `None`) needs the number of vectors before
/// the first one: an `.npy` header that cannot be rewritten at the end.
pub fn needs_count(path: Option<&Path>, format: Format) -> bool {
    matches!(format, Format::Npy) && path.is_none_or(is_stream)
}

/// Streams vectors to stdout or a file in one format.
///
/// A file is written under a temporary name beside it and renamed into place by
/// [`Writer::finish`], so a failed run never leaves a file that looks complete. On stdout, a
/// JSON line reaches the buffer whole, so the output is always whole lines (unless the write
/// itself fails, which is then the run's error and exit code).
pub struct Writer {
    out: BufWriter<Sink>,
    format: Format,
    /// The element type of the rows: the `.npy` header's dtype.
    precision: OutputPrecision,
    /// Elements per row: the `.npy` header's second dimension.
    row_len: usize,
    /// Vectors promised by an `.npy` header on stdout (a file's header is rewritten at the end).
    promised: Option<usize>,
    written: usize,
    /// One JSON line or one row's bytes, reused.
    line: Vec<u8>,
    /// `(temporary, final)` paths when writing to a file; `None` once renamed or for stdout.
    file: Option<(PathBuf, PathBuf)>,
}

impl Writer {
    /// Opens the destination and writes any header, for rows of `row_len` elements in
    /// `precision`. `count`, the number of vectors to come, is needed only for `.npy` on stdout.
    pub fn create(
        path: Option<&Path>,
        format: Format,
        precision: OutputPrecision,
        row_len: usize,
        count: Option<usize>,
    ) -> CliResult<Writer> {
        let (sink, file) = match path {
            Some(path) if is_stream(path) => {
                let sink = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                (Sink::Stream(sink), None)
            }
            Some(path) => {
                let mut partial = path.as_os_str().to_owned();
                partial.push(".partial");
                let partial = PathBuf::from(partial);
                let sink = File::create(&partial)
                    .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
                (Sink::File(sink), Some((partial, path.to_owned())))
            }
            None => (Sink::Stdout(std::io::stdout().lock()), None),
        };
        let promised = match (format, &sink) {
            (Format::Npy, Sink::Stdout(_) | Sink::Stream(_)) => {
                Some(count.ok_or("npy on a stream needs the count first")?)
            }
            _ => None,
        };
        let mut writer = Writer {
            out: BufWriter::new(sink),
            format,
            precision,
            row_len,
            promised,
            written: 0,
            line: Vec::new(),
            file,
        };
        match format {
            Format::Npy => {
                let header = npy_header(precision, promised.unwrap_or(0), row_len);
                writer.out.write_all(&header).map_err(CliError::output)?
            }
            Format::Json => writer.out.write_all(b"[").map_err(CliError::output)?,
            Format::Jsonl | Format::Raw => {}
        }
        Ok(writer)
    }

    /// Writes every row of `rows` (one batch), in order.
    pub fn write(&mut self, rows: &Embeddings) -> CliResult {
        for row in 0..rows.len() {
            self.line.clear();
            match self.format {
                Format::Jsonl | Format::Json => {
                    if matches!(self.format, Format::Json) && self.written > 0 {
                        self.line.extend_from_slice(b",\n");
                    }
                    json_row(&mut self.line, rows, row).map_err(|e| e.to_string())?;
                    if matches!(self.format, Format::Jsonl) {
                        self.line.push(b'\n');
                    }
                }
                Format::Npy | Format::Raw => rows.row_le_bytes(row, &mut self.line),
            }
            self.out.write_all(&self.line).map_err(CliError::output)?;
            self.written += 1;
        }
        Ok(())
    }

    /// Hands what is buffered to stdout or a pipe, so that a reader downstream gets each batch
    /// as soon as it is done (a file is flushed only at the end).
    pub fn end_batch(&mut self) -> CliResult {
        match self.out.get_ref() {
            Sink::Stdout(_) | Sink::Stream(_) => self.out.flush().map_err(CliError::output),
            Sink::File(_) => Ok(()),
        }
    }

    /// Ends the output (JSON's closing bracket, the `.npy` header's row count) and, for a
    /// file, renames it into place.
    pub fn finish(mut self) -> CliResult {
        if let Format::Json = self.format {
            self.out.write_all(b"]\n").map_err(CliError::output)?;
        }
        if let Some(promised) = self.promised {
            if promised != self.written {
                return Err(format!(
                    "wrote {} vectors where the .npy header promised {promised}",
                    self.written
                )
                .into());
            }
        }
        self.out.flush().map_err(CliError::output)?;
        if let (Format::Npy, Sink::File(file)) = (self.format, self.out.get_mut()) {
            // The row count is known now: the fixed-size header is rewritten in place.
            file.seek(SeekFrom::Start(0)).map_err(CliError::output)?;
            file.write_all(&npy_header(self.precision, self.written, self.row_len))
                .map_err(CliError::output)?;
        }
        if let Sink::File(file) = self.out.get_ref() {
            file.sync_all().map_err(CliError::output)?;
        }
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

/// Bytes of every `.npy` header written here: room for any `(rows, cols)`, so a file's header
/// can be rewritten in place once the row count is known; a multiple of 64 (data aligned).
const NPY_HEADER_BYTES: usize = 128;

/// A version 1.0 `.npy` header for a C-order array of `(rows, cols)` elements of `precision`
/// (little-endian float32, or one signed or unsigned byte), padded with spaces to
/// [`NPY_HEADER_BYTES`].
fn npy_header(precision: OutputPrecision, rows: usize, cols: usize) -> Vec<u8> {
    let dtype = match precision {
        OutputPrecision::Int8 | OutputPrecision::Binary => "|i1",
        OutputPrecision::Uint8 | OutputPrecision::Ubinary => "|u1",
        _ => "<f4",
    };
    let dict =
        format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2), the dict, the padding, the final newline.
    let padding = NPY_HEADER_BYTES - 10 - dict.len() - 1;
    let header_len = (dict.len() + padding + 1) as u16;
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&header_len.to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.extend(std::iter::repeat_n(b' ', padding));
    header.push(b'\n');
    header
}

/// Appends row `row` of `rows` to `line` as a JSON array: floats as serde_json writes an f32
/// (its shortest round-trip form, as before the output precisions), bytes as integers.
fn json_row(line: &mut Vec<u8>, rows: &Embeddings, row: usize) -> serde_json::Result<()> {
    match rows {
        Embeddings::Float32 { values, .. } => {
            let n = rows.row_len();
            serde_json::to_writer(line, &values[row * n..(row + 1) * n])
        }
        other => serde_json::to_writer(line, &other.row_json(row).unwrap_or_default()),
    }
}
