//! Reading texts from a file or stdin, one at a time, so that memory follows the batch and the
//! longest line, not the input's size.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::error::CliResult;

/// Line buffers larger than this are given away with their text instead of kept for reuse.
const LARGE_LINE: usize = 1 << 20;

/// How a file holds texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One text per line (`\n` or `\r\n`); an empty line is an empty text.
    Lines,
    /// One JSON string per line; blank lines are skipped.
    Jsonl,
}

/// `--input-format`: how a file given on the command line holds texts.
#[derive(Clone, Copy, ValueEnum)]
pub enum InputFormat {
    Text,
    Jsonl,
}

impl InputFormat {
    /// How a file in this format is read.
    pub fn layout(self) -> Layout {
        match self {
            InputFormat::Text => Layout::Lines,
            InputFormat::Jsonl => Layout::Jsonl,
        }
    }

    /// The flag's value, as the search cache records it.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Text => "text",
            InputFormat::Jsonl => "jsonl",
        }
    }
}

/// The texts of a file (or stdin for `-`), read as they are asked for.
pub struct Texts {
    reader: Box<dyn BufRead>,
    path: PathBuf,
    layout: Layout,
    line: Vec<u8>,
    number: usize,
}

impl Texts {
    pub fn open(path: &Path, layout: Layout) -> CliResult<Texts> {
        let reader: Box<dyn BufRead> = if path == Path::new("-") {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Box::new(BufReader::new(file))
        };
        Ok(Texts {
            reader,
            path: path.to_owned(),
            layout,
            line: Vec::new(),
            number: 0,
        })
    }

    /// The texts held in `bytes` (already read from `path`, which names them in errors).
    pub fn from_bytes(bytes: Vec<u8>, path: &Path, layout: Layout) -> Texts {
        Texts {
            reader: Box::new(std::io::Cursor::new(bytes)),
            path: path.to_owned(),
            layout,
            line: Vec::new(),
            number: 0,
        }
    }

    /// The line number (from 1) of the text [`Texts::next_text`] returned last.
    pub fn line_number(&self) -> usize {
        self.number
    }

    /// The next line without its line ending, or `None` at the end of the input.
    fn next_line(&mut self) -> CliResult<Option<&str>> {
        self.line.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        }
        std::str::from_utf8(&self.line).map(Some).map_err(|_| {
            format!(
                "{}: line {} is not valid UTF-8",
                self.path.display(),
                self.number
            )
            .into()
        })
    }

    /// The next text, or `None` at the end of the input.
    pub fn next_text(&mut self) -> CliResult<Option<String>> {
        loop {
            let layout = self.layout;
            let Some(line) = self.next_line()? else {
                return Ok(None);
            };
            match layout {
                Layout::Lines if line.len() <= LARGE_LINE => return Ok(Some(line.to_owned())),
                Layout::Lines => break,
                Layout::Jsonl if line.trim().is_empty() => continue,
                Layout::Jsonl => {
                    let text = serde_json::from_str(line).map_err(|e| {
                        format!(
                            "{}: line {}: expected one JSON string: {e}",
                            self.path.display(),
                            self.number
                        )
                    })?;
                    return Ok(Some(text));
                }
            }
        }
        // A very long line is handed over rather than copied: a 100 MB text then takes 100 MB
        // once, not twice. (`next_line` checked it is UTF-8.)
        let bytes = std::mem::take(&mut self.line);
        String::from_utf8(bytes).map(Some).map_err(|_| {
            format!(
                "{}: line {} is not valid UTF-8",
                self.path.display(),
                self.number
            )
            .into()
        })
    }

    /// Up to `count` more texts (fewer only at the end of the input).
    pub fn next_chunk(&mut self, count: usize) -> CliResult<Vec<String>> {
        let mut chunk = Vec::with_capacity(count);
        while chunk.len() < count {
            match self.next_text()? {
                Some(text) => chunk.push(text),
                None => break,
            }
        }
        Ok(chunk)
    }

    /// Every remaining text.
    pub fn read_all(mut self) -> CliResult<Vec<String>> {
        let mut all = Vec::new();
        while let Some(text) = self.next_text()? {
            all.push(text);
        }
        Ok(all)
    }
}

/// How many texts the regular file `path` holds (`None` for stdin, a pipe or an unreadable
/// file): read once ahead of embedding, to size a progress bar.
pub fn count_texts(path: &Path, layout: Layout) -> Option<u64> {
    if path == Path::new("-") || !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut reader = BufReader::new(std::fs::File::open(path).ok()?);
    let mut line = Vec::new();
    let mut count = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return Some(count);
        }
        let blank = line.iter().all(u8::is_ascii_whitespace);
        if layout == Layout::Lines || !blank {
            count += 1;
        }
    }
}
