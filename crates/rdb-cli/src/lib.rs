//! The command-line front ends of rdbkit (`rdbkit`, `rdb-verify`): argument handling,
//! output formats and exit codes. No format logic lives here.

pub mod dump;
pub mod export;
pub mod verify;
