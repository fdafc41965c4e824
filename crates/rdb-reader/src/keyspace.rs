//! Building the owned [`Keyspace`] from events.

use rdb_format::Element;
use rdb_model::{
    Bytes, Consumer, ConsumerGroup, Entry, HashField, Keyspace, ModuleAux, ModuleValue,
    PendingEntry, Stream, StreamEntry, Value,
};

use crate::event::Event;
use crate::{Limits, Parser, ReadResult, SliceSource};

fn owned(e: Element<'_>) -> Bytes {
    Bytes::from(e.to_vec())
}

/// Accumulates events into a [`Keyspace`].
#[derive(Debug, Default)]
pub struct KeyspaceBuilder {
    ks: Keyspace,
    current: Option<(u32, Entry)>,
    string: Vec<u8>,
}

impl KeyspaceBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one event.
    pub fn push(&mut self, ev: &Event<'_>) {
        match *ev {
            Event::Aux { key, value } => self.ks.aux.push((owned(key), owned(value))),
            Event::Function { code } => self.ks.functions.push(owned(code)),
            Event::ModuleAux {
                module_id,
                when,
                raw,
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
                self.current = Some((
                    db,
                    Entry {
                        key: owned(k.key),
                        value,
                        expire_at_ms: k.expire_at_ms,
                        lru_idle_s: k.lru_idle_s,
                        lfu_freq: k.lfu_freq,
                    },
                ));
            }
            Event::StringChunk(c) => c.append_to(&mut self.string),
            Event::ListItem(v) => {
                if let Some((
                    _,
                    Entry {
                        value: Value::List(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push(owned(v));
                }
            }
            Event::SetMember(v) => {
                if let Some((
                    _,
                    Entry {
                        value: Value::Set(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push(owned(v));
                }
            }
            Event::ZSetMember { member, score, .. } => {
                if let Some((
                    _,
                    Entry {
                        value: Value::SortedSet(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push((owned(member), score));
                }
            }
            Event::HashField {
                field,
                value,
                expire_at_ms,
            } => {
                if let Some((
                    _,
                    Entry {
                        value: Value::Hash(l),
                        ..
                    },
                )) = &mut self.current
                {
                    l.push(HashField {
                        field: owned(field),
                        value: owned(value),
                        expire_at_ms,
                    });
                }
            }
            Event::StreamEntry(e) => {
                if let Some(s) = self.stream() {
                    if !e.deleted {
                        s.entries.push(StreamEntry {
                            id: e.id,
                            fields: e.fields().map(|(f, v)| (owned(f), owned(v))).collect(),
                        });
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
                if let Some(s) = self.stream() {
                    s.groups.push(ConsumerGroup {
                        name: owned(name),
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
                if let Some(g) = self.stream().and_then(|s| s.groups.last_mut()) {
                    g.consumers.push(Consumer {
                        name: owned(name),
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
            Event::Module { module_id, raw } => {
                if let Some((_, e)) = &mut self.current {
                    e.value = Value::Module(ModuleValue {
                        module_id,
                        raw: Bytes::copy_from_slice(raw),
                    });
                }
            }
            Event::KeyEnd => {
                if let Some((db, mut e)) = self.current.take() {
                    if let Value::String(s) = &mut e.value {
                        *s = Bytes::from(std::mem::take(&mut self.string));
                    }
                    self.ks.db_mut(db).entries.push(e);
                }
            }
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
pub fn read_keyspace_from<S: crate::Source>(mut p: Parser<S>) -> ReadResult<Keyspace> {
    let mut b = KeyspaceBuilder::new();
    while let Some(ev) = p.next_event()? {
        b.push(&ev);
    }
    Ok(b.finish())
}
