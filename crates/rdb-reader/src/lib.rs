//! Streaming reader for Redis and Valkey RDB files.
//!
//! [`Parser`] is a pull parser that yields borrowed [`Event`]s per record, per key and per
//! element, over a zero-copy [`SliceSource`] (a memory-mapped file or a buffer) or a
//! [`StreamSource`] (any `Read`: pipes, stdin) with a bounded buffer. It reads every RDB
//! version real servers write (1–12, Valkey 80), validates every inner encoding as it goes,
//! checks the CRC-64 trailer, and stops at the first error, which names the byte offset, db,
//! key, type and encoding. [`read_keyspace`] builds the owned [`rdb_model::Keyspace`] from
//! bytes, [`read_keyspace_from`] from any parser (e.g. [`stream_parser`] over a `Read`).
//! Three levels: the events; the owned keyspace; and raw values —
//! [`Parser::skip_key_raw`] (over a slice) returns a key's serialised value untouched, to
//! copy it into another file without decoding it (`rdb_writer`'s `write_raw_value`).
//!
//! ```
//! use rdb_reader::{Event, Limits, Parser, SliceSource};
//! // `SET foo bar` in RDB 11, as a real server writes it.
//! let file = b"REDIS0011\xfe\x00\xfb\x01\x00\x00\x03foo\x03bar\xff\x8d\x86\xb9\x4c\x67\x6e\xab\x95";
//! let mut p = Parser::new(SliceSource::new(file), Limits::default());
//! let mut keys = 0;
//! while let Some(ev) = p.next_event().unwrap() {
//!     if let Event::Key(k) = ev {
//!         assert_eq!(k.key, rdb_format::Element::Str(b"foo"));
//!         keys += 1;
//!     }
//! }
//! assert_eq!(keys, 1);
//! ```
//!
//! A file on disk: [`MappedFile`] maps it (read-only; a file that cannot be mapped is read
//! into memory), and its bytes go to a [`SliceSource`]; [`WindowSource`] maps a few MiB at a
//! time instead, for files larger than memory.
//!
//! ```no_run
//! use rdb_reader::{Element, Event, Limits, MappedFile, Parser, SliceSource};
//! let map = MappedFile::open("dump.rdb".as_ref()).unwrap();
//! let mut p = Parser::new(SliceSource::new(map.bytes()), Limits::default());
//! while let Some(ev) = p.next_event().unwrap() {
//!     if let Event::Key(k) = ev {
//!         let mut buf = rdb_format::int::IntText::new(0);
//!         let name: &[u8] = k.key.as_bytes(&mut buf);
//!         println!("db {} key {}", k.db, String::from_utf8_lossy(name));
//!         let _ = Element::Str(name); // keys and elements are `Element`s (bytes or integers)
//!     }
//! }
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod error;
pub mod event;
pub mod keyspace;
pub mod parser;
pub mod source;
pub mod window;

use std::fs::File;
use std::io::Read;
use std::path::Path;

pub use error::{ReadError, ReadResult};
pub use event::{
    ChecksumStatus, EofInfo, Event, KeyInfo, NodeCountMismatch, StreamEntryRef, StreamMeta,
};
pub use keyspace::{read_keyspace, read_keyspace_from, KeyspaceBuilder};
pub use parser::Parser;
/// A key, member or value as the file holds it (bytes or an integer), from `rdb_format`.
pub use rdb_format::Element;
pub use source::{SliceSource, Source, StreamSource};
pub use window::WindowSource;

/// Bounds on what the reader holds in memory at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest blob (listpack, ziplist, intset, zipmap, stream node) held in memory.
    pub max_blob: usize,
    /// Largest single collection element or AUX/key string held in memory (top-level string
    /// values are streamed in chunks and are not bounded by this).
    pub max_string: usize,
    /// Fail on a checksum mismatch (otherwise it is reported in [`EofInfo`]).
    pub verify_checksum: bool,
    /// Decompress top-level LZF string values (the default). When false, such a value whose
    /// declared length exceeds 21 bytes is only validated (every LZF check, same errors at the
    /// same offsets, see [`rdb_format::lzf_validate`]) and gives no [`Event::StringChunk`]:
    /// its length is [`KeyInfo::len_hint`]. For consumers that need lengths, not bytes (a
    /// verifier); shorter values, which could be integer-like, are still decoded.
    pub decode_lzf_strings: bool,
    /// Give a string key whose value is at most one chunk (1 MiB) as one [`Event::Key`] holding
    /// its value ([`KeyInfo::whole`], [`KeyInfo::value`]) instead of `Key`, `StringChunk`,
    /// `KeyEnd`: one event per key for consumers that handle both forms (a verifier). A value
    /// only validated (`decode_lzf_strings` off) is given whole when its compressed bytes are at
    /// most one chunk, whatever its length once decompressed (no bytes: `value` is `None`).
    /// Off by default.
    pub whole_strings: bool,
    /// Give the raw bytes of module values and MODULE_AUX records ([`Event::Module`],
    /// [`Event::ModuleAux`]; the default), held in memory whole (at most `max_blob` bytes).
    /// When false, a module body is walked in released chunks — bounded memory whatever its
    /// size — and its `raw` is empty (its length is still given): for consumers that need
    /// lengths, not bytes (a verifier).
    pub module_bytes: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_blob: 1 << 30,
            max_string: 512 << 20,
            verify_checksum: true,
            decode_lzf_strings: true,
            whole_strings: false,
            module_bytes: true,
        }
    }
}

impl Limits {
    /// Buffer bound for a [`StreamSource`] under these limits.
    pub fn stream_buffer(&self) -> usize {
        self.max_blob.max(self.max_string).saturating_add(1 << 20)
    }
}

/// A read-only memory map of a file (the one documented `unsafe` call of the project).
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    /// Maps `path` read-only. Empty files are not mapped (an empty slice is returned).
    ///
    /// Only a regular file can be mapped: a directory, pipe, FIFO or device (whose length
    /// reads as 0) is an error of kind `InvalidInput`, never an empty file; read those with
    /// [`stream_parser`].
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            let what = if meta.is_dir() {
                "is a directory"
            } else {
                "is not a regular file (a pipe or device cannot be mapped)"
            };
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, what));
        }
        let len = meta.len();
        if len == 0 {
            return Ok(MappedFile { map: None });
        }
        let map = map_range(&file, 0, len)?;
        #[cfg(unix)]
        {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(MappedFile { map: Some(map) })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Maps `len` bytes of `file` from `offset` (a multiple of the page size) read-only: the one
/// `unsafe` call of the project, used by [`MappedFile`] and [`WindowSource`].
#[allow(unsafe_code)]
pub(crate) fn map_range(file: &File, offset: u64, len: u64) -> std::io::Result<memmap2::Mmap> {
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    // SAFETY: the map is read-only and private to this process. Another process truncating
    // or rewriting the file while it is mapped could change the bytes under us (or raise
    // SIGBUS on truncation); snapshot files are written once and renamed into place, and
    // callers that cannot rule this out use the streaming reader instead.
    unsafe {
        memmap2::MmapOptions::new()
            .offset(offset)
            .len(len)
            .map(file)
    }
}

/// A parser over a plain reader (pipes, stdin).
pub fn stream_parser<R: Read>(reader: R, limits: Limits) -> Parser<StreamSource<R>> {
    Parser::new(StreamSource::new(reader, limits.stream_buffer()), limits)
}
