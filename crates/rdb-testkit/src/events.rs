//! A compact, owned fingerprint of a parser run: one line per event, then the error (code
//! and offset) if any. Used to prove that every source gives the same events.

use rdb_format::Element;
use rdb_reader::{Event, Parser, Source};

fn el(e: Element<'_>) -> String {
    match e {
        Element::Int(v) => format!("i{v}"),
        Element::Str(s) => rdb_format::escape_bytes(s, 1 << 20),
    }
}

/// One line describing `ev`.
pub fn fingerprint(ev: &Event<'_>) -> String {
    match *ev {
        Event::Aux { key, value } => format!("aux {} {}", el(key), el(value)),
        Event::Function { code } => format!("function {}", el(code)),
        Event::Key(k) => format!(
            "key @{} db{} {} t{} exp{:?} idle{:?} freq{:?} len{:?}",
            k.offset,
            k.db,
            el(k.key),
            k.rdb_type.0,
            k.expire_at_ms,
            k.lru_idle_s,
            k.lfu_freq,
            k.len_hint
        ),
        Event::StringChunk(c) => format!("chunk {}", el(c)),
        Event::ListItem(v) => format!("item {}", el(v)),
        Event::SetMember(v) => format!("member {}", el(v)),
        Event::ZSetMember { member, score, .. } => {
            format!("z {} {:?}", el(member), score.to_bits())
        }
        Event::HashField {
            field,
            value,
            expire_at_ms,
        } => {
            format!("h {} {} {expire_at_ms:?}", el(field), el(value))
        }
        Event::StreamEntry(e) => {
            let mut s = format!("entry {} {}", e.id, e.deleted);
            for (f, v) in e.fields() {
                s.push(' ');
                s.push_str(&el(f));
                s.push('=');
                s.push_str(&el(v));
            }
            s
        }
        Event::StreamGroup {
            name,
            last_delivered_id,
            entries_read,
            pel,
        } => {
            format!(
                "group {} {last_delivered_id} {entries_read:?} {pel}",
                el(name)
            )
        }
        Event::StreamConsumer {
            name,
            seen_time_ms,
            active_time_ms,
            pel,
        } => {
            format!(
                "consumer {} {seen_time_ms} {active_time_ms:?} {pel}",
                el(name)
            )
        }
        Event::ModuleAux {
            module_id,
            when,
            raw,
            len,
        } => format!("moduleaux {module_id} {when} {len} {raw:?}"),
        Event::Module {
            module_id,
            raw,
            len,
        } => format!("module {module_id} {len} {raw:?}"),
        ref other => format!("{other:?}"),
    }
}

/// Runs `p` to the end: the event lines, then `error <code> @<offset>` if it failed. A whole
/// string key (`Limits::whole_strings`) is written as the three events it stands for (key,
/// value chunk when delivered, key end), so runs with and without that limit compare equal.
pub fn run<S: Source>(mut p: Parser<S>) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        match p.next_event() {
            Ok(Some(Event::Key(k))) if k.whole => {
                out.push(fingerprint(&Event::Key(k)));
                if let Some(v) = k.value {
                    out.push(fingerprint(&Event::StringChunk(v)));
                }
                out.push(fingerprint(&Event::KeyEnd));
            }
            Ok(Some(ev)) => out.push(fingerprint(&ev)),
            Ok(None) => break,
            Err(e) => {
                out.push(error_line(&e));
                break;
            }
        }
    }
    out
}

/// Like [`run`], but after every event takes an intset's members at once with
/// [`Parser::take_intset`] (written as the member events they stand for), hands the
/// elements of other compact values over with [`Parser::drain_blob`] and the members of
/// hashtable-encoded values with [`Parser::drain_plain`], as `rdb-verify` does: the lines must
/// equal those of [`run`].
pub fn run_draining<S: Source>(mut p: Parser<S>) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        match p.next_event() {
            Ok(Some(ev)) => out.push(fingerprint(&ev)),
            Ok(None) => break,
            Err(e) => {
                out.push(error_line(&e));
                break;
            }
        }
        if let Some(set) = p.take_intset() {
            for v in set.iter() {
                out.push(fingerprint(&Event::SetMember(Element::Int(v))));
            }
        }
        if let Err(e) = p.drain_blob(&mut |ev| out.push(fingerprint(ev))) {
            out.push(error_line(&e));
            break;
        }
        if let Err(e) = p.drain_plain(&mut |ev, _| out.push(fingerprint(ev))) {
            out.push(error_line(&e));
            break;
        }
    }
    out
}

/// The line of a run that ended with error `e`: `error <code> @<offset>: <the whole
/// message>` (with its db, key and counts such as "2 bytes left"), so that runs over
/// different sources must agree on the message too.
fn error_line(e: &rdb_reader::ReadError) -> String {
    format!("error {} @{}: {e}", e.code(), e.offset())
}
