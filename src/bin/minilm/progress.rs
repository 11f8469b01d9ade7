//! The progress bar on stderr while many texts are embedded (`embed --input`, `search`).
//!
//! `--progress auto` (the default) draws only when stderr is a terminal and the input holds at
//! least [`AUTO_MIN_TEXTS`] texts; when the count is unknown (stdin) a counter appears once that
//! many are done. `always` draws whatever stderr is (plain ANSI, for logs and tests), `never`
//! and `--quiet` draw nothing. The bar never touches stdout.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

/// When to draw the bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// On a terminal, for inputs of 500 texts or more.
    Auto,
    /// Always, even when stderr is a file or a pipe.
    Always,
    /// Never.
    Never,
}

/// Fewer texts than this take about a second: `auto` draws no bar for them.
pub const AUTO_MIN_TEXTS: u64 = 500;

/// How the run asked for progress: `--progress` and `--quiet`.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub mode: Mode,
    pub quiet: bool,
}

impl Settings {
    /// Whether a bar may be drawn at all, so that a file's texts are counted only when it may.
    pub fn may_draw(self) -> bool {
        !self.quiet
            && match self.mode {
                Mode::Always => true,
                Mode::Never => false,
                Mode::Auto => std::io::stderr().is_terminal(),
            }
    }
}

/// A bar (or counter) that may be hidden; every method is a no-op when it is.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// `auto` with an unknown total: the counter starts once [`AUTO_MIN_TEXTS`] are done.
    deferred: bool,
    /// Drawn to a stderr that is not a terminal (`always`): ends with a newline, not a clear.
    forced: bool,
    done: u64,
}

impl Progress {
    /// Starts a bar over `total` texts (a counter when `None`), if `settings` want one.
    pub fn start(settings: Settings, total: Option<u64>) -> Progress {
        let forced = settings.mode == Mode::Always && !std::io::stderr().is_terminal();
        let mut progress = Progress::hidden();
        progress.forced = forced;
        if !settings.may_draw() {
            return progress;
        }
        match (settings.mode, total) {
            (Mode::Auto, Some(total)) if total < AUTO_MIN_TEXTS => {}
            (Mode::Auto, None) => progress.deferred = true,
            _ => progress.bar = Some(new_bar(total, forced)),
        }
        progress
    }

    /// No bar at all.
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            deferred: false,
            forced: false,
            done: 0,
        }
    }

    /// Counts `texts` more as done.
    pub fn advance(&mut self, texts: usize) {
        self.done += texts as u64;
        if self.deferred && self.done >= AUTO_MIN_TEXTS {
            self.deferred = false;
            self.bar = Some(new_bar(None, self.forced));
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
        }
    }

    /// Runs `write` (output to stdout) with the bar lifted off the terminal, so that the two
    /// never share a line when stdout and stderr are the same terminal.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Ends the bar: cleared from a terminal, left as its last line elsewhere.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        let Some(bar) = self.bar.take() else {
            return;
        };
        if self.forced {
            bar.finish();
            let _ = writeln!(std::io::stderr());
        } else {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// On an error the bar is ended too, so the error line starts a line of its own.
    fn drop(&mut self) {
        self.end();
    }
}

fn new_bar(total: Option<u64>, forced: bool) -> ProgressBar {
    let target = if forced {
        ProgressDrawTarget::term_like(Box::new(PlainStderr))
    } else {
        ProgressDrawTarget::stderr()
    };
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), target),
            "{bar:30} {pos}/{len} texts, {rate}, {eta} left",
        ),
        None => (
            ProgressBar::with_draw_target(None, target),
            "{spinner} {pos} texts, {rate}",
        ),
    };
    // The templates are constants; the fallback only keeps a typo from ever panicking.
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| match total {
        Some(_) => ProgressStyle::default_bar(),
        None => ProgressStyle::default_spinner(),
    });
    // indicatif's {per_sec} prints four decimals; whole texts per second read better.
    let style = style.with_key(
        "rate",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} texts/s", state.per_sec());
        },
    );
    bar.set_style(style);
    bar
}

/// Stderr as a terminal of 80 columns with ANSI cursor moves, whatever it really is: what
/// `--progress always` draws to when stderr is a file or a pipe (indicatif hides its own
/// stderr target there).
#[derive(Debug)]
struct PlainStderr;

impl PlainStderr {
    fn write(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().write_all(s.as_bytes())
    }

    /// The ANSI cursor move `ESC [ n code` (A up, B down, C right, D left); nothing for 0.
    fn move_cursor(&self, n: usize, code: char) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.write(&format!("\x1b[{n}{code}")),
        }
    }
}

impl TermLike for PlainStderr {
    fn width(&self) -> u16 {
        80
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.move_cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write(s)?;
        self.write("\n")
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.write("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
