//! Building the owned [`Keyspace`] from events.

use bytes::BytesMut;
use rdb_format::Element;
use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, Keyspace, ModuleAux, ModuleValue,
    PendingEntry, Stream, StreamEntry, Value,
};

use crate::event::Event;
use crate::{Limits, Parser, ReadResult, SliceSource};

/// Largest chunk of the builder's byte arena (the first is 256 bytes, each next one twice the
/// last: a builder for one small key allocates little).
const ARENA_CHUNK: usize = 64 << 10;

/// Byte strings of at most this length are copied into the arena; longer ones get an
/// allocation of their own (so that one big value never pins a shared chunk).
const ARENA_MAX: usize = 4 << 10;

/// Accumulates events into a [`Keyspace`].
///
/// Keys, elements and string values of at most 4 KiB are copied into shared chunks of up to
/// 64 KiB, one after the other, each a [`Bytes`] slice of its chunk: no allocation (and no
/// allocator header) per element, and a collection's elements lie next to each other in
/// memory, in file order. A chunk is freed when the last byte string in it is dropped.
#[derive(Debug)]
pub struct KeyspaceBuilder {
    ks: Keyspace,
    current: Option<(u32, Entry)>,
    string: Vec<u8>,
    arena: BytesMut,
    /// Size of the arena's current chunk.
    chunk: usize,
}

impl Default for KeyspaceBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyspaceBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            ks: Keyspace::default(),
            current: None,
            string: Vec::new(),
            arena: BytesMut::new(),
            chunk: 0,
        }
    }

    /// `bytes` as an owned byte string.
    fn bytes(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.is_empty() {
            return Bytes::new();
        }
        if bytes.len() > ARENA_MAX {
            return Bytes::copy_from_slice(bytes);
        }
        if self.arena.capacity() - self.arena.len() < bytes.len() {
            self.chunk = (self.chunk * 2).clamp(256, ARENA_CHUNK).max(bytes.len());
            self.arena = BytesMut::with_capacity(self.chunk);
        }
        self.arena.extend_from_slice(bytes);
        self.arena.split().freeze()
    }

    /// `e`'s byte form as an owned byte string.
    fn owned(&mut self, e: Element<'_>) -> Bytes {
        match e {
            Element::Str(s) => self.bytes(s),
            Element::Int(v) => self.bytes(rdb_format::IntText::new(v).as_bytes()),
        }
    }

    /// Completes the current entry (its string value from the bytes gathered).
    fn end_key(&mut self) {
        if let Some((db, mut e)) = self.current.take() {
            if let Value::String(s) = &mut e.value {
                *s = if self.string.len() <= ARENA_MAX {
                    let string = std::mem::take(&mut self.string);
                    let b = self.bytes(&string);
                    self.string = string;
                    b
                } else {
                    Bytes::from(std::mem::take(&mut self.string))
                };
            }
            self.ks.db_mut(db).entries.push(e);
        }
    }

    /// Feeds one event.
    pub fn push(&mut self, ev: &Event<'_>) {
        match *ev {
            Event::Aux { key, value } => {
                let pair = (self.owned(key), self.owned(value));
                self.ks.aux.push(pair);
            }
            Event::Function { code } => {
                let code = self.owned(code);
                self.ks.functions.push(code);
            }
            Event::ModuleAux {
                module_id,
                when,
                raw,
                ..
            } => self.ks.module_aux.push(ModuleAux {
                module_id,
                when,
                raw: Bytes::copy_from_slice(raw),
            }),
            Event::Key(k) => {
                let value = match k.kind.logical() {
                    "string" => Value::String(Bytes::new()),
                    "list" => Value::List(Vec::new()),
                    "set" => Value::Set(Vec::new()),
                    "zset" => Value::SortedSet(Vec::new()),
                    "hash" => Value::Hash(Vec::new()),
                    "stream" => Value::Stream(Box::default()),
                    _ => Value::Module(ModuleValue {
                        module_id: 0,
                        raw: Bytes::new(),
                    }),
                };
                self.string.clear();
                let db = u32::try_from(k.db).unwrap_or(u32::MAX);
                let key = self.owned(k.key);
                self.current = Some((
                    db,
                    Entry {
                        key,
                        value,
                        expire_at_ms: k.expire_at_ms,
                        lru_idle_s: k.lru_idle_s,
                        lfu_freq: k.lfu_freq,
                    },
                ));
                // A string given whole (`Limits::whole_strings`): no value event, no KeyEnd.
                if k.whole {
                    if let Some(v) = k.value {
                        v.append_to(&mut self.string);
                    }
                    self.end_key();
                }
            }
            Event::StringChunk(c) => c.append_to(&mut self.string),
            Event::ListItem(v) => {
                let v = self.owned(v);
                if let Some((
                    _,
                    Entry {
                        value: Value::List(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push(v);
                }
            }
            Event::SetMember(v) => {
                let v = self.owned(v);
                if let Some((
                    _,
                    Entry {
                        value: Value::Set(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push(v);
                }
            }
            Event::ZSetMember { member, score, .. } => {
                let member = self.owned(member);
                if let Some((
                    _,
                    Entry {
                        value: Value::SortedSet(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push((member, score));
                }
            }
            Event::HashField {
                field,
                value,
                expire_at_ms,
            } => {
                let (field, value) = (self.owned(field), self.owned(value));
                if let Some((
                    _,
                    Entry {
                        value: Value::Hash(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push(HashField {
                        field,
                        value,
                        expire_at_ms,
                    });
                }
            }
            Event::StreamEntry(e) => {
                if !e.deleted && self.stream().is_some() {
                    let fields = e
                        .fields()
                        .map(|(f, v)| (self.owned(f), self.owned(v)))
                        .collect();
                    if let Some(s) = self.stream() {
                        s.entries.push(StreamEntry { id: e.id, fields });
                    }
                }
            }
            Event::StreamMeta(m) => {
                if let Some(s) = self.stream() {
                    s.length = m.length;
                    s.last_id = m.last_id;
                    s.first_id = m.first_id;
                    s.max_deleted_id = m.max_deleted_id;
                    s.entries_added = m.entries_added;
                }
            }
            Event::StreamGroup {
                name,
                last_delivered_id,
                entries_read,
                ..
            } => {
                let name = self.owned(name);
                if let Some(s) = self.stream() {
                    s.groups.push(ConsumerGroup {
                        name,
                        last_delivered_id,
                        entries_read: entries_read.filter(|&v| v >= 0),
                        pel: Vec::new(),
                        consumers: Vec::new(),
                    });
                }
            }
            Event::StreamPending {
                id,
                delivery_time_ms,
                delivery_count,
            } => {
                if let Some(g) = self.stream().and_then(|s| s.groups.last_mut()) {
                    g.pel.push(PendingEntry {
                        id,
                        delivery_time_ms,
                        delivery_count,
                    });
                }
            }
            Event::StreamConsumer {
                name,
                seen_time_ms,
                active_time_ms,
                ..
            } => {
                let name = self.owned(name);
                if let Some(g) = self.stream().and_then(|s| s.groups.last_mut()) {
                    g.consumers.push(Consumer {
                        name,
                        seen_time_ms,
                        active_time_ms,
                        pel: Vec::new(),
                    });
                }
            }
            Event::StreamConsumerPending { id } => {
                if let Some(c) = self
                    .stream()
                    .and_then(|s| s.groups.last_mut())
                    .and_then(|g| g.consumers.last_mut())
                {
                    c.pel.push(id);
                }
            }
            Event::Module { module_id, raw, .. } => {
                if let Some((_, e)) = &mut self.current {
                    e.value = Value::Module(ModuleValue {
                        module_id,
                        raw: Bytes::copy_from_slice(raw),
                    });
                }
            }
            Event::KeyEnd => self.end_key(),
            Event::Header(_)
            | Event::SelectDb { .. }
            | Event::ResizeDb { .. }
            | Event::SlotInfo { .. }
            | Event::StreamNode { .. }
            | Event::StreamConsumers { .. }
            | Event::OrphanKeyAttributes { .. }
            | Event::Eof(_) => {}
        }
    }

    fn stream(&mut self) -> Option<&mut Stream> {
        match &mut self.current {
            Some((
                _,
                Entry {
                    value: Value::Stream(s),
                    ..
                },
            )) => Some(s),
            _ => None,
        }
    }

    /// The keyspace built so far.
    pub fn finish(self) -> Keyspace {
        self.ks
    }
}

/// Reads a whole file (in memory or mapped) into an owned keyspace.
pub fn read_keyspace(data: &[u8]) -> ReadResult<Keyspace> {
    read_keyspace_from(Parser::new(SliceSource::new(data), Limits::default()))
}

/// Drives any parser to the end, building the keyspace.
///
/// The parser must decode LZF strings ([`Limits::decode_lzf_strings`]) and give module bytes
/// ([`Limits::module_bytes`]): without them a value has no bytes to keep, and this fails
/// before reading. Strings
/// given whole ([`Limits::whole_strings`]) are kept as the others.
pub fn read_keyspace_from<S: crate::Source>(mut p: Parser<S>) -> ReadResult<Keyspace> {
    if !p.limits().decode_lzf_strings || !p.limits().module_bytes {
        return Err(crate::ReadError::new(
            p.offset(),
            "usage",
            "a keyspace needs every string's and module value's bytes: \
             Limits::decode_lzf_strings and Limits::module_bytes must be on",
        ));
    }
    let mut b = KeyspaceBuilder::new();
    while let Some(ev) = p.next_event()? {
        b.push(&ev);
    }
    Ok(b.finish())
}
