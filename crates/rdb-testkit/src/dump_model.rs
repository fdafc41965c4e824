//! The reference `rdbkit dump` prints against: each key read whole into the model and
//! printed from it, as the dump printed every key before it printed values as it reads them.
//! The dump's tests and the `dump_equivalence` fuzz oracle compare the two.

use rdb_reader::{Event, KeyspaceBuilder, Limits, Parser, SliceSource};

/// What the model prints for a file: its key lines (JSONL), its RESP output (`SELECT`s,
/// every key's commands, `FUNCTION LOAD`s), both for the keys read whole before any error,
/// and whether the file read to its end.
#[derive(Debug, Clone, Default)]
pub struct ModelDump {
    /// One `entry_to_json` line per key (no newline).
    pub key_lines: Vec<Vec<u8>>,
    /// The RESP output.
    pub resp: Vec<u8>,
    /// The file read whole (no error).
    pub complete: bool,
}

/// Prints `data` through the model ([`rdb_model::json::entry_to_json`],
/// [`rdb_model::commands::for_each_command`]), key by key.
pub fn model_dump(data: &[u8]) -> ModelDump {
    let mut p = Parser::new(SliceSource::new(data), Limits::default());
    let mut out = ModelDump::default();
    let mut key: Option<(KeyspaceBuilder, u8)> = None;
    let mut selected = None;
    loop {
        let ev = match p.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                out.complete = true;
                return out;
            }
            Err(_) => return out,
        };
        match ev {
            Event::Key(k) => {
                let mut kb = KeyspaceBuilder::new();
                kb.push(&ev);
                // A string given whole has no KeyEnd (not the dump's limits, but whole).
                key = Some((kb, k.rdb_type.0));
                if !k.whole {
                    continue;
                }
            }
            Event::Function { code } => {
                let mut t = rdb_format::IntText::new(0);
                let _ = rdb_model::commands::write_resp(
                    &mut out.resp,
                    &[b"FUNCTION", b"LOAD", b"REPLACE", code.as_bytes(&mut t)],
                );
                continue;
            }
            Event::KeyEnd => {}
            _ => {
                if let Some((kb, _)) = key.as_mut() {
                    kb.push(&ev);
                }
                continue;
            }
        }
        let Some((mut kb, rdb_type)) = key.take() else {
            continue;
        };
        if matches!(ev, Event::KeyEnd) {
            kb.push(&ev);
        }
        for (db, d) in &kb.finish().dbs {
            for e in &d.entries {
                let j = rdb_model::json::entry_to_json(*db, e, rdb_type);
                out.key_lines
                    .push(serde_json::to_vec(&j).unwrap_or_default());
                if selected != Some(*db) {
                    let name = db.to_string();
                    let _ = rdb_model::commands::write_resp(
                        &mut out.resp,
                        &[b"SELECT", name.as_bytes()],
                    );
                    selected = Some(*db);
                }
                // A module value gives no command (the dump names it on stderr).
                let _ = rdb_model::commands::for_each_command(e, |args| {
                    rdb_model::commands::write_resp(&mut out.resp, args)
                });
            }
        }
    }
}
