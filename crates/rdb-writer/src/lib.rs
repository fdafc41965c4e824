//! Serialises an owned keyspace ([`rdb_model`]) into `.rdb` files that real Redis and Valkey
//! servers load, for a chosen [`Target`] engine line.
//!
//! - [`Target`]: the engine lines (`redis-6.0` … `valkey-9.0`), their RDB version, magic and
//!   what a file for them may contain.
//! - [`WriterBuilder`] → [`RdbWriter`]: header, functions, databases, keys (each in the
//!   encoding the target's server would choose with its default thresholds,
//!   [`EncodingConfig`]), streaming of big collections and streams with declared counts
//!   ([`RdbWriter::begin_list`] … [`RdbWriter::begin_stream`]), raw passthrough
//!   ([`RdbWriter::write_raw_value`]), and
//!   [`RdbWriter::finish`] with EOF and the CRC-64 trailer.
//! - [`write_keyspace`]: a whole [`Keyspace`](rdb_model::Keyspace) in one call.
//! - [`SyncingFile`]: an output file synced in the background as it grows (then `finish`).
//!
//! Output is deterministic: the same keyspace and options give the same bytes (fix the
//! `ctime` AUX with [`WriterBuilder::ctime`]). With LZF off, each key's record is the one the
//! target's server itself writes for the same data — entry encodings, quicklist node fill by
//! the server's insert estimate, sorted-set score text of that line
//! ([`Target::score_style`]) — checked byte for byte against Redis 7.0, 6.2 and Valkey 8.1
//! (`tests/server_bytes.rs`). One record depends on the server's history rather than its data:
//! from Redis 7.2 and in Valkey a small list is one listpack, turned into a quicklist whose
//! first node is that whole listpack when a command's arguments would pass the node limit, so
//! a list built by `RPUSH` of many elements at once can have a first node larger (more
//! elements) than the insert estimate gives; the writer cuts every node by the estimate. Both
//! load as the same list.
//!
//! ```
//! use rdb_model::{Entry, Keyspace, Value};
//! use rdb_writer::{write_keyspace, Target, WriterBuilder};
//!
//! let mut ks = Keyspace::default();
//! ks.db_mut(0).entries.push(Entry::new("greeting", Value::String("hello".into())));
//! ks.db_mut(0).entries.push(Entry::new("nums", Value::Set(vec!["3".into(), "1".into()])));
//! let builder = WriterBuilder::new(Target::Redis70).ctime(1_700_000_000);
//! let (bytes, summary) = write_keyspace(&ks, Vec::new(), &builder)?;
//! assert_eq!(&bytes[..9], b"REDIS0010");
//! assert_eq!(summary.keys, 2);
//! # Ok::<(), rdb_writer::WriteError>(())
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

pub mod config;
pub mod dupkeys;
pub mod durable;
mod encode;
pub mod error;
pub mod keyspace;
pub mod parallel;
mod sink;
pub mod slot;
mod stream;
pub mod stream_writer;
pub mod streaming;
pub mod target;
pub mod writer;

pub use config::{EncodingConfig, KeyMeta, WriterBuilder};
pub use durable::SyncingFile;
pub use error::{KeyName, WriteError, WriteResult};
pub use keyspace::{
    entry_has_field_ttls, entry_used_mem, estimate_used_mem, has_field_ttls, is_empty_value,
    write_keyspace, USED_MEM_BASE,
};
pub use parallel::KeyRecord;
pub use stream_writer::StreamWriter;
pub use streaming::{HashWriter, ListWriter, SetWriter, ZSetWriter};
pub use target::{FieldTtlFormat, SlotInfoFormat, Target, UnknownTarget};
pub use writer::{DbCounts, RdbWriter, Summary};
