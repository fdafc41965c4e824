//! Errors of the writer.

use std::fmt;
use std::io;

use rdb_model::Bytes;

/// A key, shown escaped in messages (`"user:\x00"`), with the database it was written to
/// when the writer knows it, or `-` when the error concerns no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName {
    /// The key's bytes (`None` for file-level records such as functions).
    pub key: Option<Bytes>,
    /// The database of the key (`None` when not known or not relevant).
    pub db: Option<u32>,
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => f.write_str(&rdb_format::escape_bytes(k, 64)),
            None => f.write_str("-"),
        }
    }
}

impl KeyName {
    /// The name of `key`, database unknown.
    pub fn of(key: &[u8]) -> Self {
        KeyName {
            key: Some(Bytes::copy_from_slice(key)),
            db: None,
        }
    }

    /// The name of `key` written to database `db`.
    pub fn in_db(db: u32, key: &[u8]) -> Self {
        KeyName {
            key: Some(Bytes::copy_from_slice(key)),
            db: Some(db),
        }
    }

    /// No key (file-level records such as functions).
    pub fn none() -> Self {
        KeyName {
            key: None,
            db: None,
        }
    }

    /// `db N, key NAME: ` (or `key NAME: `) in front of a message about a key; nothing when
    /// there is no key.
    pub fn prefix(&self) -> String {
        match (&self.key, self.db) {
            (Some(_), Some(db)) => format!("db {db}, key {self}: "),
            (Some(_), None) => format!("key {self}: "),
            (None, _) => String::new(),
        }
    }
}

/// Everything that can go wrong while writing a file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The underlying writer failed. The writer is poisoned afterwards.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The target cannot represent this data (e.g. hash field TTLs before Redis 7.4).
    /// Nothing of the record was written; the writer stays usable.
    #[error("{}the target {target} cannot represent {what}", .key.prefix())]
    Unsupported {
        /// The key concerned (`None` for file-level records).
        key: KeyName,
        /// The target's name (`redis-7.0`).
        target: &'static str,
        /// What cannot be represented.
        what: String,
    },
    /// The value breaks a rule the server enforces when loading (NaN score, duplicate member,
    /// PEL entry without consumer, TTL out of range, ...). Nothing of the record was written.
    #[error("{}{what}", .key.prefix())]
    InvalidValue {
        /// The key concerned.
        key: KeyName,
        /// What is wrong.
        what: String,
    },
    /// A key appears twice in one database: a server refuses such a file ("Duplicated key
    /// found in RDB file"). Found before anything of the file was written.
    #[error(
        "key {key} appears twice in db {db}: a server refuses to load a file that repeats a key"
    )]
    DuplicateKey {
        /// The database.
        db: u32,
        /// The repeated key.
        key: KeyName,
    },
    /// A streamed collection received more or fewer elements than declared. The record is
    /// partially written, so the writer is poisoned.
    #[error("{}declared {declared} elements, got {actual}", .key.prefix())]
    CountMismatch {
        /// The key concerned.
        key: KeyName,
        /// Count given to `begin_*`.
        declared: u64,
        /// Elements pushed (at least, when too many).
        actual: u64,
    },
    /// A method was called out of order (e.g. an entry before the header).
    #[error("writer used out of order: {0}")]
    State(&'static str),
    /// The caller's cancel flag was set ([`RdbWriter::write_records_parallel`]); the records
    /// before it are written and the writer stays usable.
    ///
    /// [`RdbWriter::write_records_parallel`]: crate::RdbWriter::write_records_parallel
    #[error("cancelled")]
    Cancelled,
    /// An earlier error left a partial record in the output; the file cannot be completed.
    #[error("the writer is poisoned by an earlier error ({0}); the file is unusable")]
    Poisoned(String),
}

/// Result alias of this crate.
pub type WriteResult<T> = Result<T, WriteError>;
