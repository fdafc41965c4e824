//! The error type of every codec in this crate.

use std::fmt;

/// A codec failure: where (offset inside the buffer given to the codec), a stable code and a
/// human-readable message.
///
/// Callers that know where the buffer sits in a file add their own base offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    /// Byte offset inside the decoded buffer where the problem was found.
    pub offset: usize,
    /// A stable, kebab-case code (`listpack-count`, `lzf-backref`, ...).
    pub code: &'static str,
    /// What was expected and what was found.
    pub message: String,
}

impl CodecError {
    /// Builds an error.
    pub fn new(offset: usize, code: &'static str, message: impl Into<String>) -> Self {
        CodecError {
            offset,
            code,
            message: message.into(),
        }
    }

    /// The same error with its offset moved by `base`.
    pub fn shifted(mut self, base: usize) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at +{})", self.message, self.offset)
    }
}

impl std::error::Error for CodecError {}

/// Result alias for codecs.
pub type CodecResult<T> = Result<T, CodecError>;

/// Reads `N` bytes at `pos` as an array, or fails with a truncation error.
pub(crate) fn array_at<const N: usize>(buf: &[u8], pos: usize, what: &str) -> CodecResult<[u8; N]> {
    let end = pos.checked_add(N);
    match end.and_then(|e| buf.get(pos..e)) {
        Some(s) => {
            let mut a = [0u8; N];
            a.copy_from_slice(s);
            Ok(a)
        }
        None => Err(CodecError::new(
            pos,
            "truncated",
            format!(
                "{what}: need {N} bytes, {} left",
                buf.len().saturating_sub(pos)
            ),
        )),
    }
}

/// Borrows `len` bytes at `pos`, or fails with a truncation error.
pub(crate) fn slice_at<'a>(
    buf: &'a [u8],
    pos: usize,
    len: usize,
    what: &str,
) -> CodecResult<&'a [u8]> {
    pos.checked_add(len)
        .and_then(|e| buf.get(pos..e))
        .ok_or_else(|| {
            CodecError::new(
                pos,
                "truncated",
                format!(
                    "{what}: need {len} bytes, {} left",
                    buf.len().saturating_sub(pos)
                ),
            )
        })
}

/// Reads one byte at `pos`.
pub(crate) fn byte_at(buf: &[u8], pos: usize, what: &str) -> CodecResult<u8> {
    buf.get(pos)
        .copied()
        .ok_or_else(|| CodecError::new(pos, "truncated", format!("{what}: need 1 byte, 0 left")))
}
