//! Every real-server `testdata/servers/*/*/expected.json` parses, and what it says about its
//! `dump.rdb` (size, SHA-256, EOF offset, CRC trailer) and about itself (key counts, sort
//! order, sizes) is consistent, so the parsed fields can be trusted by other tests.

use std::path::{Path, PathBuf};

use rdb_testkit::expected::{load_expected, Expected, ExpectedValue};
use sha2::{Digest, Sha256};

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/servers")
}

/// `(expected.json, dump.rdb)` of every variant directory.
fn corpus() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for server in std::fs::read_dir(servers_dir()).unwrap() {
        let server = server.unwrap().path();
        if !server.is_dir() {
            continue;
        }
        for variant in std::fs::read_dir(&server).unwrap() {
            let dir = variant.unwrap().path();
            let exp = dir.join("expected.json");
            if exp.is_file() {
                out.push((exp, dir.join("dump.rdb")));
            }
        }
    }
    out.sort();
    out
}

fn check_file_facts(exp: &Expected, rdb: &Path) -> Result<(), String> {
    let bytes = std::fs::read(rdb).map_err(|e| format!("{}: {e}", rdb.display()))?;
    let r = &exp.rdb;
    if r.size != bytes.len() as u64 {
        return Err(format!("size {} but the file has {}", r.size, bytes.len()));
    }
    let sha = format!("{:x}", Sha256::digest(&bytes));
    if sha != r.sha256 {
        return Err(format!("sha256 {} but the file hashes to {sha}", r.sha256));
    }
    if !bytes.starts_with(r.header.as_bytes()) || !r.header.starts_with(&r.magic) {
        return Err(format!(
            "header {:?} / magic {:?} do not match the file",
            r.header, r.magic
        ));
    }
    let ver: u32 = r.header[r.magic.len()..]
        .parse()
        .map_err(|e| format!("header: {e}"))?;
    if ver != r.version {
        return Err(format!("version {} but header {:?}", r.version, r.header));
    }
    let eof = usize::try_from(r.eof_opcode_at).unwrap();
    if bytes.get(eof) != Some(&0xff) {
        return Err(format!("no 0xFF at eof_opcode_at {eof}"));
    }
    match r.trailing_crc64_le {
        Some(crc) => {
            let tail: [u8; 8] = bytes[bytes.len() - 8..].try_into().unwrap();
            if u64::from_le_bytes(tail) != crc || eof + 9 != bytes.len() {
                return Err(format!(
                    "trailing_crc64_le {crc:016x} does not match the file tail"
                ));
            }
            if r.version < 5 {
                return Err("a CRC trailer before RDB 5".into());
            }
        }
        None => {
            if eof + 1 != bytes.len() || r.version >= 5 {
                return Err("no CRC trailer, but the file does not end at the EOF byte".into());
            }
        }
    }
    Ok(())
}

fn check_self_consistency(exp: &Expected) -> Result<(), String> {
    if exp.databases.is_empty() {
        return Err("no databases".into());
    }
    for (n, db) in &exp.databases {
        if db.entries.len() as u64 != db.keys {
            return Err(format!(
                "db {n}: keys {} but {} entries",
                db.keys,
                db.entries.len()
            ));
        }
        let expires = db
            .entries
            .iter()
            .filter(|e| e.expire_at_ms.is_some())
            .count() as u64;
        if expires != db.expires {
            return Err(format!(
                "db {n}: expires {} but {expires} entries expire",
                db.expires
            ));
        }
        if !db.entries.windows(2).all(|w| w[0].key < w[1].key) {
            return Err(format!("db {n}: entries not sorted by key bytes"));
        }
        for e in &db.entries {
            let len = match &e.value {
                ExpectedValue::String(b) => b.len(),
                ExpectedValue::StringDigest { len, .. } => usize::try_from(*len).unwrap(),
                ExpectedValue::List(v) | ExpectedValue::Set(v) => v.len(),
                ExpectedValue::ZSet(v) => v.len(),
                ExpectedValue::Hash(v) => v.len(),
                ExpectedValue::Stream(s) => {
                    if s.entries.len() as u64 != s.length {
                        return Err(format!("db {n} key {:?}: stream length", e.key));
                    }
                    s.entries.len()
                }
            };
            if len as u64 != e.size {
                return Err(format!(
                    "db {n} key {:?}: size {} but value has {len}",
                    e.key, e.size
                ));
            }
        }
    }
    let cluster = exp.server.mode == "cluster";
    match &exp.slots {
        Some(slots) if cluster => {
            let keys: u64 = slots.iter().map(|s| s.keys).sum();
            let expires: u64 = slots.iter().map(|s| s.expires).sum();
            let db0 = exp.databases.get(&0).ok_or("cluster without db 0")?;
            if keys != db0.keys || expires != db0.expires || exp.databases.len() != 1 {
                return Err("slot counts do not add up to db 0".into());
            }
            if !slots.windows(2).all(|w| w[0].slot < w[1].slot) {
                return Err("slots not sorted".into());
            }
        }
        None if !cluster => {}
        _ => {
            return Err(format!(
                "slots present: {}, mode {}",
                exp.slots.is_some(),
                exp.server.mode
            ))
        }
    }
    if let Some(fs) = &exp.functions {
        if fs
            .iter()
            .any(|f| f.code.is_empty() || f.functions.is_empty())
        {
            return Err("a function library without code or functions".into());
        }
    }
    Ok(())
}

#[test]
fn every_expected_json_parses() {
    let files = corpus();
    assert!(
        !files.is_empty(),
        "no expected.json under {}",
        servers_dir().display()
    );
    let mut failures = Vec::new();
    let (mut keys, mut streams, mut digests, mut lfu, mut lru, mut cluster) = (0, 0, 0, 0, 0, 0);
    for (json, rdb) in &files {
        let exp = match load_expected(json) {
            Ok(e) => e,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if let Err(e) = check_file_facts(&exp, rdb).and_then(|()| check_self_consistency(&exp)) {
            failures.push(format!("{}: {e}", json.display()));
        }
        for db in exp.databases.values() {
            for e in &db.entries {
                keys += 1;
                streams += usize::from(matches!(e.value, ExpectedValue::Stream(_)));
                digests += usize::from(matches!(e.value, ExpectedValue::StringDigest { .. }));
                lfu += usize::from(e.lfu_freq.is_some());
                lru += usize::from(e.lru_idle_s.is_some());
            }
        }
        cluster += usize::from(exp.slots.is_some());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The parser saw every kind of data the corpus holds.
    for (what, n) in [
        ("keys", keys),
        ("streams", streams),
        ("digest strings", digests),
        ("LFU", lfu),
        ("LRU", lru),
        ("cluster files", cluster),
    ] {
        assert!(n > 0, "no {what} seen in {} files", files.len());
    }
    eprintln!("parsed {} expected.json files, {keys} keys", files.len());
}
