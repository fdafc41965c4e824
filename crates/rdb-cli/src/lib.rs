//! The command-line front ends of rdbkit (`rdbkit`, `rdb-verify`): argument handling,
//! output formats and exit codes. No format logic lives here.

pub mod dump;
pub mod export;
pub mod verify;

use std::process::ExitCode;

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
