//! A zero-copy source over a regular file, mapped one window at a time.
//!
//! [`StreamSource`](crate::StreamSource) copies every byte from the page cache into its buffer
//! (`read`), which cost 6–14 % of a verification; a whole-file map
//! ([`MappedFile`](crate::MappedFile)) copies nothing, but every page it touches stays in the
//! process's RSS, so a 500 MB file would hold 500 MB resident. [`WindowSource`] maps a window
//! of [`WINDOW`] bytes and, when the parser needs bytes past it, maps the next window from the
//! first byte not yet released (rounded down to [`ALIGN`]) and drops the old one: nothing is
//! copied, and resident memory stays at about one window (more only while one blob larger than
//! a window is held, as the stream buffer would hold it too).
//!
//! The CRC-64 is folded in per window, over the released bytes, in large chunks. Like any
//! map, the file must not be truncated while it is read (see [`MappedFile`](crate::MappedFile)).

use std::fs::File;
use std::io;
use std::path::Path;

use rdb_format::crc::Crc64;

use crate::source::{Source, SourceError, Span};

/// Bytes mapped at once (unless one request needs more).
pub const WINDOW: usize = 4 << 20;

/// Released bytes are added to the CRC in chunks of at least this many, while the parser's
/// reads have left them in the cache (folding a whole window at once read it back from memory:
/// the CRC's share of a verification grew from 1.6 % to 6.8 %).
const CRC_CHUNK: usize = 128 << 10;

/// Window starts are multiples of this: a multiple of every page size Linux uses (4, 16 and
/// 64 KiB), as `mmap` requires of offsets.
pub const ALIGN: u64 = 64 << 10;

/// A source over a regular file, mapped a window at a time (see the module docs).
pub struct WindowSource {
    file: File,
    /// The file's length when it was opened.
    file_len: u64,
    /// The current window (`None` before the first request and for an empty file).
    map: Option<memmap2::Mmap>,
    /// Absolute offset of the window's first byte.
    base: u64,
    /// Next unread byte, relative to `base`.
    pos: usize,
    /// Bytes before this (relative) index may be dropped.
    released: usize,
    /// Bytes before this (relative) index are in the CRC.
    crc_done: usize,
    crc: Crc64,
    /// Bytes mapped at once.
    window: usize,
    /// Largest single request.
    max_buffer: usize,
}

impl std::fmt::Debug for WindowSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowSource")
            .field("file_len", &self.file_len)
            .field("base", &self.base)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl WindowSource {
    /// Opens the regular file at `path`; a single request may not exceed `max_buffer` bytes.
    /// Fails for anything that is not a regular file (a pipe, a directory) and when the file
    /// cannot be mapped: callers then read it with a [`StreamSource`](crate::StreamSource).
    pub fn open(path: &Path, max_buffer: usize) -> io::Result<Self> {
        Self::with_window(path, max_buffer, WINDOW)
    }

    /// As [`WindowSource::open`], with windows of `window` bytes (at least [`ALIGN`]; tests
    /// use small ones to cross many window boundaries).
    pub fn with_window(path: &Path, max_buffer: usize, window: usize) -> io::Result<Self> {
        Self::map_first(File::open(path)?, max_buffer, window).map_err(|(_, e)| e)
    }

    /// As [`WindowSource::open`] for a file already open; when it is not a regular file or
    /// cannot be mapped, the file is given back, to be read with a
    /// [`StreamSource`](crate::StreamSource) instead.
    pub fn from_file(file: File, max_buffer: usize) -> Result<Self, File> {
        Self::map_first(file, max_buffer, WINDOW).map_err(|(file, _)| file)
    }

    /// A source over `file` with its first window mapped (so that a file system without maps
    /// fails here, not later); on failure, the file and why.
    fn map_first(file: File, max_buffer: usize, window: usize) -> Result<Self, (File, io::Error)> {
        let meta = match file.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Err((file, io::Error::other("not a regular file"))),
            Err(e) => return Err((file, e)),
        };
        let mut src = WindowSource {
            file,
            file_len: meta.len(),
            map: None,
            base: 0,
            pos: 0,
            released: 0,
            crc_done: 0,
            crc: Crc64::new(),
            window: window.max(ALIGN as usize),
            max_buffer,
        };
        match src.fill(1) {
            Ok(()) => Ok(src),
            Err(SourceError::Io(e)) => Err((src.file, e)),
            Err(other) => Err((src.file, io::Error::other(format!("{other:?}")))),
        }
    }

    /// Adds the released bytes not yet in the CRC to it.
    #[inline(never)]
    fn fold_crc(&mut self) {
        if self.crc_done < self.released {
            let w = self.map.as_deref().unwrap_or(&[]);
            if let Some(chunk) = w.get(self.crc_done..self.released) {
                self.crc.update(chunk);
            }
            self.crc_done = self.released;
        }
    }

    /// The mapped window.
    #[inline(always)]
    fn win(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Makes `n` unread bytes available (fewer only at the end of the file).
    #[inline]
    fn fill(&mut self, n: usize) -> Result<(), SourceError> {
        if self.win().len() - self.pos >= n {
            return Ok(());
        }
        self.remap(n)
    }

    /// Maps the window that holds the unreleased bytes and `n` more after the unread ones
    /// (from the first unreleased byte, rounded down to [`ALIGN`]), then drops the old one.
    #[cold]
    #[inline(never)]
    fn remap(&mut self, n: usize) -> Result<(), SourceError> {
        let window_end = self.base + self.win().len() as u64;
        if window_end >= self.file_len {
            return Ok(()); // the end of the file: fewer bytes are available
        }
        if n > self.max_buffer {
            return Err(SourceError::TooLarge(n));
        }
        // The released bytes go into the CRC before their window is dropped.
        self.fold_crc();
        let keep = self.base + self.released as u64;
        let new_base = keep - keep % ALIGN;
        let need_end = self.base + self.pos as u64 + n as u64;
        let new_end = need_end
            .max(new_base + self.window as u64)
            .min(self.file_len);
        let map =
            crate::map_range(&self.file, new_base, new_end - new_base).map_err(SourceError::Io)?;
        #[cfg(unix)]
        {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        // `new_base <= keep`, so the shift is at most `released <= crc_done, pos`.
        let shift = (new_base - self.base) as usize;
        self.pos -= shift;
        self.released -= shift;
        self.crc_done -= shift;
        self.base = new_base;
        self.map = Some(map);
        Ok(())
    }
}

impl Source for WindowSource {
    #[inline]
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<Span, SourceError> {
        if self.win().len() - self.pos < n {
            self.fill(n)?;
            let available = self.win().len() - self.pos;
            if available < n {
                return Err(SourceError::Eof {
                    needed: n,
                    available,
                });
            }
        }
        let s = Span::new(self.base + self.pos as u64, n);
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn peek(&mut self, n: usize) -> Result<&[u8], SourceError> {
        self.fill(n)?;
        let w = self.win();
        let end = self.pos.saturating_add(n).min(w.len());
        Ok(w.get(self.pos..end).unwrap_or(&[]))
    }

    #[inline]
    fn bytes(&self, span: Span) -> &[u8] {
        let Some(rel) = span.start().checked_sub(self.base) else {
            return &[];
        };
        let rel = rel as usize;
        self.win().get(rel..rel + span.len()).unwrap_or(&[])
    }

    #[inline]
    fn release(&mut self) {
        self.released = self.pos;
        // Fold released bytes into the CRC while they are still in the cache (the parser
        // has just read them), in chunks of at least `CRC_CHUNK`.
        if self.released - self.crc_done >= CRC_CHUNK {
            self.fold_crc();
        }
    }

    fn crc(&mut self) -> u64 {
        if self.crc_done < self.pos {
            if let Some(chunk) = self
                .map
                .as_deref()
                .and_then(|w| w.get(self.crc_done..self.pos))
            {
                self.crc.update(chunk);
            }
            self.crc_done = self.pos;
        }
        self.crc.value()
    }

    fn has_more(&mut self) -> Result<bool, SourceError> {
        self.fill(1)?;
        Ok(self.win().len() > self.pos)
    }
}
