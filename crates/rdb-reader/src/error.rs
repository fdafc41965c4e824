//! Reader errors: where (file, absolute byte offset, db, key, type, encoding) and what.

use std::fmt;
use std::path::PathBuf;

use rdb_format::escape_bytes;

/// An error met while reading a file. Boxed inside so results stay small.
#[derive(Debug)]
pub struct ReadError(Box<ErrorInfo>);

/// The details of a [`ReadError`].
#[derive(Debug)]
pub struct ErrorInfo {
    /// The file, when known.
    pub file: Option<PathBuf>,
    /// Absolute byte offset where the problem was found.
    pub offset: u64,
    /// Current database, once a SELECTDB was read.
    pub db: Option<u64>,
    /// The key being read (first bytes only).
    pub key: Option<Vec<u8>>,
    /// Full length of that key.
    pub key_len: usize,
    /// Logical type and encoding of the key being read (`"hash"`, `"listpack"`).
    pub type_info: Option<(&'static str, &'static str)>,
    /// Stable error code (`truncated`, `listpack-count`, `crc-mismatch`, ...).
    pub code: &'static str,
    /// What was expected and what was found.
    pub message: String,
    /// The underlying I/O error, if any.
    pub io: Option<std::io::Error>,
}

impl ReadError {
    /// Builds an error with no context beyond the offset.
    pub fn new(offset: u64, code: &'static str, message: impl Into<String>) -> Self {
        ReadError(Box::new(ErrorInfo {
            file: None,
            offset,
            db: None,
            key: None,
            key_len: 0,
            type_info: None,
            code,
            message: message.into(),
            io: None,
        }))
    }

    /// The details.
    pub fn info(&self) -> &ErrorInfo {
        &self.0
    }

    /// Mutable details (used to add context).
    pub fn info_mut(&mut self) -> &mut ErrorInfo {
        &mut self.0
    }

    /// Absolute byte offset.
    pub fn offset(&self) -> u64 {
        self.0.offset
    }

    /// Stable code.
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// Sets the file name shown in messages.
    pub fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.0.file = Some(file.into());
        self
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        if let Some(file) = &i.file {
            write!(f, "{}: ", file.display())?;
        }
        write!(f, "byte {} (0x{:x})", i.offset, i.offset)?;
        if let Some(db) = i.db {
            write!(f, ", db {db}")?;
        }
        if let Some(k) = &i.key {
            let mut s = escape_bytes(k, 64);
            if i.key_len > k.len() {
                s.push_str(&format!("... ({} bytes)", i.key_len));
            }
            write!(f, ", key {s}")?;
        }
        if let Some((t, e)) = i.type_info {
            write!(f, " ({t}, {e})")?;
        }
        write!(f, ": {}", i.message)
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.io.as_ref().map(|e| e as _)
    }
}

/// Result alias.
pub type ReadResult<T> = Result<T, ReadError>;
