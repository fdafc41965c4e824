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
/// `--version` text) and gives the exit code: 2 for a usage error, 0 for help and version —
/// unless that text could not be written (a full disk, say; a closed pipe is its reader being
/// done): then `write_error`, the command's exit code for an output it could not write.
pub fn parse_args<T: clap::Parser>(write_error: u8) -> Result<T, ExitCode> {
    T::try_parse().map_err(|e| {
        let printed = e.print();
        if e.use_stderr() {
            return ExitCode::from(2);
        }
        match printed {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                note!("{}: writing output: {err}", T::command().get_name());
                ExitCode::from(write_error)
            }
            _ => ExitCode::SUCCESS,
        }
    })
}
