//! The output: an internal buffer, hashed (CRC-64) and written out in large chunks.

use std::io::{self, Write};

use rdb_format::crc::Crc64;

/// Buffered output that keeps the running CRC-64 of everything flushed.
///
/// Records are encoded straight into [`Sink::buf`]; [`Sink::maybe_flush`] hashes and writes
/// the buffer once it holds at least `cap` bytes, so the CRC is always fed whole buffers,
/// never single fields.
#[derive(Debug)]
pub(crate) struct Sink<W> {
    inner: W,
    pub(crate) buf: Vec<u8>,
    cap: usize,
    crc: Crc64,
    flushed: u64,
}

impl<W: Write> Sink<W> {
    pub(crate) fn new(inner: W, cap: usize) -> Self {
        Sink {
            inner,
            buf: Vec::with_capacity(cap + cap / 4),
            cap,
            crc: Crc64::new(),
            flushed: 0,
        }
    }

    /// A sink that never flushes: everything stays in [`Sink::buf`] (records encoded apart
    /// from their file, `crate::parallel`).
    pub(crate) fn unbounded(inner: W) -> Self {
        Sink {
            inner,
            buf: Vec::new(),
            cap: usize::MAX,
            crc: Crc64::new(),
            flushed: 0,
        }
    }

    /// Bytes produced so far (flushed and buffered).
    pub(crate) fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// Hashes and writes the buffer when it holds at least `cap` bytes.
    #[inline]
    pub(crate) fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= self.cap {
            self.flush_all()
        } else {
            Ok(())
        }
    }

    /// Hashes and writes everything buffered.
    pub(crate) fn flush_all(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.crc.update(&self.buf);
        self.inner.write_all(&self.buf)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        if self.buf.capacity() > 4 * self.cap {
            // A huge record grew the buffer: give the memory back.
            self.buf.shrink_to(self.cap + self.cap / 4);
        }
        Ok(())
    }

    /// Appends `data`: copied into the buffer when small, else written through directly
    /// (after flushing the buffer, so the byte order and the CRC stay right).
    pub(crate) fn put_large(&mut self, data: &[u8]) -> io::Result<()> {
        if data.len() < self.cap {
            self.buf.extend_from_slice(data);
            return self.maybe_flush();
        }
        self.flush_all()?;
        self.crc.update(data);
        self.inner.write_all(data)?;
        self.flushed += data.len() as u64;
        Ok(())
    }

    /// Flushes the buffer (which must end with the EOF opcode), appends the CRC-64 of all
    /// bytes so far (little-endian) and flushes the inner writer. Returns the writer, the
    /// CRC and the total size.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64, u64)> {
        self.flush_all()?;
        let crc = self.crc.value();
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.flush()?;
        Ok((self.inner, crc, self.flushed + 8))
    }
}
