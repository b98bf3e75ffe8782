//! All terminal output goes through here, so quiet / verbose / JSON are decided once:
//! human text goes to stderr, primary results (hash lines, file contents, `--json`
//! documents) go to stdout.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
}

impl Output {
    /// A human status line on stderr (hidden by `-q`).
    pub fn status(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// Detail shown only with `-v`.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A line of primary output on stdout.
    pub fn line(&self, msg: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", msg.as_ref());
    }

    /// The `--json` document on stdout, one line.
    pub fn json<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, value)?;
        writeln!(out)?;
        Ok(())
    }

    /// Whether stderr is a terminal a person watches (progress bars and live lines).
    pub fn interactive(&self) -> bool {
        !self.quiet && !self.json && std::io::stderr().is_terminal()
    }

    /// A byte progress bar on stderr, only when stderr is a terminal and output is not quiet.
    pub fn bytes_progress(&self, total: u64, label: &str) -> Option<ProgressBar> {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(label.to_string());
        Some(bar)
    }
}

/// The one `error: …` line of a failed command, on stderr (never hidden).
pub fn error(message: &str) {
    eprintln!("error: {message}");
}

/// Standard output for a stream of primary output (object bytes, scan lines), locked.
pub fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}
