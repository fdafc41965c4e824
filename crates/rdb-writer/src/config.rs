//! Writer options: [`WriterBuilder`], the encoding thresholds and per-key metadata.

use std::io::Write;

use rdb_format::Header;
use rdb_model::{Bytes, Entry};

use crate::target::Target;
use crate::writer::RdbWriter;

/// The thresholds that decide compact vs. big encodings, as server config options
/// (format reference §7.2). [`Default`] gives the server defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingConfig {
    /// `hash-max-listpack-entries` (512): at most this many fields for a listpack/ziplist hash.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value` (64): longest field or value of a listpack/ziplist hash.
    pub hash_max_listpack_value: usize,
    /// `set-max-intset-entries` (512): at most this many members for an intset.
    pub set_max_intset_entries: usize,
    /// `set-max-listpack-entries` (128, RDB ≥ 11): at most this many members for a set listpack.
    pub set_max_listpack_entries: usize,
    /// `set-max-listpack-value` (64, RDB ≥ 11): longest member of a set listpack.
    pub set_max_listpack_value: usize,
    /// `zset-max-listpack-entries` (128): at most this many members for a listpack/ziplist zset.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value` (64): longest member of a listpack/ziplist zset.
    pub zset_max_listpack_value: usize,
    /// `list-max-listpack-size` (−2): negative n = node byte limit 4096 << (−n − 1) (−1..−5);
    /// positive n = at most n elements per node (and at most 8192 bytes).
    pub list_max_listpack_size: i64,
    /// `stream-node-max-bytes` (4096): a new stream node starts when the current one would
    /// reach this size (0 = no limit but the 1 GiB listpack cap).
    pub stream_node_max_bytes: usize,
    /// `stream-node-max-entries` (100): a new stream node starts when the current one holds
    /// this many entries (0 = no limit).
    pub stream_node_max_entries: usize,
}

impl Default for EncodingConfig {
    fn default() -> Self {
        use rdb_format::thresholds as t;
        EncodingConfig {
            hash_max_listpack_entries: t::HASH_MAX_LISTPACK_ENTRIES,
            hash_max_listpack_value: t::HASH_MAX_LISTPACK_VALUE,
            set_max_intset_entries: t::SET_MAX_INTSET_ENTRIES,
            set_max_listpack_entries: t::SET_MAX_LISTPACK_ENTRIES,
            set_max_listpack_value: t::SET_MAX_LISTPACK_VALUE,
            zset_max_listpack_entries: t::ZSET_MAX_LISTPACK_ENTRIES,
            zset_max_listpack_value: t::ZSET_MAX_LISTPACK_VALUE,
            list_max_listpack_size: t::LIST_MAX_LISTPACK_SIZE,
            stream_node_max_bytes: t::STREAM_NODE_MAX_BYTES,
            stream_node_max_entries: t::STREAM_NODE_MAX_ENTRIES,
        }
    }
}

impl EncodingConfig {
    /// `(max node bytes, max node elements)` for list nodes.
    pub(crate) fn list_node_limits(&self) -> (usize, usize) {
        rdb_format::thresholds::list_node_limits(self.list_max_listpack_size)
    }
}

/// Per-key metadata written before the type byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// Absolute expiry, Unix ms (`EXPIRETIME_MS`). -1 is refused: servers read it as no expiry.
    pub expire_at_ms: Option<i64>,
    /// LRU idle time, seconds (`IDLE`).
    pub lru_idle_s: Option<u64>,
    /// LFU counter (`FREQ`).
    pub lfu_freq: Option<u8>,
}

impl KeyMeta {
    /// Metadata with only an expiry.
    pub fn expiring(expire_at_ms: i64) -> Self {
        KeyMeta {
            expire_at_ms: Some(expire_at_ms),
            ..KeyMeta::default()
        }
    }

    /// The metadata of a model entry.
    pub fn of(entry: &Entry) -> Self {
        KeyMeta {
            expire_at_ms: entry.expire_at_ms,
            lru_idle_s: entry.lru_idle_s,
            lfu_freq: entry.lfu_freq,
        }
    }
}

/// Smallest and largest internal buffer sizes (the buffer is flushed, and hashed, in chunks of
/// about this size).
pub(crate) const MIN_BUFFER: usize = 64 << 10;
pub(crate) const MAX_BUFFER: usize = 256 << 10;

/// Options of an [`RdbWriter`]; [`WriterBuilder::build`] makes one.
///
/// ```
/// use rdb_writer::{Target, WriterBuilder};
/// let b = WriterBuilder::new(Target::Redis70).compression(false).ctime(1_700_000_000);
/// assert_eq!(&b.header().to_bytes(), b"REDIS0010");
/// ```
#[derive(Debug, Clone)]
pub struct WriterBuilder {
    pub(crate) target: Target,
    pub(crate) compression: bool,
    pub(crate) ctime: Option<i64>,
    pub(crate) used_mem: Option<u64>,
    pub(crate) extra_aux: Vec<(Bytes, Bytes)>,
    pub(crate) slot_info: bool,
    pub(crate) encoding: EncodingConfig,
    pub(crate) drop_unsupported: bool,
    pub(crate) field_ttls: bool,
    pub(crate) buffer_size: usize,
    pub(crate) collection_buffer: usize,
    pub(crate) streamed_duplicate_check: bool,
    pub(crate) max_databases: u32,
    pub(crate) parallel: bool,
    pub(crate) parallel_batch: u64,
}

impl WriterBuilder {
    /// Defaults for `target`: LZF on, `ctime` = now, estimated `used-mem`, no slot info,
    /// server encoding thresholds, unsupported data is an error, 128 KiB output buffer.
    pub fn new(target: Target) -> Self {
        WriterBuilder {
            target,
            compression: true,
            ctime: None,
            used_mem: None,
            extra_aux: Vec::new(),
            slot_info: false,
            encoding: EncodingConfig::default(),
            drop_unsupported: false,
            field_ttls: false,
            buffer_size: 128 << 10,
            collection_buffer: 4 << 20,
            streamed_duplicate_check: true,
            max_databases: 16,
            parallel: false,
            parallel_batch: crate::parallel::BATCH_COST,
        }
    }

    /// Whether [`write_keyspace`](crate::write_keyspace) encodes the keys of each database on
    /// rayon's current thread pool ([`RdbWriter::write_records_parallel`]): the same bytes,
    /// written faster with more cores. Off by default (one thread).
    pub fn parallel(mut self, on: bool) -> Self {
        self.parallel = on;
        self
    }

    /// Approximate input bytes per batch of parallel encoding (default
    /// [`BATCH_COST`](crate::parallel::BATCH_COST), 1 MiB; at least 1).
    pub fn parallel_batch(mut self, bytes: u64) -> Self {
        self.parallel_batch = bytes.max(1);
        self
    }

    /// The target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// LZF compression of strings and blobs (`rdbcompression`, default on).
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// A fixed `ctime` AUX value (Unix seconds) for reproducible files (default: now).
    pub fn ctime(mut self, unix_seconds: i64) -> Self {
        self.ctime = Some(unix_seconds);
        self
    }

    /// The `used-mem` AUX value (default: [`write_keyspace`](crate::write_keyspace)
    /// estimates it from the data; the low-level API writes 0 unless set).
    pub fn used_mem(mut self, bytes: u64) -> Self {
        self.used_mem = Some(bytes);
        self
    }

    /// An extra AUX field, written after the standard ones (in call order); as
    /// [`RdbWriter::write_aux`](crate::RdbWriter::write_aux), `slot-info` is refused (by
    /// `write_header`).
    pub fn aux(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.extra_aux.push((key.into(), value.into()));
        self
    }

    /// Cluster node file: [`write_keyspace`](crate::write_keyspace) groups keys by slot in
    /// ascending slot order and writes slot sizing information before each slot's keys
    /// (opcode `F4` for Redis 7.4, the `slot-info` AUX for Valkey 8.0+, nothing otherwise).
    pub fn slot_info(mut self, on: bool) -> Self {
        self.slot_info = on;
        self
    }

    /// Encoding thresholds (default: the server defaults).
    pub fn encoding(mut self, cfg: EncodingConfig) -> Self {
        self.encoding = cfg;
        self
    }

    /// Drop what the target cannot represent instead of failing: hash field TTLs (the fields
    /// are kept, their TTLs dropped) and function libraries; counted in the
    /// [`Summary`](crate::Summary).
    pub fn drop_unsupported(mut self, on: bool) -> Self {
        self.drop_unsupported = on;
        self
    }

    /// Declares that hashes with field TTLs will be written. Only matters for Valkey 9.0,
    /// whose files then need the `VALKEY080` header. [`write_keyspace`](crate::write_keyspace)
    /// sets it by itself.
    pub fn field_ttls(mut self, on: bool) -> Self {
        self.field_ttls = on;
        self
    }

    /// Size of the internal output buffer (clamped to 64–256 KiB; default 128 KiB).
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.clamp(MIN_BUFFER, MAX_BUFFER);
        self
    }

    /// How many bytes a streamed collection or stream (`begin_*`) may buffer to choose the
    /// encoding the server would write (default 4 MiB); beyond it the plain encoding (a
    /// stream's fixed-count nodes) is streamed. Each element counts its bytes and what
    /// holding it costs (its `Bytes` handles), so the buffer's memory stays near this bound
    /// however small the elements.
    pub fn collection_buffer(mut self, bytes: usize) -> Self {
        self.collection_buffer = bytes;
        self
    }

    /// Whether a streamed plain set, zset or hash refuses a repeated member or field (default
    /// on; it keeps a 128-bit digest of each member while the key is written, 20–40 bytes a
    /// member and up to about 60 while its table grows: see [`crate::streaming`]). Off, a
    /// repeat is written and the loading server refuses the file.
    pub fn streamed_duplicate_check(mut self, on: bool) -> Self {
        self.streamed_duplicate_check = on;
        self
    }

    /// The target server's `databases` setting (default 16): `select_db` refuses larger indexes.
    pub fn max_databases(mut self, n: u32) -> Self {
        self.max_databases = n;
        self
    }

    /// The header the file will start with.
    pub fn header(&self) -> Header {
        self.target.header(self.field_ttls)
    }

    /// A writer over `w`. Nothing is written until [`RdbWriter::write_header`].
    pub fn build<W: Write>(&self, w: W) -> RdbWriter<W> {
        RdbWriter::new(w, self.clone())
    }
}
