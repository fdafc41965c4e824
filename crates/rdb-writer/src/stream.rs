//! Streams (types 15, 19, 21): node listpacks built as the server builds them on `XADD`,
//! then metadata and consumer groups (format reference §3.7, §4.6).

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use rdb_format::length::encode_length;
use rdb_format::listpack::{ListpackBuilder, MAX_SIZE};
use rdb_format::stream_lp::FLAG_SAMEFIELDS;
use rdb_format::RdbType;
use rdb_model::{Bytes, Stream, StreamEntry, StreamId};

use crate::config::EncodingConfig;
use crate::encode::{lp_entry_size, lp_int_size, Encoder};
use crate::sink::Sink;

/// Checks what the server refuses (or misbehaves on) when loading a stream: entry IDs must
/// strictly increase and not exceed `last_id`, and the groups must be consistent
/// ([`validate_groups`]); and what no server makes: an entry without fields.
///
/// Counters that servers load as they are, however odd, are written as given: a group's
/// `last_delivered_id` past `last_id`, a negative `entries_read`, `entries_added` below the
/// live entries, a `first_id` that is not the first entry's. The server then reports a
/// meaningless lag; `rdb-verify` warns about each (`stream-group-last-delivered`,
/// `stream-entries-read`, `stream-entries-added`, `stream-first-id`) and the JSONL importer
/// of `rdbkit export` notes them.
pub(crate) fn validate(s: &Stream) -> Result<(), String> {
    if let Some(e) = s.entries.iter().find(|e| e.fields.is_empty()) {
        // Servers load it, but `XADD` never makes one (`rdb-verify`: stream-entry-no-fields).
        return Err(format!("stream entry {} has no fields", e.id));
    }
    let unordered = s.entries.windows(2).find_map(|w| match w {
        [a, b] if a.id >= b.id => Some((a.id, b.id)),
        _ => None,
    });
    if let Some((a, b)) = unordered {
        return Err(format!("stream entry IDs are not increasing: {a} then {b}"));
    }
    if let Some(last) = s.entries.last() {
        if last.id > s.last_id {
            return Err(format!(
                "stream entry {} is after last_id {}",
                last.id, s.last_id
            ));
        }
    }
    validate_groups(s)
}

/// Checks what the server refuses when loading a stream's consumer groups: group names, PEL
/// IDs and consumer names must be unique; every consumer PEL ID must be in its group's PEL,
/// owned by exactly one consumer.
pub(crate) fn validate_groups(s: &Stream) -> Result<(), String> {
    let mut names = HashSet::new();
    for g in &s.groups {
        let gname = rdb_format::escape_bytes(&g.name, 64);
        if !names.insert(&g.name) {
            return Err(format!("duplicate consumer group {gname}"));
        }
        let mut owner: HashMap<StreamId, Option<&Bytes>> = HashMap::with_capacity(g.pel.len());
        for p in &g.pel {
            if owner.insert(p.id, None).is_some() {
                return Err(format!("group {gname}: duplicate PEL entry {}", p.id));
            }
        }
        let mut consumers = HashSet::new();
        for c in &g.consumers {
            let cname = rdb_format::escape_bytes(&c.name, 64);
            if !consumers.insert(&c.name) {
                return Err(format!("group {gname}: duplicate consumer {cname}"));
            }
            for id in &c.pel {
                match owner.get_mut(id) {
                    None => {
                        return Err(format!(
                        "group {gname}: consumer {cname} PEL entry {id} is not in the group PEL"
                    ))
                    }
                    Some(Some(_)) => {
                        return Err(format!(
                            "group {gname}: PEL entry {id} is owned by two consumers"
                        ))
                    }
                    Some(slot) => *slot = Some(&c.name),
                }
            }
        }
        if let Some(p) = g
            .pel
            .iter()
            .find(|p| owner.get(&p.id).is_some_and(Option::is_none))
        {
            return Err(format!("group {gname}: PEL entry {} has no consumer", p.id));
        }
    }
    Ok(())
}

/// Whether `e` has exactly the master entry's field names (the SAMEFIELDS case).
fn same_fields(e: &StreamEntry, master: &StreamEntry) -> bool {
    e.fields.len() == master.fields.len()
        && e.fields
            .iter()
            .zip(&master.fields)
            .all(|((a, _), (b, _))| a == b)
}

pub(crate) fn deltas(id: StreamId, master: StreamId) -> (i64, i64) {
    (
        id.ms.wrapping_sub(master.ms) as i64,
        id.seq.wrapping_sub(master.seq) as i64,
    )
}

/// Listpack bytes of one entry in a node whose master entry is `master`.
fn entry_size(e: &StreamEntry, master: &StreamEntry) -> usize {
    let (dms, dseq) = deltas(e.id, master.id);
    let n = e.fields.len();
    let head = lp_int_size(FLAG_SAMEFIELDS) + lp_int_size(dms) + lp_int_size(dseq);
    if same_fields(e, master) {
        head + e
            .fields
            .iter()
            .map(|(_, v)| lp_entry_size(v))
            .sum::<usize>()
            + lp_int_size(n as i64 + 3)
    } else {
        head + lp_int_size(n as i64)
            + e.fields
                .iter()
                .map(|(f, v)| lp_entry_size(f) + lp_entry_size(v))
                .sum::<usize>()
            + lp_int_size(2 * n as i64 + 4)
    }
}

/// Bytes of a node's listpack without its `count` element: header, terminator, `deleted`,
/// the master fields and the master terminator.
fn master_size(master: &StreamEntry) -> usize {
    7 + lp_int_size(0)
        + lp_int_size(master.fields.len() as i64)
        + master
            .fields
            .iter()
            .map(|(f, _)| lp_entry_size(f))
            .sum::<usize>()
        + lp_int_size(0)
}

/// Splits the entries into nodes as `XADD` does: a new node starts when the current node's
/// listpack size plus the new entry's field and value bytes would reach
/// `stream-node-max-bytes`, or when it already holds `stream-node-max-entries` entries.
pub(crate) fn plan_nodes(entries: &[StreamEntry], cfg: &EncodingConfig) -> Vec<(usize, usize)> {
    let max_bytes = match cfg.stream_node_max_bytes {
        0 => MAX_SIZE,
        n => n.min(MAX_SIZE),
    };
    let mut nodes = Vec::new();
    let mut start = 0;
    let mut count = 0usize;
    let mut size = 0usize;
    for (i, e) in entries.iter().enumerate() {
        if count > 0 {
            let lp_bytes = size + lp_int_size(count as i64);
            let new_bytes: usize = e.fields.iter().map(|(f, v)| f.len() + v.len()).sum();
            let full_bytes = lp_bytes + new_bytes >= max_bytes;
            let full_count =
                cfg.stream_node_max_entries > 0 && count >= cfg.stream_node_max_entries;
            if full_bytes || full_count {
                nodes.push((start, i));
                count = 0;
            }
        }
        let Some(master) = entries.get(if count == 0 { i } else { start }) else {
            break;
        };
        if count == 0 {
            start = i;
            size = master_size(master);
        }
        size += entry_size(e, master);
        count += 1;
    }
    if count > 0 {
        nodes.push((start, entries.len()));
    }
    nodes
}

/// Starts a node listpack of `count` entries in `lp` (cleared): the `count` and `deleted`
/// elements, then the master entry's field names and its terminator.
pub(crate) fn start_node<'a>(
    lp: &mut ListpackBuilder,
    count: usize,
    master_fields: impl ExactSizeIterator<Item = &'a [u8]>,
) {
    lp.clear();
    lp.push_int(count as i64);
    lp.push_int(0);
    lp.push_int(master_fields.len() as i64);
    for f in master_fields {
        lp.push_bytes(f);
    }
    lp.push_int(0);
}

/// Appends one entry to a node started by [`start_node`]: `same` when its field names are
/// the master entry's (the SAMEFIELDS form, values only).
pub(crate) fn push_entry<F: AsRef<[u8]>, V: AsRef<[u8]>>(
    lp: &mut ListpackBuilder,
    id: StreamId,
    master: StreamId,
    fields: &[(F, V)],
    same: bool,
) {
    let (dms, dseq) = deltas(id, master);
    let n = fields.len() as i64;
    if same {
        lp.push_int(FLAG_SAMEFIELDS);
        lp.push_int(dms);
        lp.push_int(dseq);
        for (_, v) in fields {
            lp.push_bytes(v.as_ref());
        }
        lp.push_int(n + 3);
    } else {
        lp.push_int(0);
        lp.push_int(dms);
        lp.push_int(dseq);
        lp.push_int(n);
        for (f, v) in fields {
            lp.push_bytes(f.as_ref());
            lp.push_bytes(v.as_ref());
        }
        lp.push_int(2 * n + 4);
    }
}

/// Appends a finished node: its master entry ID as the 16-byte key, then its listpack.
pub(crate) fn flush_node(enc: &mut Encoder, out: &mut Vec<u8>, master: StreamId) {
    enc.string(&master.to_be_bytes(), out);
    enc.flush_listpack(out);
}

/// Builds one node listpack into the encoder's builder and writes key + blob.
fn write_node(enc: &mut Encoder, out: &mut Vec<u8>, entries: &[StreamEntry]) {
    let Some(master) = entries.first() else {
        return;
    };
    start_node(
        &mut enc.lp,
        entries.len(),
        master.fields.iter().map(|(f, _)| f.as_ref()),
    );
    for e in entries {
        push_entry(
            &mut enc.lp,
            e.id,
            master.id,
            &e.fields,
            same_fields(e, master),
        );
    }
    flush_node(enc, out, master.id);
}

/// The stream counters [`estimate_entries_read`] reads.
#[derive(Debug, Clone, Copy)]
struct StreamMeta {
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
}

/// A consumer group's entries-read counter for last delivered ID `id`, as the servers
/// estimate it when they load a record without one (`streamEstimateDistanceFromFirstEverEntry`:
/// exact at the last ID and at or before the first entry of a stream without deletions
/// ahead of it, else unknown, −1).
fn estimate_entries_read(id: StreamId, m: StreamMeta) -> i64 {
    let zero = StreamId::default();
    let added = i64::try_from(m.entries_added).unwrap_or(-1);
    if m.entries_added == 0 {
        return 0;
    }
    if m.length == 0 && id <= m.last_id {
        return added;
    }
    if id != zero && id < m.max_deleted {
        return -1;
    }
    if id == m.last_id {
        return added;
    }
    if id > m.last_id {
        return -1;
    }
    if m.max_deleted == zero || m.max_deleted < m.first_id {
        let before = m.entries_added.checked_sub(m.length);
        if id < m.first_id {
            return before.and_then(|b| i64::try_from(b).ok()).unwrap_or(-1);
        }
        if id == m.first_id {
            return before
                .and_then(|b| i64::try_from(b.checked_add(1)?).ok())
                .unwrap_or(-1);
        }
    }
    -1
}

fn put_id(id: StreamId, out: &mut Vec<u8>) {
    encode_length(id.ms, out);
    encode_length(id.seq, out);
}

/// Writes the value of a (validated) stream in the target's stream type.
pub(crate) fn write<W: Write>(enc: &mut Encoder, sink: &mut Sink<W>, s: &Stream) -> io::Result<()> {
    let nodes = plan_nodes(&s.entries, &enc.cfg);
    encode_length(nodes.len() as u64, &mut sink.buf);
    for (a, b) in nodes {
        write_node(enc, &mut sink.buf, s.entries.get(a..b).unwrap_or(&[]));
        sink.maybe_flush()?;
    }
    let first = s.entries.first().map(|e| e.id);
    write_meta(enc, sink, s, s.entries.len() as u64, first)
}

/// Writes a stream's metadata and consumer groups as the target's stream type holds them
/// (after the nodes), with `length` as the number of live entries and `first_entry` the ID of
/// the first of them (written as the first ID when `s.first_id` is `None`).
pub(crate) fn write_meta<W: Write>(
    enc: &mut Encoder,
    sink: &mut Sink<W>,
    s: &Stream,
    length: u64,
    first_entry: Option<StreamId>,
) -> io::Result<()> {
    let version = match enc.target.stream_type() {
        RdbType::STREAM_LISTPACKS => 1,
        RdbType::STREAM_LISTPACKS_2 => 2,
        _ => 3,
    };
    let out = &mut sink.buf;
    encode_length(length, out);
    put_id(s.last_id, out);
    // Metadata a type-15 record does not hold (`None`) are written as a server loading such a
    // record sets them: the first live entry's ID (the largest ID when there is none), no
    // deleted entry, as many entries added as there are, and each group's entries-read
    // estimated from its last delivered ID.
    let first = s.first_id.or(first_entry).unwrap_or(StreamId::MAX);
    let max_deleted = s.max_deleted_id.unwrap_or_default();
    let entries_added = s.entries_added.unwrap_or(length);
    if version >= 2 {
        put_id(first, out);
        put_id(max_deleted, out);
        encode_length(entries_added, out);
    }
    encode_length(s.groups.len() as u64, out);
    for g in &s.groups {
        enc.string(&g.name, &mut sink.buf);
        put_id(g.last_delivered_id, &mut sink.buf);
        if version >= 2 {
            let read = match (g.entries_read, s.entries_added) {
                (Some(r), _) => r,
                (None, None) => estimate_entries_read(
                    g.last_delivered_id,
                    StreamMeta {
                        length,
                        last_id: s.last_id,
                        first_id: first,
                        max_deleted,
                        entries_added,
                    },
                ),
                (None, Some(_)) => -1,
            };
            // −1 ("unknown") is stored through the length encoding as u64::MAX.
            encode_length(read as u64, &mut sink.buf);
        }
        encode_length(g.pel.len() as u64, &mut sink.buf);
        for p in &g.pel {
            sink.buf.extend_from_slice(&p.id.to_be_bytes());
            sink.buf
                .extend_from_slice(&p.delivery_time_ms.to_le_bytes());
            encode_length(p.delivery_count, &mut sink.buf);
        }
        encode_length(g.consumers.len() as u64, &mut sink.buf);
        for c in &g.consumers {
            enc.string(&c.name, &mut sink.buf);
            sink.buf.extend_from_slice(&c.seen_time_ms.to_le_bytes());
            if version >= 3 {
                let active = c.active_time_ms.unwrap_or(c.seen_time_ms);
                sink.buf.extend_from_slice(&active.to_le_bytes());
            }
            encode_length(c.pel.len() as u64, &mut sink.buf);
            for id in &c.pel {
                sink.buf.extend_from_slice(&id.to_be_bytes());
            }
        }
        sink.maybe_flush()?;
    }
    sink.maybe_flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdb_format::stream_lp::StreamNodeCursor;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn entry(ms: u64, seq: u64, fields: &[(&str, &str)]) -> StreamEntry {
        StreamEntry {
            id: StreamId::new(ms, seq),
            fields: fields.iter().map(|(f, v)| (b(f), b(v))).collect(),
        }
    }

    /// The servers' estimate (`streamEstimateDistanceFromFirstEverEntry`) for a stream of
    /// entries 1-1, 2-0, 3-0 (3 added, none deleted), at each kind of last delivered ID.
    #[test]
    fn entries_read_estimates() {
        let id = StreamId::new;
        let m = StreamMeta {
            length: 3,
            last_id: id(3, 0),
            first_id: id(1, 1),
            max_deleted: StreamId::default(),
            entries_added: 3,
        };
        // Before the first entry: none read; at it: exactly one; at the last: all three.
        assert_eq!(estimate_entries_read(id(0, 5), m), 0);
        assert_eq!(estimate_entries_read(id(1, 1), m), 1);
        assert_eq!(estimate_entries_read(id(3, 0), m), 3);
        // Between them, or past the last ID: unknown.
        assert_eq!(estimate_entries_read(id(2, 0), m), -1);
        assert_eq!(estimate_entries_read(id(4, 0), m), -1);
        // Two entries deleted before the first (5 added): at the first entry, 3 were read.
        let trimmed = StreamMeta {
            entries_added: 5,
            ..m
        };
        assert_eq!(estimate_entries_read(id(1, 1), trimmed), 3);
        assert_eq!(estimate_entries_read(id(0, 5), trimmed), 2);
        // A deletion at or after the first entry: only the last ID is exact.
        let holes = StreamMeta {
            max_deleted: id(2, 5),
            ..m
        };
        assert_eq!(estimate_entries_read(id(1, 1), holes), -1);
        assert_eq!(estimate_entries_read(id(3, 0), holes), 3);
        // An emptied stream: every ID up to the last is at the count added; a new stream, 0.
        let empty = StreamMeta { length: 0, ..m };
        assert_eq!(estimate_entries_read(id(2, 0), empty), 3);
        let fresh = StreamMeta {
            entries_added: 0,
            ..empty
        };
        assert_eq!(estimate_entries_read(id(2, 0), fresh), 0);
    }

    /// The doc example (§4.6) without the deleted entry: byte-identical node body.
    #[test]
    fn node_layout_matches_server() {
        let entries = vec![
            entry(1, 1, &[("name", "a"), ("age", "1")]),
            entry(2, 0, &[("other", "x")]),
        ];
        let mut enc = Encoder::new(
            crate::Target::Redis72,
            crate::Target::Redis72.header(false),
            EncodingConfig::default(),
            false,
        );
        let mut out = Vec::new();
        write_node(&mut enc, &mut out, &entries);
        // 16-byte key as a raw string.
        assert_eq!(out[0], 16);
        assert_eq!(&out[1..17], &StreamId::new(1, 1).to_be_bytes());
        let blob = &out[18..];
        assert_eq!(out[17] as usize, blob.len());
        let body: &[u8] = &[
            0x02, 0x01, 0x00, 0x01, 0x02, 0x01, // count 2, deleted 0, 2 master fields
            0x84, b'n', b'a', b'm', b'e', 0x05, 0x83, b'a', b'g', b'e', 0x04, 0x00,
            0x01, // fields, 0
            0x02, 0x01, 0x00, 0x01, 0x00, 0x01, 0x81, b'a', 0x02, 0x01, 0x01, 0x05,
            0x01, // 1-1
            0x00, 0x01, 0x01, 0x01, 0xdf, 0xff, 0x02, 0x01, 0x01, 0x85, b'o', b't', b'h', b'e',
            b'r', 0x06, 0x81, b'x', 0x02, 0x06, 0x01, // 2-0
            0xff,
        ];
        assert_eq!(&blob[6..], body);
        let mut cur = StreamNodeCursor::new(blob, 1, 1).unwrap();
        let mut ids = Vec::new();
        while let Some(e) = cur.next_entry(blob).unwrap() {
            ids.push((e.ms, e.seq));
        }
        assert_eq!(ids, vec![(1, 1), (2, 0)]);
    }

    #[test]
    fn node_split_and_exact_sizes() {
        let entries: Vec<StreamEntry> = (0..1000)
            .map(|i| {
                entry(
                    1000 + i / 3,
                    i % 3,
                    &[("field", "value-value-value"), ("n", "12")],
                )
            })
            .collect();
        let cfg = EncodingConfig::default();
        let nodes = plan_nodes(&entries, &cfg);
        assert!(nodes.len() >= 10);
        for &(a, bnd) in &nodes {
            assert!(bnd - a <= 100);
            // Predicted size equals the built size.
            let master = &entries[a];
            let predicted = master_size(master)
                + lp_int_size((bnd - a) as i64)
                + entries[a..bnd]
                    .iter()
                    .map(|e| entry_size(e, master))
                    .sum::<usize>();
            let mut enc = Encoder::new(
                crate::Target::Redis72,
                crate::Target::Redis72.header(false),
                cfg,
                false,
            );
            let mut out = Vec::new();
            write_node(&mut enc, &mut out, &entries[a..bnd]);
            let blob_len =
                out.len() - 17 - rdb_format::length::encoded_length_size(predicted as u64);
            assert_eq!(blob_len, predicted);
            assert!(predicted < 4096 + 64, "{predicted}");
        }
    }

    #[test]
    fn validation() {
        let mut s = Stream {
            entries: vec![entry(1, 0, &[("a", "b")]), entry(1, 0, &[("a", "b")])],
            last_id: StreamId::new(5, 0),
            ..Stream::default()
        };
        assert!(validate(&s).unwrap_err().contains("not increasing"));
        s.entries.pop();
        s.last_id = StreamId::new(0, 9);
        assert!(validate(&s).unwrap_err().contains("after last_id"));
        s.last_id = StreamId::new(1, 0);
        assert!(validate(&s).is_ok());
        s.groups.push(rdb_model::ConsumerGroup {
            name: b("g"),
            pel: vec![rdb_model::PendingEntry {
                id: StreamId::new(1, 0),
                delivery_time_ms: 5,
                delivery_count: 1,
            }],
            ..Default::default()
        });
        assert!(validate(&s).unwrap_err().contains("has no consumer"));
        s.groups[0].consumers.push(rdb_model::Consumer {
            name: b("c"),
            seen_time_ms: 1,
            active_time_ms: None,
            pel: vec![StreamId::new(1, 0)],
        });
        assert!(validate(&s).is_ok());
        s.groups[0].consumers[0].pel.push(StreamId::new(9, 9));
        assert!(validate(&s).unwrap_err().contains("not in the group PEL"));
    }
}
