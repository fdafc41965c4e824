//! The command-line front ends of rdbkit (`rdbkit`, `rdb-verify`): argument handling,
//! output formats and exit codes. No format logic lives here.

pub mod dump;
pub mod export;
pub mod verify;

use std::process::ExitCode;

/// `eprintln!` that never panics: a diagnostic that cannot be written (standard error closed,
/// a broken pipe, a full disk) is dropped and the command goes on to its own exit code. With
/// `eprintln!` such a write panicked: the commands exited 101, `rdb-verify --json` before
/// writing its report, and in `rdbkit export`'s signal handler the interruption was lost (the
/// export went on and published).
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr().lock(), $($arg)*);
    }};
}

/// Parses the command line into `T`; on failure prints clap's message (or the `--help` /
/// `--version` text) and gives the exit code: 2 for a usage error, 0 for help and version.
pub fn parse_args<T: clap::Parser>() -> Result<T, ExitCode> {
    T::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })
}
