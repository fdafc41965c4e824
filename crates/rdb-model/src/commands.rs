//! The commands that recreate an entry in a server: `rdbkit dump --format resp` writes them
//! for `redis-cli --pipe`, and the tests and benchmark scripts send them to real servers.
//!
//! One entry gives, in order: its value's write commands (`SET`; `RPUSH`, `SADD`, `ZADD`,
//! `HSET` with at most [`BATCH`] elements each, then `HPEXPIREAT` per hash field TTL; a
//! stream's `XADD`s, `XSETID` with its deletion metadata, and per group `XGROUP CREATE`,
//! `XGROUP CREATECONSUMER` and one `XCLAIM … FORCE JUSTID` per pending entry of each
//! consumer), then `PEXPIREAT` when the key expires. Module values have no command form.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::json::score_to_string;
use crate::{Entry, PendingEntry, Stream, StreamId, Value};

/// Elements per variadic command (`RPUSH`, `SADD`, `ZADD`, `HSET`).
pub const BATCH: usize = 512;

/// Name of the consumer group created and destroyed at once to make an empty stream
/// (`XGROUP CREATE … MKSTREAM`), since `XSETID` needs the key to exist.
pub const EMPTY_STREAM_GROUP: &[u8] = b"__rdbkit_tmp";

/// Writes one command as RESP (an array of bulk strings), as `redis-cli --pipe` and a server
/// read it.
pub fn write_resp(out: &mut impl Write, args: &[&[u8]]) -> io::Result<()> {
    write!(out, "*{}\r\n", args.len())?;
    for a in args {
        write!(out, "${}\r\n", a.len())?;
        out.write_all(a)?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
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
    if let Some(ms) = e.expire_at_ms {
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
    if s.entries.is_empty() {
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
    for entry in &s.entries {
        let id = entry.id.to_string();
        let mut args: Vec<&[u8]> = Vec::with_capacity(3 + 2 * entry.fields.len());
        args.extend([&b"XADD"[..], key, id.as_bytes()]);
        for (field, value) in &entry.fields {
            args.extend([field.as_ref(), value.as_ref()]);
        }
        f(&args)?;
    }
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
            ])?;
        }
        _ => f(&[b"XSETID", key, last.as_bytes()])?,
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConsumerGroup, HashField, StreamId};

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
