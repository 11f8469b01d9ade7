//! The CLI's error: the one line `minilm` prints on stderr, and the exit code that goes with it.

use std::fmt;

/// Why `minilm` stopped. Printed as `minilm: <message>`, always on one line.
#[derive(Debug)]
pub enum CliError {
    /// The command line does not parse (an unknown flag, a missing argument): exit code 2, as
    /// clap's own usage errors have.
    Usage(String),
    /// The command ran and failed (model, input, output, network): exit code 1.
    Failed(String),
}

/// What every command returns.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// The process's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }

    /// clap's usage error as one line: its first line, with the arguments it lists below a
    /// trailing colon ("the following required arguments were not provided:") joined onto it.
    pub fn usage(error: &clap::Error) -> CliError {
        let text = error.to_string();
        let mut lines = text.lines();
        let mut first = lines.next().unwrap_or_default().to_owned();
        if first.ends_with(':') {
            let listed: Vec<&str> = lines.map(str::trim).take_while(|l| !l.is_empty()).collect();
            first = format!("{first} {}", listed.join(", "));
        }
        let first = first.strip_prefix("error: ").unwrap_or(&first);
        CliError::Usage(first.to_owned())
    }

    /// A failed write to the output (stdout or `--output`).
    pub fn output(error: std::io::Error) -> CliError {
        CliError::Failed(format!("cannot write output: {error}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => write!(f, "{message} (see minilm --help)"),
            CliError::Failed(message) => f.write_str(message),
        }
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Failed(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> CliError {
        CliError::Failed(message.to_owned())
    }
}

impl From<minilm::Error> for CliError {
    fn from(error: minilm::Error) -> CliError {
        CliError::Failed(error.to_string())
    }
}
