//! Which process wrote a root or a temp file, and whether it still runs (a leaf).

use std::fs;
use std::io;
use std::path::Path;

/// This process's identity in root and temp-file names: its pid and, where the system says,
/// its start time (so a recycled pid does not keep a dead process's roots alive).
pub(crate) fn this_process() -> (u32, u64) {
    static THIS: std::sync::OnceLock<(u32, u64)> = std::sync::OnceLock::new();
    *THIS.get_or_init(|| {
        let pid = std::process::id();
        (pid, start_time(pid).unwrap_or(0))
    })
}

/// A process's start time in clock ticks since boot (Linux `/proc/<pid>/stat`, field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote a root (or temp file) named `pid`/`start` still runs.
pub(crate) fn alive(pid: u32, start: Option<u64>) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if Path::new("/proc/self/stat").exists() {
        return match (start_time(pid), start) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then || then == 0,
            (Some(_), None) => true,
        };
    }
    // Elsewhere: signal 0 asks whether the pid exists (EPERM: it does, someone else's).
    // SAFETY: kill with signal 0 sends nothing.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
