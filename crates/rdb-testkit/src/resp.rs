//! A keyspace as the commands that recreate it in a server (`redis-cli --pipe` input for the
//! benchmark datasets, the byte-identity tests' server loads).

use std::io::{self, Write};

use rdb_model::{Entry, Stream, Value};

/// Elements per variadic command (`RPUSH`, `SADD`, ...).
const BATCH: usize = 512;

/// A command: its name and arguments.
pub type Command = Vec<Vec<u8>>;

/// Writes one command as RESP (an array of bulk strings).
pub fn write_command(out: &mut impl Write, args: &[Vec<u8>]) -> io::Result<()> {
    write!(out, "*{}\r\n", args.len())?;
    for a in args {
        write!(out, "${}\r\n", a.len())?;
        out.write_all(a)?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

/// One command with owned arguments.
fn cmd(args: &[&[u8]]) -> Command {
    args.iter().map(|a| a.to_vec()).collect()
}

/// `cmd key items...` in commands of at most [`BATCH`] items (each item one or two args).
fn batched(out: &mut Vec<Command>, name: &[u8], key: &[u8], items: &[Vec<&[u8]>]) {
    for chunk in items.chunks(BATCH) {
        let mut args: Vec<&[u8]> = vec![name, key];
        args.extend(chunk.iter().flatten().copied());
        out.push(cmd(&args));
    }
}

/// The commands that recreate `e` (with its expiry): `SET`, `RPUSH`, `SADD`, `ZADD`, `HSET`
/// (variadic, at most 512 elements each) or the stream's commands, then `PEXPIREAT`. Module
/// values give no command.
pub fn entry_commands(e: &Entry) -> Vec<Command> {
    let mut out = Vec::new();
    let key: &[u8] = &e.key;
    match &e.value {
        Value::String(s) => out.push(cmd(&[b"SET", key, s])),
        Value::List(l) => {
            let items: Vec<Vec<&[u8]>> = l.iter().map(|x| vec![x.as_ref()]).collect();
            batched(&mut out, b"RPUSH", key, &items);
        }
        Value::Set(s) => {
            let items: Vec<Vec<&[u8]>> = s.iter().map(|x| vec![x.as_ref()]).collect();
            batched(&mut out, b"SADD", key, &items);
        }
        Value::SortedSet(z) => {
            let scores: Vec<String> = z
                .iter()
                .map(|(_, s)| rdb_model::json::score_to_string(*s))
                .collect();
            let items: Vec<Vec<&[u8]>> = z
                .iter()
                .zip(&scores)
                .map(|((m, _), s)| vec![s.as_bytes(), m.as_ref()])
                .collect();
            batched(&mut out, b"ZADD", key, &items);
        }
        Value::Hash(h) => {
            let items: Vec<Vec<&[u8]>> = h
                .iter()
                .map(|f| vec![f.field.as_ref(), f.value.as_ref()])
                .collect();
            batched(&mut out, b"HSET", key, &items);
        }
        Value::Stream(s) => stream_commands(&mut out, key, s),
        Value::Module(_) => return out,
    }
    if let Some(ms) = e.expire_at_ms {
        out.push(cmd(&[b"PEXPIREAT", key, ms.to_string().as_bytes()]));
    }
    out
}

/// `XADD`s, `XSETID` with the deletion metadata, groups, consumers and PELs (`XCLAIM FORCE`).
/// A stream without entries is made with one `XADD` + `XDEL`.
fn stream_commands(out: &mut Vec<Command>, key: &[u8], s: &Stream) {
    let last = s.last_id.to_string();
    if s.entries.is_empty() {
        out.push(cmd(&[b"XADD", key, last.as_bytes(), b"f", b"v"]));
        out.push(cmd(&[b"XDEL", key, last.as_bytes()]));
    }
    for en in &s.entries {
        let id = en.id.to_string();
        let mut args: Vec<&[u8]> = vec![b"XADD", key, id.as_bytes()];
        for (f, v) in &en.fields {
            args.push(f);
            args.push(v);
        }
        out.push(cmd(&args));
    }
    let mut setid: Vec<String> = vec!["XSETID".into(), String::new(), last];
    if let (Some(a), Some(m)) = (s.entries_added, s.max_deleted_id) {
        setid.extend([
            "ENTRIESADDED".into(),
            a.to_string(),
            "MAXDELETEDID".into(),
            m.to_string(),
        ]);
    }
    let mut args: Vec<&[u8]> = setid.iter().map(|x| x.as_bytes()).collect();
    args[1] = key;
    out.push(cmd(&args));
    for g in &s.groups {
        let ld = g.last_delivered_id.to_string();
        let read = g.entries_read.map(|r| r.to_string());
        let mut args: Vec<&[u8]> = vec![b"XGROUP", b"CREATE", key, &g.name, ld.as_bytes()];
        if let Some(r) = &read {
            args.extend([b"ENTRIESREAD".as_slice(), r.as_bytes()]);
        }
        out.push(cmd(&args));
        for c in &g.consumers {
            out.push(cmd(&[b"XGROUP", b"CREATECONSUMER", key, &g.name, &c.name]));
            for id in &c.pel {
                let Some(p) = g.pel.iter().find(|p| p.id == *id) else {
                    continue;
                };
                let (ids, time, count) = (
                    id.to_string(),
                    p.delivery_time_ms.to_string(),
                    p.delivery_count.to_string(),
                );
                out.push(cmd(&[
                    b"XCLAIM",
                    key,
                    &g.name,
                    &c.name,
                    b"0",
                    ids.as_bytes(),
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"FORCE",
                    b"JUSTID",
                ]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn empty_stream_is_created_then_emptied() {
        let mut s = crate::gen::stream(&mut rand::rngs::StdRng::seed_from_u64(2), 2, 1);
        s.entries.clear();
        s.length = 0;
        s.groups.iter_mut().for_each(|g| {
            g.pel.clear();
            g.consumers.iter_mut().for_each(|c| c.pel.clear());
        });
        let last = s.last_id.to_string().into_bytes();
        let cmds = entry_commands(&Entry::new(b"s".to_vec(), Value::Stream(Box::new(s))));
        assert_eq!(
            cmds[0][..3],
            [b"XADD".to_vec(), b"s".to_vec(), last.clone()]
        );
        assert_eq!(cmds[1], [b"XDEL".to_vec(), b"s".to_vec(), last.clone()]);
        assert_eq!(cmds[2][..3], [b"XSETID".to_vec(), b"s".to_vec(), last]);
    }

    #[test]
    fn commands_are_written_as_resp_arrays() {
        let mut out = Vec::new();
        write_command(&mut out, &[b"SET".to_vec(), b"k".to_vec(), b"".to_vec()]).unwrap();
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        let e = Entry::new(
            b"k".to_vec(),
            Value::List((0..1000).map(|i| i.to_string().into()).collect()),
        );
        let cmds = entry_commands(&e);
        // RPUSH in batches of 512 elements.
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].len(), 2 + BATCH);
        assert_eq!(cmds[1].len(), 2 + 1000 - BATCH);
    }
}
