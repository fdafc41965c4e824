//! Byte sources: a zero-copy slice (a mapped file or a buffer) and a bounded-buffer `Read`.
//!
//! Both hand out [`Span`]s: positions of consumed bytes that stay valid until the parser
//! calls [`Source::release`]. Both track the absolute offset and the CRC-64 of consumed
//! bytes, computed over large chunks (the slice source in one call at the end, the stream
//! source once per buffer compaction).

use std::io::{self, Read};

use rdb_format::crc::{crc64, Crc64};

/// A range of consumed bytes, valid until the next [`Source::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Absolute offset of the first byte.
    start: u64,
    len: usize,
}

impl Span {
    /// Absolute offset of the first byte.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the span is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The span of `len` bytes at absolute offset `start` (a part of a span already taken).
    pub(crate) fn new(start: u64, len: usize) -> Span {
        Span { start, len }
    }

    /// The span covering `self` and everything up to the end of `later` (both must come from
    /// the same release window, `later` after `self`).
    pub fn to_end_of(self, later: Span) -> Span {
        Span {
            start: self.start,
            len: (later.start + later.len as u64).saturating_sub(self.start) as usize,
        }
    }
}

/// Why a source could not deliver bytes.
#[derive(Debug)]
pub enum SourceError {
    /// The input ended: `needed` more bytes were required, `available` were there.
    Eof {
        /// Bytes requested.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The request exceeds the buffer limit of a stream source.
    TooLarge(usize),
    /// The underlying reader failed.
    Io(io::Error),
}

/// A byte source for the parser.
pub trait Source {
    /// Absolute offset of the next unread byte.
    fn offset(&self) -> u64;
    /// Consumes exactly `n` bytes.
    fn take(&mut self, n: usize) -> Result<Span, SourceError>;
    /// Returns up to `n` bytes without consuming them (fewer only at the end of input).
    fn peek(&mut self, n: usize) -> Result<&[u8], SourceError>;
    /// The bytes of a span taken since the last release.
    fn bytes(&self, span: Span) -> &[u8];
    /// Everything consumed so far may be dropped; earlier spans become invalid.
    fn release(&mut self);
    /// CRC-64/REDIS of every byte consumed so far.
    fn crc(&mut self) -> u64;
    /// Whether any byte remains after the consumed ones.
    fn has_more(&mut self) -> Result<bool, SourceError>;
    /// Whether the bytes of a span are copied into memory the source holds until released
    /// (a stream's buffer), so that a long span costs memory; `false` for a source whose bytes
    /// are all there already (a slice, a mapped file).
    fn buffers_spans(&self) -> bool {
        true
    }
}

/// A zero-copy source over a byte slice (e.g. a memory-mapped file).
#[derive(Debug)]
pub struct SliceSource<'d> {
    pub(crate) data: &'d [u8],
    pos: usize,
}

impl<'d> SliceSource<'d> {
    /// A source over `data`.
    pub fn new(data: &'d [u8]) -> Self {
        SliceSource { data, pos: 0 }
    }
}

impl Source for SliceSource<'_> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<Span, SourceError> {
        let available = self.data.len() - self.pos;
        if n > available {
            return Err(SourceError::Eof {
                needed: n,
                available,
            });
        }
        let s = Span {
            start: self.pos as u64,
            len: n,
        };
        self.pos += n;
        Ok(s)
    }

    fn peek(&mut self, n: usize) -> Result<&[u8], SourceError> {
        let end = self.pos.saturating_add(n).min(self.data.len());
        Ok(self.data.get(self.pos..end).unwrap_or(&[]))
    }

    #[inline]
    fn bytes(&self, span: Span) -> &[u8] {
        let start = span.start as usize;
        self.data.get(start..start + span.len).unwrap_or(&[])
    }

    #[inline]
    fn release(&mut self) {}

    fn buffers_spans(&self) -> bool {
        false
    }

    fn crc(&mut self) -> u64 {
        crc64(self.data.get(..self.pos).unwrap_or(&[]))
    }

    fn has_more(&mut self) -> Result<bool, SourceError> {
        Ok(self.pos < self.data.len())
    }
}

/// A source over any `Read` (pipes, stdin), with a bounded, growable buffer.
///
/// The buffer holds the bytes consumed since the last release plus read-ahead. It grows
/// only when it is full of real input, so memory never exceeds twice the bytes actually
/// received for the largest blob, and never exceeds `max_buffer`.
pub struct StreamSource<R> {
    reader: R,
    buf: Vec<u8>,
    /// Bytes of `buf` holding data.
    filled: usize,
    /// Next unread byte in `buf`.
    pos: usize,
    /// Bytes before this index may be discarded.
    released: usize,
    /// Bytes before this index are already in the CRC.
    crc_done: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    crc: Crc64,
    max_buffer: usize,
    eof: bool,
    /// The reader's first error (other than `Interrupted`): every later request for more bytes
    /// than are buffered fails with it again, so that a caller that tries again (or a parser
    /// path that falls back to another read) reports the I/O error, not the end of a
    /// truncated file — even from a reader that would return EOF, or more data, afterwards.
    failed: Option<(io::ErrorKind, String)>,
}

/// Read-ahead size of a stream source.
pub const STREAM_CHUNK: usize = 64 * 1024;

impl<R: Read> StreamSource<R> {
    /// A source reading `reader`; a single request may not exceed `max_buffer` bytes.
    pub fn new(reader: R, max_buffer: usize) -> Self {
        StreamSource {
            reader,
            buf: Vec::new(),
            filled: 0,
            pos: 0,
            released: 0,
            crc_done: 0,
            base: 0,
            crc: Crc64::new(),
            max_buffer,
            eof: false,
            failed: None,
        }
    }

    /// Makes `n` unread bytes available (or fewer at EOF).
    fn fill(&mut self, n: usize) -> Result<(), SourceError> {
        if self.filled - self.pos >= n || self.eof {
            return Ok(());
        }
        if let Some((kind, msg)) = &self.failed {
            return Err(SourceError::Io(io::Error::new(*kind, msg.clone())));
        }
        if n > self.max_buffer {
            return Err(SourceError::TooLarge(n));
        }
        // Compact: fold released bytes into the CRC (one large chunk) and drop them.
        if self.released > 0 {
            if let Some(chunk) = self.buf.get(self.crc_done..self.released) {
                self.crc.update(chunk);
            }
            self.buf.copy_within(self.released..self.filled, 0);
            self.filled -= self.released;
            self.pos -= self.released;
            self.crc_done = 0;
            self.base += self.released as u64;
            self.released = 0;
        }
        while self.filled - self.pos < n {
            if self.filled == self.buf.len() {
                // Grow only when full of real data: at most 2x what was received.
                let want = (self.pos + n).max(STREAM_CHUNK);
                let grown = (self.buf.len() * 2)
                    .max(STREAM_CHUNK)
                    .min(want.max(self.buf.len() + STREAM_CHUNK));
                self.buf.resize(grown, 0);
            }
            let dst = self.buf.get_mut(self.filled..).unwrap_or(&mut []);
            match self.reader.read(dst) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.filled += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(SourceError::Io(e));
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn take(&mut self, n: usize) -> Result<Span, SourceError> {
        if self.filled - self.pos < n {
            self.fill(n)?;
            let available = self.filled - self.pos;
            if available < n {
                return Err(SourceError::Eof {
                    needed: n,
                    available,
                });
            }
        }
        let s = Span {
            start: self.base + self.pos as u64,
            len: n,
        };
        self.pos += n;
        Ok(s)
    }

    fn peek(&mut self, n: usize) -> Result<&[u8], SourceError> {
        self.fill(n)?;
        let end = self.pos.saturating_add(n).min(self.filled);
        Ok(self.buf.get(self.pos..end).unwrap_or(&[]))
    }

    fn bytes(&self, span: Span) -> &[u8] {
        let Some(rel) = span.start.checked_sub(self.base) else {
            return &[];
        };
        let rel = rel as usize;
        self.buf.get(rel..rel + span.len).unwrap_or(&[])
    }

    fn release(&mut self) {
        self.released = self.pos;
    }

    fn crc(&mut self) -> u64 {
        if let Some(chunk) = self.buf.get(self.crc_done..self.pos) {
            self.crc.update(chunk);
        }
        self.crc_done = self.pos;
        self.crc.value()
    }

    fn has_more(&mut self) -> Result<bool, SourceError> {
        self.fill(1)?;
        Ok(self.filled > self.pos)
    }
}
