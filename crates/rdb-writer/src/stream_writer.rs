//! Streaming a stream key: [`RdbWriter::begin_stream`] with a declared entry count, then
//! [`StreamWriter::push`] each entry in ascending ID order, and [`StreamWriter::end`] with
//! the stream's counters and consumer groups.
//!
//! While the pushed entries stay within the builder's `collection_buffer` bytes they are
//! buffered, and `end()` writes exactly what [`RdbWriter::write_value`] would (nodes cut as
//! `XADD` cuts them). Beyond that the record is streamed with bounded memory: a stream record
//! states its number of nodes before the first one, and the node cuts of `XADD` depend on
//! entries not pushed yet, so the streamed record cuts nodes by count alone —
//! `stream-node-max-entries` entries each (100 by default; 100 when it is 0, "no limit"), the
//! last one holding the rest. Every server loads such nodes (a node's size is not checked on
//! load; the next `XADD` starts a new node when the last one is full by either limit), and
//! the stream reads back the same through every command. Memory: one node's listpack, the
//! elements themselves are never kept. A node that would pass the listpack limit (1 GiB) is
//! refused.
//!
//! Entries pushed out of order or without fields, more entries than declared or fewer at
//! `end()` poison the writer. Counters or groups [`RdbWriter::write_value`] refuses (a pushed entry after
//! `last_id`, a consumer PEL entry not in its group's PEL, …) poison it once part of the
//! record is written; while the entries are still buffered, `end()` refuses them as
//! `write_value` does and the key is not written.

use std::io::Write;

use rdb_format::length::encode_length;
use rdb_format::listpack::{ListpackBuilder, MAX_SIZE};
use rdb_model::{Bytes, Stream, StreamEntry, StreamId, Value};

use crate::config::KeyMeta;
use crate::error::{KeyName, WriteError, WriteResult};
use crate::stream;
use crate::writer::RdbWriter;

/// Entries per node of a streamed record when `stream-node-max-entries` is 0 (no limit).
const NODE_ENTRIES_UNLIMITED: usize = 100;

/// The node being built of a streamed record.
#[derive(Debug)]
struct Node {
    /// The master entry's ID (the node's key).
    master: StreamId,
    /// The master entry's field names (for the SAMEFIELDS form of later entries).
    master_fields: Vec<Bytes>,
    /// Entries this node holds once complete.
    count: usize,
    /// Entries pushed into it so far.
    pushed: usize,
}

/// Streams a stream key: [`StreamWriter::push`] each entry (ascending IDs), then
/// [`StreamWriter::end`] with the counters and groups (see the module docs of
/// [`stream_writer`](crate::stream_writer)).
#[derive(Debug)]
pub struct StreamWriter<'w, W: Write> {
    w: &'w mut RdbWriter<W>,
    key: Vec<u8>,
    meta: KeyMeta,
    declared: u64,
    pushed: u64,
    /// Entries put into the streamed record so far.
    written: u64,
    /// The previous entry's ID (entries must strictly increase).
    previous: Option<StreamId>,
    /// The first entry's ID.
    first: Option<StreamId>,
    /// `Some` while buffering; `None` once the record is being streamed.
    buffer: Option<Vec<StreamEntry>>,
    buffered_bytes: usize,
    /// Entries per node of the streamed record.
    per_node: usize,
    /// The node being built while streaming.
    node: Option<Node>,
    done: bool,
}

impl<'w, W: Write> StreamWriter<'w, W> {
    fn begin(
        w: &'w mut RdbWriter<W>,
        key: &[u8],
        meta: KeyMeta,
        declared: u64,
    ) -> WriteResult<Self> {
        w.check_open()?;
        w.offered_keys += 1;
        w.check_meta(key, meta)?;
        let ty = w.opts.target.stream_type();
        if !w.opts.target.may_emit_type(w.enc.header, ty) {
            return Err(WriteError::Unsupported {
                key: KeyName::in_db(w.db, key),
                target: w.opts.target.name(),
                what: "streams".into(),
            });
        }
        let per_node = match w.opts.encoding.stream_node_max_entries {
            0 => NODE_ENTRIES_UNLIMITED,
            n => n,
        };
        Ok(StreamWriter {
            w,
            key: key.to_vec(),
            meta,
            declared,
            pushed: 0,
            written: 0,
            previous: None,
            first: None,
            buffer: Some(Vec::with_capacity(
                usize::try_from(declared.min(1024)).unwrap_or(1024),
            )),
            buffered_bytes: 0,
            per_node,
            node: None,
            done: false,
        })
    }

    /// Entries pushed so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    fn invalid(&self, what: String) -> WriteError {
        WriteError::InvalidValue {
            key: KeyName::in_db(self.w.db, &self.key),
            what,
        }
    }

    /// Poisons the writer when part of the record is written; returns the error.
    fn fail(&mut self, e: WriteError) -> WriteError {
        if self.buffer.is_none() {
            self.w.poison(e.to_string());
        }
        e
    }

    /// Appends an entry with its field/value pairs; its ID must be above the previous
    /// entry's, and it needs a field (`XADD` never makes an entry without one; servers load
    /// it, `rdb-verify` warns `stream-entry-no-fields`). Either error poisons the writer.
    pub fn push<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        id: StreamId,
        fields: &[(F, V)],
    ) -> WriteResult<()> {
        self.w
            .check_push(&self.key, self.declared, self.pushed, self.done)?;
        if fields.is_empty() {
            let e = self.invalid(format!("stream entry {id} has no fields"));
            self.w.poison(e.to_string());
            return Err(e);
        }
        if let Some(prev) = self.previous.filter(|&p| p >= id) {
            let e = self.invalid(format!(
                "stream entry IDs are not increasing: {prev} then {id}"
            ));
            self.w.poison(e.to_string());
            return Err(e);
        }
        self.previous = Some(id);
        self.first.get_or_insert(id);
        self.pushed += 1;
        let Some(buffer) = &mut self.buffer else {
            return self.put(id, fields);
        };
        buffer.push(StreamEntry {
            id,
            fields: fields
                .iter()
                .map(|(f, v)| {
                    (
                        Bytes::copy_from_slice(f.as_ref()),
                        Bytes::copy_from_slice(v.as_ref()),
                    )
                })
                .collect(),
        });
        // The entry's data and what holding it costs (the entry, a `Bytes` pair a field).
        self.buffered_bytes += size_of::<StreamEntry>()
            + fields
                .iter()
                .map(|(f, v)| size_of::<(Bytes, Bytes)>() + f.as_ref().len() + v.as_ref().len())
                .sum::<usize>();
        if self.buffered_bytes > self.w.opts.collection_buffer {
            self.go_streamed()?;
        }
        Ok(())
    }

    /// Writes the record's header and the buffered entries; later entries stream.
    fn go_streamed(&mut self) -> WriteResult<()> {
        let buffered = self.buffer.take().unwrap_or_default();
        let w = &mut *self.w;
        w.open_record = Some(self.key.clone());
        let ty = w.opts.target.stream_type();
        w.put_key_header(&self.key, self.meta, ty);
        let per_node = self.per_node as u64;
        encode_length(self.declared.div_ceil(per_node), &mut w.sink.buf);
        for e in &buffered {
            self.put(e.id, &e.fields)?;
        }
        Ok(())
    }

    /// Adds an entry to the node being built, starting and flushing nodes as they fill.
    fn put<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        id: StreamId,
        fields: &[(F, V)],
    ) -> WriteResult<()> {
        let node = match &mut self.node {
            Some(node) => node,
            None => {
                // Entries of this node: `per_node`, or the rest of the declared count.
                let left = self.declared.saturating_sub(self.written);
                let count = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(self.per_node);
                stream::start_node(
                    &mut self.w.enc.lp,
                    count,
                    fields.iter().map(|(f, _)| f.as_ref()),
                );
                self.node.insert(Node {
                    master: id,
                    master_fields: fields
                        .iter()
                        .map(|(f, _)| Bytes::copy_from_slice(f.as_ref()))
                        .collect(),
                    count,
                    pushed: 0,
                })
            }
        };
        let same = node.master_fields.len() == fields.len()
            && node
                .master_fields
                .iter()
                .zip(fields)
                .all(|(m, (f, _))| m.as_ref() == f.as_ref());
        let lp = &mut self.w.enc.lp;
        let room = fields.iter().fold(64usize, |acc, (f, v)| {
            acc.saturating_add(ListpackBuilder::entry_size(f.as_ref()))
                .saturating_add(ListpackBuilder::entry_size(v.as_ref()))
        });
        if lp.size().saturating_add(room) > MAX_SIZE {
            let what = format!(
                "stream node from entry {} would pass the listpack limit of {MAX_SIZE} bytes \
                 ({} entries a node when streamed; write the stream with write_value)",
                node.master, node.count
            );
            let e = self.invalid(what);
            self.w.poison(e.to_string());
            return Err(e);
        }
        stream::push_entry(lp, id, node.master, fields, same);
        node.pushed += 1;
        self.written += 1;
        if node.pushed == node.count {
            let master = node.master;
            self.node = None;
            let w = &mut *self.w;
            stream::flush_node(&mut w.enc, &mut w.sink.buf, master);
            let r = w.sink.maybe_flush();
            w.io(r)?;
        }
        Ok(())
    }

    /// Completes the key with the stream's counters and consumer groups from `tail`, whose
    /// `entries` must be empty (they were pushed) and whose `length` is not used (the
    /// pushed count is written). A `first_id` of `None` is written as the first pushed
    /// entry's ID, as [`RdbWriter::write_value`] does. Returns `true` (a stream is written
    /// even when empty).
    ///
    /// Fewer entries than declared is a [`WriteError::CountMismatch`]; a pushed entry after
    /// `tail.last_id`, or groups [`RdbWriter::write_value`] refuses, an
    /// [`WriteError::InvalidValue`] (both poison the writer when the record was streamed).
    pub fn end(mut self, tail: &Stream) -> WriteResult<bool> {
        self.w
            .check_end(&self.key, self.declared, self.pushed, &mut self.done)?;
        if !tail.entries.is_empty() {
            let e = self.invalid(format!(
                "the stream given to end() holds {} entries: entries are pushed, end() takes \
                 only the counters and groups",
                tail.entries.len()
            ));
            return Err(self.fail(e));
        }
        if let Some(buffered) = self.buffer.take() {
            let value = Value::Stream(Box::new(Stream {
                entries: buffered,
                ..tail.clone()
            }));
            // Counted as offered at `begin`: `write_value` counts it again.
            self.w.offered_keys = self.w.offered_keys.saturating_sub(1);
            return self.w.write_value(&self.key, self.meta, &value);
        }
        if let Some(last) = self.previous.filter(|&p| p > tail.last_id) {
            let e = self.invalid(format!(
                "stream entry {last} is after last_id {}",
                tail.last_id
            ));
            return Err(self.fail(e));
        }
        if let Err(what) = stream::validate_groups(tail) {
            let e = self.invalid(what);
            return Err(self.fail(e));
        }
        let w = &mut *self.w;
        let r = stream::write_meta(&mut w.enc, &mut w.sink, tail, self.pushed, self.first);
        w.io(r)?;
        w.open_record = None;
        w.count_key(self.meta);
        Ok(true)
    }
}

impl<W: Write> Drop for StreamWriter<'_, W> {
    fn drop(&mut self) {
        if !self.done && self.buffer.is_none() {
            self.w.poison(format!(
                "stream {} dropped before end() with a partial record",
                rdb_format::escape_bytes(&self.key, 64)
            ));
        }
    }
}

impl<W: Write> RdbWriter<W> {
    /// Starts streaming a stream of exactly `declared_entries` entries (see the module docs
    /// of [`stream_writer`](crate::stream_writer) for the node layout used).
    pub fn begin_stream(
        &mut self,
        key: &[u8],
        meta: KeyMeta,
        declared_entries: u64,
    ) -> WriteResult<StreamWriter<'_, W>> {
        StreamWriter::begin(self, key, meta, declared_entries)
    }
}
