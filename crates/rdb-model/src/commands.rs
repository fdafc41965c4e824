//! The commands that recreate an entry in a server: `rdbkit dump --format resp` writes them
//! for `redis-cli --pipe`, and the tests and benchmark scripts send them to real servers.
//!
//! One entry gives, in order: its value's write commands (`SET`; `RPUSH`, `SADD`, `ZADD`,
//! `HSET` with at most [`BATCH`] elements each, then `HPEXPIREAT` per hash field TTL; a
//! stream's `XADD`s, `XSETID` with its deletion metadata, and per group `XGROUP CREATE`,
//! `XGROUP CREATECONSUMER` and one `XCLAIM … FORCE JUSTID` per pending entry of each
//! consumer), then `PEXPIREAT` when the key expires. Module values have no command form.
//!
//! A pending entry whose message was deleted or trimmed (the server keeps it in the PEL) can
//! only be claimed while its ID exists: such IDs are added among the entries with one
//! placeholder field ([`DELETED_ENTRY_FIELD`]), claimed, then removed — those before the
//! first entry (trimmed messages) with `XTRIM … MAXLEN`, which leaves the max-deleted ID as it
//! was, the others with `XDEL` — and `XSETID` comes last to restore the deletion metadata
//! (servers ignore a `MAXDELETEDID` of 0-0). A stream read from an RDB ≤ 9 record has no
//! such metadata: recreated through placeholders, it reports them in its entries-added
//! count (and a deleted one as its max-deleted ID) where a server loading the record
//! reports its length (and 0-0). An expiry of -1 (the servers' "none") gives no `PEXPIREAT`.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::json::score_to_string;
use crate::{Entry, PendingEntry, Stream, StreamId, Value};

/// Elements per variadic command (`RPUSH`, `SADD`, `ZADD`, `HSET`).
pub const BATCH: usize = 512;

/// Name of the consumer group created and destroyed at once to make an empty stream
/// (`XGROUP CREATE … MKSTREAM`), since `XSETID` needs the key to exist.
pub const EMPTY_STREAM_GROUP: &[u8] = b"__rdbkit_tmp";

/// Field (with an empty value) of the placeholder entry added for a pending ID whose
/// message is gone, and deleted again once claimed.
pub const DELETED_ENTRY_FIELD: &[u8] = b"__rdbkit_deleted";

/// Writes one command as RESP (an array of bulk strings), as `redis-cli --pipe` and a server
/// read it.
pub fn write_resp(out: &mut impl Write, args: &[&[u8]]) -> io::Result<()> {
    write!(out, "*{}\r\n", args.len())?;
    for a in args {
        write_bulk(out, a)?;
    }
    Ok(())
}

/// Writes one RESP bulk string (`$len`, the bytes): an argument of a command whose `*N`
/// header is already written (`rdbkit dump` writes a command's arguments as it gathers them).
pub fn write_bulk(out: &mut (impl Write + ?Sized), a: &[u8]) -> io::Result<()> {
    write!(out, "${}\r\n", a.len())?;
    out.write_all(a)?;
    out.write_all(b"\r\n")
}

/// Calls `f` with each command (name first, then the arguments) that recreates `e`, in the
/// order given in the module docs, stopping at the first error. A module value gives no
/// command (nothing is called, not even for its expiry): callers that must say so check
/// for [`Value::Module`] first.
pub fn for_each_command<E>(
    e: &Entry,
    mut f: impl FnMut(&[&[u8]]) -> Result<(), E>,
) -> Result<(), E> {
    let key: &[u8] = &e.key;
    match &e.value {
        Value::String(s) => f(&[b"SET", key, s])?,
        Value::List(items) => batched(&mut f, b"RPUSH", key, items, |x| [x.as_ref()])?,
        Value::Set(items) => batched(&mut f, b"SADD", key, items, |x| [x.as_ref()])?,
        Value::SortedSet(pairs) => {
            for chunk in pairs.chunks(BATCH) {
                let scores: Vec<String> = chunk.iter().map(|(_, s)| score_to_string(*s)).collect();
                let mut args: Vec<&[u8]> = Vec::with_capacity(2 + 2 * chunk.len());
                args.extend([&b"ZADD"[..], key]);
                for ((member, _), score) in chunk.iter().zip(&scores) {
                    args.extend([score.as_bytes(), member.as_ref()]);
                }
                f(&args)?;
            }
        }
        Value::Hash(fields) => {
            batched(&mut f, b"HSET", key, fields, |x| {
                [x.field.as_ref(), x.value.as_ref()]
            })?;
            for field in fields {
                if let Some(ms) = field.expire_at_ms {
                    let ms = ms.to_string();
                    f(&[
                        b"HPEXPIREAT",
                        key,
                        ms.as_bytes(),
                        b"FIELDS",
                        b"1",
                        &field.field,
                    ])?;
                }
            }
        }
        Value::Stream(s) => stream_commands(&mut f, key, s)?,
        Value::Module(_) => return Ok(()),
    }
    // An expiry of -1 is the servers' "none": they load such a key without one, and keep it
    // (`PEXPIREAT key -1` would delete it at once).
    if let Some(ms) = e.expire_at_ms.filter(|&ms| ms != -1) {
        f(&[b"PEXPIREAT", key, ms.to_string().as_bytes()])?;
    }
    Ok(())
}

/// `name key items…` in commands of at most [`BATCH`] items, each item `N` arguments.
fn batched<T, E, const N: usize>(
    f: &mut impl FnMut(&[&[u8]]) -> Result<(), E>,
    name: &[u8],
    key: &[u8],
    items: &[T],
    args_of: impl Fn(&T) -> [&[u8]; N],
) -> Result<(), E> {
    let mut args: Vec<&[u8]> = Vec::with_capacity(2 + N * BATCH.min(items.len()));
    for chunk in items.chunks(BATCH) {
        args.clear();
        args.extend([name, key]);
        for item in chunk {
            args.extend(args_of(item));
        }
        f(&args)?;
    }
    Ok(())
}

/// A stream's commands: an empty stream is made with `XGROUP CREATE … MKSTREAM` and
/// `XGROUP DESTROY` (an `XADD` + `XDEL` could not make one whose last ID is 0-0).
fn stream_commands<E>(
    f: &mut impl FnMut(&[&[u8]]) -> Result<(), E>,
    key: &[u8],
    s: &Stream,
) -> Result<(), E> {
    let ghosts = deleted_pending_ids(s);
    if s.entries.is_empty() && ghosts.is_empty() {
        f(&[
            b"XGROUP",
            b"CREATE",
            key,
            EMPTY_STREAM_GROUP,
            b"0",
            b"MKSTREAM",
        ])?;
        f(&[b"XGROUP", b"DESTROY", key, EMPTY_STREAM_GROUP])?;
    }
    // The entries and the placeholders, merged in ID order (`XADD` takes rising IDs).
    let mut pending_ghosts = ghosts.iter().peekable();
    for entry in &s.entries {
        while let Some(g) = pending_ghosts.next_if(|g| **g < entry.id) {
            add_placeholder(f, key, *g)?;
        }
        let id = entry.id.to_string();
        let mut args: Vec<&[u8]> = Vec::with_capacity(3 + 2 * entry.fields.len());
        args.extend([&b"XADD"[..], key, id.as_bytes()]);
        for (field, value) in &entry.fields {
            args.extend([field.as_ref(), value.as_ref()]);
        }
        f(&args)?;
    }
    for g in pending_ghosts {
        add_placeholder(f, key, *g)?;
    }
    if ghosts.is_empty() {
        set_id(f, key, s)?;
    }
    for g in &s.groups {
        let delivered = g.last_delivered_id.to_string();
        let read = g.entries_read.map(|r| r.to_string());
        match &read {
            Some(r) => f(&[
                b"XGROUP",
                b"CREATE",
                key,
                &g.name,
                delivered.as_bytes(),
                b"ENTRIESREAD",
                r.as_bytes(),
            ])?,
            None => f(&[b"XGROUP", b"CREATE", key, &g.name, delivered.as_bytes()])?,
        }
        // The group's PEL by ID, for the consumers' entries (one lookup each, not a scan).
        let pel: HashMap<StreamId, &PendingEntry> = g.pel.iter().map(|p| (p.id, p)).collect();
        for c in &g.consumers {
            f(&[b"XGROUP", b"CREATECONSUMER", key, &g.name, &c.name])?;
            for id in &c.pel {
                let Some(p) = pel.get(id) else {
                    continue;
                };
                let (id, time, count) = (
                    id.to_string(),
                    p.delivery_time_ms.to_string(),
                    p.delivery_count.to_string(),
                );
                f(&[
                    b"XCLAIM",
                    key,
                    &g.name,
                    &c.name,
                    b"0",
                    id.as_bytes(),
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"FORCE",
                    b"JUSTID",
                ])?;
            }
        }
    }
    if !ghosts.is_empty() {
        // Placeholders before the first entry (trimmed messages) go with `XTRIM MAXLEN`,
        // which leaves the max-deleted ID alone (`XSETID` cannot set it back to 0-0); those
        // after it (deleted messages, which the max-deleted ID covers) with `XDEL`.
        // (`MAXLEN`, not `MINID`, which Redis 6.0 lacks: the count is exact when every `XADD`
        // above succeeded; one a server refuses, from a file no server would write, is
        // reported by `redis-cli --pipe` as an error anyway.)
        let first = s.entries.first().map_or(StreamId::MAX, |e| e.id);
        let trimmed = ghosts.partition_point(|g| *g < first);
        if trimmed > 0 {
            let keep = (s.entries.len() + ghosts.len() - trimmed).to_string();
            f(&[b"XTRIM", key, b"MAXLEN", keep.as_bytes()])?;
        }
        let ids: Vec<String> = ghosts
            .get(trimmed..)
            .unwrap_or_default()
            .iter()
            .map(StreamId::to_string)
            .collect();
        batched(f, b"XDEL", key, &ids, |id| [id.as_bytes()])?;
        set_id(f, key, s)?;
    }
    Ok(())
}

/// The IDs pending in some group (and owned by a consumer, so claimable) that are not among
/// the stream's entries: deleted or trimmed messages. Sorted, each once; 0-0 (which `XADD`
/// refuses, and no server writes) is left out.
fn deleted_pending_ids(s: &Stream) -> Vec<StreamId> {
    if s.groups.iter().all(|g| g.pel.is_empty()) {
        return Vec::new();
    }
    let present: std::collections::HashSet<StreamId> = s.entries.iter().map(|e| e.id).collect();
    let mut ghosts: Vec<StreamId> = s
        .groups
        .iter()
        .flat_map(|g| g.consumers.iter().flat_map(|c| c.pel.iter().copied()))
        .filter(|id| *id != StreamId::new(0, 0) && !present.contains(id))
        .collect();
    ghosts.sort_unstable();
    ghosts.dedup();
    ghosts
}

fn add_placeholder<E>(
    f: &mut impl FnMut(&[&[u8]]) -> Result<(), E>,
    key: &[u8],
    id: StreamId,
) -> Result<(), E> {
    let id = id.to_string();
    f(&[b"XADD", key, id.as_bytes(), DELETED_ENTRY_FIELD, b""])
}

/// `XSETID` with the stream's last ID and, when known, its deletion metadata.
fn set_id<E>(
    f: &mut impl FnMut(&[&[u8]]) -> Result<(), E>,
    key: &[u8],
    s: &Stream,
) -> Result<(), E> {
    let last = s.last_id.to_string();
    match (s.entries_added, s.max_deleted_id) {
        (Some(added), Some(max_deleted)) => {
            let (added, max_deleted) = (added.to_string(), max_deleted.to_string());
            f(&[
                b"XSETID",
                key,
                last.as_bytes(),
                b"ENTRIESADDED",
                added.as_bytes(),
                b"MAXDELETEDID",
                max_deleted.as_bytes(),
            ])
        }
        _ => f(&[b"XSETID", key, last.as_bytes()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Consumer, ConsumerGroup, HashField, StreamEntry, StreamId};

    fn commands(e: &Entry) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for_each_command(e, |args| {
            out.push(
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect(),
            );
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn collections_go_in_batches_then_the_expiry() {
        let mut e = Entry::new(
            b"k".to_vec(),
            Value::List((0..1000).map(|i| i.to_string().into()).collect()),
        );
        e.expire_at_ms = Some(4_102_444_800_000);
        let cmds = commands(&e);
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0].len(), 2 + BATCH);
        assert_eq!(cmds[0][..3], ["RPUSH", "k", "0"]);
        assert_eq!(cmds[1].len(), 2 + 1000 - BATCH);
        assert_eq!(cmds[1].last().map(String::as_str), Some("999"));
        assert_eq!(cmds[2], ["PEXPIREAT", "k", "4102444800000"]);
    }

    #[test]
    fn scores_field_ttls_and_module_values() {
        let z = Entry::new(
            b"z".to_vec(),
            Value::SortedSet(vec![("a".into(), 0.1), ("b".into(), f64::NEG_INFINITY)]),
        );
        assert_eq!(commands(&z), [["ZADD", "z", "0.1", "a", "-inf", "b"]]);
        let h = Entry::new(
            b"h".to_vec(),
            Value::Hash(vec![
                HashField {
                    field: "f".into(),
                    value: "v".into(),
                    expire_at_ms: Some(5),
                },
                HashField {
                    field: "g".into(),
                    value: "w".into(),
                    expire_at_ms: None,
                },
            ]),
        );
        assert_eq!(
            commands(&h),
            [
                vec!["HSET", "h", "f", "v", "g", "w"],
                vec!["HPEXPIREAT", "h", "5", "FIELDS", "1", "f"]
            ]
        );
        let mut m = Entry::new(
            b"m".to_vec(),
            Value::Module(crate::ModuleValue {
                module_id: 0,
                raw: Default::default(),
            }),
        );
        m.expire_at_ms = Some(1);
        assert!(commands(&m).is_empty());
    }

    #[test]
    fn an_empty_stream_is_made_through_a_group() {
        let last = StreamId::new(7, 3);
        let s = Stream {
            last_id: last,
            entries_added: Some(4),
            max_deleted_id: Some(last),
            groups: vec![ConsumerGroup {
                name: "g".into(),
                last_delivered_id: last,
                entries_read: None,
                pel: Vec::new(),
                consumers: Vec::new(),
            }],
            ..Stream::default()
        };
        let cmds = commands(&Entry::new(b"s".to_vec(), Value::Stream(Box::new(s))));
        assert_eq!(
            cmds,
            [
                vec!["XGROUP", "CREATE", "s", "__rdbkit_tmp", "0", "MKSTREAM"],
                vec!["XGROUP", "DESTROY", "s", "__rdbkit_tmp"],
                vec![
                    "XSETID",
                    "s",
                    "7-3",
                    "ENTRIESADDED",
                    "4",
                    "MAXDELETEDID",
                    "7-3"
                ],
                vec!["XGROUP", "CREATE", "s", "g", "7-3"],
            ]
        );
    }

    #[test]
    fn pending_ids_of_deleted_messages_are_added_claimed_and_deleted() {
        let id = StreamId::new;
        let pending = |i| PendingEntry {
            id: i,
            delivery_time_ms: 9,
            delivery_count: 2,
        };
        let s = Stream {
            entries: vec![StreamEntry {
                id: id(3, 0),
                fields: vec![("f".into(), "v".into())],
            }],
            last_id: id(5, 0),
            entries_added: Some(5),
            max_deleted_id: Some(id(5, 0)),
            groups: vec![ConsumerGroup {
                name: "g".into(),
                last_delivered_id: id(5, 0),
                entries_read: Some(5),
                pel: vec![pending(id(1, 0)), pending(id(3, 0)), pending(id(5, 0))],
                consumers: vec![Consumer {
                    name: "c".into(),
                    seen_time_ms: 0,
                    active_time_ms: None,
                    pel: vec![id(1, 0), id(3, 0), id(5, 0)],
                }],
            }],
            ..Stream::default()
        };
        let cmds = commands(&Entry::new(b"s".to_vec(), Value::Stream(Box::new(s))));
        let names: Vec<String> = cmds.iter().map(|c| format!("{} {}", c[0], c[2])).collect();
        assert_eq!(
            names,
            [
                "XADD 1-0",
                "XADD 3-0",
                "XADD 5-0",
                "XGROUP s",
                "XGROUP s",
                "XCLAIM g",
                "XCLAIM g",
                "XCLAIM g",
                "XTRIM MAXLEN",
                "XDEL 5-0",
                "XSETID 5-0",
            ]
        );
        assert_eq!(cmds[0][3..], ["__rdbkit_deleted", ""]);
        // 1-0, before the first entry, was trimmed: trimmed again (the two others kept).
        assert_eq!(cmds[8], ["XTRIM", "s", "MAXLEN", "2"]);
        assert_eq!(cmds[9], ["XDEL", "s", "5-0"]);
        assert_eq!(cmds[10][3..], ["ENTRIESADDED", "5", "MAXDELETEDID", "5-0"]);
    }

    #[test]
    fn an_expiry_of_minus_one_is_none() {
        let mut e = Entry::new(b"k".to_vec(), Value::String("v".into()));
        e.expire_at_ms = Some(-1);
        assert_eq!(commands(&e), [["SET", "k", "v"]]);
        e.expire_at_ms = Some(-2);
        assert_eq!(commands(&e)[1], ["PEXPIREAT", "k", "-2"]);
    }

    #[test]
    fn commands_are_written_as_resp_arrays() {
        let mut out = Vec::new();
        write_resp(&mut out, &[b"SET", b"k", b""]).unwrap();
        write_resp(&mut out, &[b"GET", b"k"]).unwrap();
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }

    #[test]
    fn errors_stop_the_walk() {
        let e = Entry::new(
            b"k".to_vec(),
            Value::Set((0..2000).map(|i| i.to_string().into()).collect()),
        );
        let mut calls = 0;
        let r = for_each_command(&e, |_| {
            calls += 1;
            if calls == 2 {
                Err("full")
            } else {
                Ok(())
            }
        });
        assert_eq!((r, calls), (Err("full"), 2));
    }
}
