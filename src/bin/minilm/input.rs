//! Reading texts from a file or stdin.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

fn open(path: &Path) -> Result<Box<dyn BufRead>, String> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Box::new(BufReader::new(file)))
}

fn lines(path: &Path) -> Result<Vec<String>, String> {
    let mut bytes = Vec::new();
    open(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        format!("{}: line {line} is not valid UTF-8", path.display())
    })?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// One text per line (`\n` or `\r\n`); an empty line is an empty text.
pub fn read_lines(path: &Path) -> Result<Vec<String>, String> {
    lines(path)
}

/// One JSON string per line; blank lines are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<String>, String> {
    let mut texts = Vec::new();
    for (number, line) in lines(path)?.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let text: String = serde_json::from_str(line).map_err(|e| {
            format!(
                "{}: line {}: expected one JSON string: {e}",
                path.display(),
                number + 1
            )
        })?;
        texts.push(text);
    }
    Ok(texts)
}
