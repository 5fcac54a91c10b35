//! A benchmark's child process: its exit code, wall time, peak memory and output. Peak
//! memory needs `wait4`, which reaps the child where `Child::wait` would.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[allow(dead_code, reason = "each benchmark reads the fields it reports")]
pub struct Measured {
    /// The exit code; -1 when a signal ended the child.
    pub code: i32,
    pub elapsed: Duration,
    /// Peak resident size in KiB (Linux reports `ru_maxrss` in kilobytes).
    pub peak_kib: i64,
    pub stdout: String,
}

/// Runs `command` to its end, its stdout kept and its stderr discarded.
#[expect(
    clippy::zombie_processes,
    reason = "wait4 reaps the child, which `Child::wait` cannot do while reading its usage"
)]
pub fn measure(command: &mut Command) -> Measured {
    let started = Instant::now();
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals above.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    Measured {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        elapsed,
        peak_kib: usage.ru_maxrss,
        stdout: reader.join().unwrap_or_default(),
    }
}
