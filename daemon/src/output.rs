//! Writing command output to stdout without panicking when the reader has gone.
//!
//! `println!` panics when stdout is a closed pipe (`firedrill runs | head -1`). Listing
//! commands use [`outln!`](crate::outln): the reader has what it wanted, so the command
//! ends quietly (exit 0). Commands that change a cluster use [`sayln!`](crate::sayln): a
//! closed stdout drops the rest of the progress lines, never the drill or its rollback.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes one line; a closed stdout ends the process quietly, another write error ends it
/// with an error on stderr.
pub fn or_exit(args: std::fmt::Arguments<'_>, newline: bool) {
    if let Err(err) = write(args, newline) {
        if err.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {err}");
        std::process::exit(1);
    }
}

static DROPPED: AtomicBool = AtomicBool::new(false);

/// Writes one line; if stdout cannot be written, says so once on stderr and carries on.
pub fn or_drop(args: std::fmt::Arguments<'_>, newline: bool) {
    if let Err(err) = write(args, newline)
        && !DROPPED.swap(true, Ordering::Relaxed)
    {
        eprintln!("warning: standard output is closed ({err}); carrying on without it");
    }
}

fn write(args: std::fmt::Arguments<'_>, newline: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    if newline {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// `println!` for listing commands: a closed stdout ends the command quietly.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::or_exit(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::output::or_exit(format_args!($($arg)*), true) };
}

/// `print!` for listing commands: a closed stdout ends the command quietly.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::or_exit(format_args!($($arg)*), false) };
}

/// `println!` for commands that act on a cluster: a closed stdout never stops them.
#[macro_export]
macro_rules! sayln {
    () => { $crate::output::or_drop(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::output::or_drop(format_args!($($arg)*), true) };
}

/// `print!` for commands that act on a cluster: a closed stdout never stops them.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::or_drop(format_args!($($arg)*), false) };
}
