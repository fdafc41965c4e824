//! The committed malformed files of `testdata/malformed/`: one hand-made file per check, each
//! with `NAME.expect.json` = `{"code": ..., "offset": N}` and a generated `README.md`.
//!
//! * `committed_files_match_the_generator`: rebuilds every file with the byte builder of
//!   `tests/common` (never the writer) and fails when a committed file differs, is missing or
//!   is stale — unless `RDB_BLESS=1`, which rewrites the directory.
//! * `every_file_produces_its_finding`: verifies each committed file (memory-mapped, default
//!   options) and requires its code at its offset; every other error or warning finding must be
//!   one of the case's known consequences.
//!
//! The offsets are computed from the builder's positions (see each case), not taken from the
//! verifier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdb_format::Element;
use rdb_verify::{verify_file, Options, Severity};
use serde_json::json;

mod common;
use common::{listpack, Rdb};

/// One malformed file.
struct Case {
    /// File stem.
    name: &'static str,
    /// What is wrong (README).
    what: &'static str,
    /// Expected finding code.
    code: &'static str,
    /// Findings that follow from the defect and may also appear.
    also: &'static [&'static str],
    /// Builds the file; returns it and the expected offset.
    build: fn() -> (Vec<u8>, u64),
}

fn base(version: u16) -> Rdb {
    let mut b = Rdb::new(version);
    b.aux(b"redis-ver", b"7.2.6");
    b
}

/// A two-entry list ziplist ("a", "b") whose second entry's prevlen is `prev2` (3 is right).
fn ziplist_ab(prev2: u8) -> Vec<u8> {
    let entries = [0x00, 0x01, b'a', prev2, 0x01, b'b'];
    let total = 10 + entries.len() + 1;
    let mut z = Vec::new();
    z.extend_from_slice(&(total as u32).to_le_bytes());
    z.extend_from_slice(&13u32.to_le_bytes()); // tail: the second entry
    z.extend_from_slice(&2u16.to_le_bytes());
    z.extend_from_slice(&entries);
    z.push(0xFF);
    z
}

/// The type-21 stream of tests/malformed.rs: entry 1-1, group "g" whose PEL holds 1-1, consumer
/// "c" whose PEL holds `cpel` (None: empty). Returns (file, offset of the consumer PEL ID or
/// of the group).
fn stream_file(cpel: Option<(u64, u64)>) -> (Vec<u8>, u64, u64) {
    let mut b = base(11);
    b.select_db(0);
    b.key(21, b"st");
    b.len(1);
    b.len(16).id(1, 1);
    b.str(&listpack(&[
        Element::Int(1),
        Element::Int(0),
        Element::Int(1),
        Element::Str(b"f"),
        Element::Int(0),
        Element::Int(2),
        Element::Int(0),
        Element::Int(0),
        Element::Str(b"v"),
        Element::Int(4),
    ]));
    b.len(1).len(1).len(1); // length 1, last id 1-1
    b.len(1).len(1).len(0).len(0).len(1); // first id 1-1, max deleted 0-0, entries added 1
    b.len(1); // one group
    let group = b.pos();
    b.str(b"g").len(1).len(1).len(1); // name, last delivered 1-1, entries read 1
    b.len(1).id(1, 1).i64le(1_700_000_000_000).len(1); // PEL: 1-1, delivered once
    b.len(1)
        .str(b"c")
        .i64le(1_700_000_000_000)
        .i64le(1_700_000_000_000); // consumer c
    let at = match cpel {
        Some((ms, seq)) => {
            b.len(1);
            let at = b.pos();
            b.id(ms, seq);
            at
        }
        None => {
            b.len(0);
            group
        }
    };
    (b.finish(), at, group)
}

const CASES: &[Case] = &[
    Case {
        name: "bad-magic",
        what: "the file starts with `REDIX` instead of `REDIS`",
        code: "signature",
        also: &[],
        build: || {
            let mut f = base(11).finish();
            f[4] = b'X';
            (f, 0)
        },
    },
    Case {
        name: "checksum-mismatch",
        what: "one bit of the stored CRC-64 trailer flipped",
        code: "crc-mismatch",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.string_key(b"k", b"v");
            let mut f = b.finish();
            let eof = f.len() as u64 - 9;
            let n = f.len();
            f[n - 1] ^= 0x01;
            (f, eof + 1) // the trailer
        },
    },
    Case {
        name: "checksum-disabled",
        what: "stored CRC-64 is 0 (saved with `rdbchecksum no`): a warning",
        code: "checksum-disabled",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.string_key(b"k", b"v");
            let mut f = b.finish();
            let n = f.len();
            f[n - 8..].fill(0);
            (f, n as u64 - 8)
        },
    },
    Case {
        name: "trailing-bytes",
        what: "three bytes after the CRC-64 trailer",
        code: "trailing-bytes",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.string_key(b"k", b"v");
            let mut f = b.finish();
            let end = f.len() as u64;
            f.extend_from_slice(b"xyz");
            (f, end)
        },
    },
    Case {
        name: "truncated",
        what: "the file ends inside a string value (no EOF, no trailer)",
        code: "truncated",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.string_key(b"k", b"v");
            b.key(0, b"cut");
            let len_at = b.pos();
            b.len(10).bytes(b"abc"); // declares 10 bytes, has 3
            (b.buf, len_at + 1) // the string's bytes start after its 1-byte length
        },
    },
    Case {
        name: "unknown-type",
        what: "a key record of type 30 in an RDB 11 file",
        code: "unsupported-type",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            let at = b.key(30, b"k");
            b.str(b"v");
            (b.finish(), at)
        },
    },
    Case {
        name: "selectdb-16",
        what: "SELECTDB 16 (the default server has databases 0-15)",
        code: "selectdb-range",
        also: &[],
        build: || {
            let mut b = base(11);
            let at = b.select_db(16);
            b.string_key(b"k", b"v");
            (b.finish(), at)
        },
    },
    Case {
        name: "resizedb-mismatch",
        what: "RESIZEDB announces 3 keys, 1 follows",
        code: "resizedb-mismatch",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            let at = b.resize_db(3, 0);
            b.string_key(b"k", b"v");
            (b.finish(), at)
        },
    },
    Case {
        name: "slot-info-count",
        what: "RDB 12 SLOT_INFO for the slot of `foo` says 2 keys, 1 follows",
        code: "slot-info-count",
        also: &[],
        build: || {
            let mut b = base(12);
            b.select_db(0);
            let at = b.pos();
            b.byte(0xF4).len(12182).len(2).len(0);
            b.string_key(b"foo", b"bar");
            (b.finish(), at)
        },
    },
    Case {
        name: "slot-info-key-slot",
        what: "a key of another slot (`bar`, 5061) follows SLOT_INFO 12182",
        code: "slot-info-key-slot",
        also: &[],
        build: || {
            let mut b = base(12);
            b.select_db(0);
            b.byte(0xF4).len(12182).len(2).len(0);
            b.string_key(b"foo", b"1");
            let at = b.string_key(b"bar", b"2");
            (b.finish(), at)
        },
    },
    Case {
        name: "slot-info-format",
        what: "Valkey `slot-info` AUX field that is not `slot,keys,expires`",
        code: "slot-info-format",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.string_key(b"foo", b"bar");
            let at = b.aux(b"slot-info", b"nonsense");
            (b.finish(), at)
        },
    },
    Case {
        name: "duplicate-key",
        what: "key `k` twice in db 0",
        code: "duplicate-key",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.string_key(b"k", b"1");
            let at = b.string_key(b"k", b"2");
            (b.finish(), at)
        },
    },
    Case {
        name: "orphan-key-attributes",
        what: "an expire opcode followed by SELECTDB instead of a key",
        code: "orphan-key-attributes",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.string_key(b"a", b"1");
            let at = b.pos();
            b.byte(0xFC).i64le(4_102_444_800_000);
            b.select_db(1);
            b.string_key(b"b", b"2");
            (b.finish(), at)
        },
    },
    Case {
        name: "already-expired",
        what: "a key whose expiry (1970) is in the past",
        code: "already-expired",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.byte(0xFC).i64le(1_000);
            let at = b.string_key(b"old", b"1");
            (b.finish(), at)
        },
    },
    Case {
        name: "empty-value",
        what: "a hashtable hash with 0 fields",
        code: "empty-value",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            let at = b.key(4, b"h");
            b.len(0);
            (b.finish(), at)
        },
    },
    Case {
        name: "duplicate-member",
        what: "a hashtable set holding `x` twice",
        code: "duplicate-member",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.key(2, b"s");
            b.len(3).str(b"x").str(b"y");
            let at = b.pos();
            b.str(b"x");
            (b.finish(), at)
        },
    },
    Case {
        name: "zset-listpack-order",
        what: "zset listpack with (b, 2) before (a, 1)",
        code: "zset-order",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            let at = b.key(17, b"z");
            b.str(&listpack(&[
                Element::Str(b"b"),
                Element::Int(2),
                Element::Str(b"a"),
                Element::Int(1),
            ]));
            (b.finish(), at)
        },
    },
    Case {
        name: "intset-unsorted",
        what: "intset [3, 1] (must be strictly ascending)",
        code: "intset-order",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.key(11, b"s");
            let mut blob = Vec::new();
            blob.extend_from_slice(&2u32.to_le_bytes());
            blob.extend_from_slice(&2u32.to_le_bytes());
            blob.extend_from_slice(&3i16.to_le_bytes());
            blob.extend_from_slice(&1i16.to_le_bytes());
            b.len(blob.len() as u64);
            let blob_at = b.pos();
            b.bytes(&blob);
            (b.finish(), blob_at + 8 + 2) // the second element
        },
    },
    Case {
        name: "intset-width",
        what: "intset of 4-byte elements holding 5 (2 bytes would do): a warning",
        code: "intset-width",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            let at = b.key(11, b"s");
            let mut blob = Vec::new();
            blob.extend_from_slice(&4u32.to_le_bytes());
            blob.extend_from_slice(&1u32.to_le_bytes());
            blob.extend_from_slice(&5i32.to_le_bytes());
            b.str(&blob);
            (b.finish(), at)
        },
    },
    Case {
        name: "listpack-count",
        what: "hash listpack whose header says 3 entries, 4 follow",
        code: "listpack-count",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.key(16, b"h");
            let mut lp = listpack(&[
                Element::Str(b"f1"),
                Element::Str(b"v1"),
                Element::Str(b"f2"),
                Element::Str(b"v2"),
            ]);
            lp[4] = 3;
            b.len(lp.len() as u64);
            let blob_at = b.pos();
            b.bytes(&lp);
            (b.finish(), blob_at + lp.len() as u64 - 1) // found at the terminator
        },
    },
    Case {
        name: "ziplist-prevlen",
        what: "list ziplist whose second entry's prevlen is 7 instead of 3",
        code: "ziplist-prevlen",
        also: &[],
        build: || {
            let mut b = base(9);
            b.select_db(0);
            b.key(10, b"l");
            let zl = ziplist_ab(7);
            b.len(zl.len() as u64);
            let blob_at = b.pos();
            b.bytes(&zl);
            (b.finish(), blob_at + 13) // the second entry
        },
    },
    Case {
        name: "lzf-bad-backref",
        what: "LZF string value whose back-reference points before the start of the output",
        code: "lzf",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.key(0, b"k");
            // Literal "a" (1 byte out), then a 3-byte copy from 6 bytes back.
            let data = [0x00, b'a', 0x20, 0x05];
            b.byte(0xC3).len(data.len() as u64).len(4);
            let at = b.pos();
            b.bytes(&data);
            (b.finish(), at + 2) // the back-reference token
        },
    },
    Case {
        name: "zset-nan",
        what: "type-5 zset whose binary double score is NaN",
        code: "zset-nan",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            b.key(5, b"z");
            b.len(1).str(b"m");
            let at = b.pos();
            b.bytes(&f64::NAN.to_le_bytes());
            (b.finish(), at)
        },
    },
    Case {
        name: "encoding-threshold",
        what: "set listpack of 200 members (`set-max-listpack-entries` is 128): a warning",
        code: "encoding-threshold",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            let at = b.key(20, b"s");
            let names: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
            let els: Vec<Element<'_>> = names.iter().map(|n| Element::Str(n.as_bytes())).collect();
            b.str(&listpack(&els));
            (b.finish(), at)
        },
    },
    Case {
        name: "aux-repl-id",
        what: "`repl-id` AUX field of 5 characters (servers use 40): a warning",
        code: "aux-repl-id",
        also: &[],
        build: || {
            let mut b = base(11);
            let at = b.aux(b"repl-id", b"abcde");
            b.select_db(0);
            b.string_key(b"k", b"v");
            (b.finish(), at)
        },
    },
    Case {
        name: "hash-ttl-order",
        what: "type-25 listpack hash with a TTL=0 field before a TTL>0 field",
        code: "hash-ttl-order",
        also: &[],
        build: || {
            let mut b = base(12);
            b.select_db(0);
            let at = b.key(25, b"h");
            b.i64le(100);
            b.str(&listpack(&[
                Element::Str(b"a"),
                Element::Str(b"1"),
                Element::Int(0),
                Element::Str(b"b"),
                Element::Str(b"2"),
                Element::Int(200),
            ]));
            (b.finish(), at)
        },
    },
    Case {
        name: "hash-min-expire",
        what: "type-24 hash whose min_expire (500) is not its smallest field TTL (1000): a warning",
        code: "hash-min-expire",
        also: &[],
        build: || {
            let mut b = base(12);
            b.select_db(0);
            let at = b.key(24, b"h");
            b.i64le(500).len(1).len(501).str(b"f").str(b"v");
            (b.finish(), at)
        },
    },
    Case {
        name: "hash-no-field-ttl",
        what: "Valkey HASH_2 without any field TTL: a warning",
        code: "hash-no-field-ttl",
        also: &[],
        build: || {
            let mut b = Rdb::valkey(80);
            b.select_db(0);
            let at = b.key(22, b"h");
            b.len(1).str(b"f").str(b"v").i64le(-1);
            (b.finish(), at)
        },
    },
    Case {
        name: "stream-consumer-pel-not-in-group",
        what: "a consumer's PEL holds 1-2, which is not in its group's PEL",
        code: "stream-consumer-pel-not-in-group",
        also: &["stream-pel-without-consumer"],
        build: || {
            let (f, at, _) = stream_file(Some((1, 2)));
            (f, at)
        },
    },
    Case {
        name: "stream-pel-without-consumer",
        what: "a group PEL entry (1-1) that no consumer owns",
        code: "stream-pel-without-consumer",
        also: &[],
        build: || {
            let (f, at, _) = stream_file(None);
            (f, at)
        },
    },
    Case {
        name: "function-shebang",
        what: "FUNCTION2 library without `name=` in its shebang",
        code: "function-shebang",
        also: &[],
        build: || {
            let mut b = base(10);
            let at = b.pos();
            b.byte(0xF5).str(b"#!lua\nreturn 1");
            b.select_db(0);
            b.string_key(b"k", b"v");
            (b.finish(), at)
        },
    },
    Case {
        name: "module-required",
        what: "a ReJSON-RL module value: loads only with that module: a warning",
        code: "module-required",
        also: &[],
        build: || {
            let mut b = base(11);
            b.select_db(0);
            let id = rdb_model::json::module_id_from_name("ReJSON-RL", 3).unwrap();
            let at = b.key(7, b"m");
            b.len(id).len(2).len(42).len(0); // UINT 42, EOF
            (b.finish(), at)
        },
    },
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/malformed")
}

fn expect_json(code: &str, offset: u64) -> String {
    let mut s = serde_json::to_string_pretty(&json!({"code": code, "offset": offset})).unwrap();
    s.push('\n');
    s
}

fn readme() -> String {
    let mut s = String::from(
        "# Malformed RDB files\n\n\
         One hand-made file per verifier check, built byte by byte (never with the writer) by\n\
         `crates/rdb-verify/tests/malformed_files.rs`. Each `NAME.rdb` has `NAME.expect.json`:\n\
         the finding `code` `rdb-verify` must report and the byte `offset` it must name.\n\n\
         Regenerate (after changing the cases) with\n\
         `RDB_BLESS=1 cargo test -p rdb-verify --test malformed_files`; without it the test fails\n\
         when a committed file differs from the generator. This README is generated too.\n\n\
         | file | defect | code | offset |\n|---|---|---|---:|\n",
    );
    for c in CASES {
        let (_, off) = (c.build)();
        s.push_str(&format!(
            "| `{}.rdb` | {} | `{}` | {} |\n",
            c.name, c.what, c.code, off
        ));
    }
    s
}

/// Every file the generator owns: name -> bytes.
fn generated() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for c in CASES {
        let (bytes, off) = (c.build)();
        assert!(
            out.insert(format!("{}.rdb", c.name), bytes).is_none(),
            "duplicate case {}",
            c.name
        );
        out.insert(
            format!("{}.expect.json", c.name),
            expect_json(c.code, off).into_bytes(),
        );
    }
    out.insert("README.md".into(), readme().into_bytes());
    out
}

#[test]
fn committed_files_match_the_generator() {
    let d = dir();
    let want = generated();
    let bless = std::env::var("RDB_BLESS").is_ok_and(|v| v == "1");
    if bless {
        std::fs::create_dir_all(&d).unwrap();
    }
    let mut problems = Vec::new();
    for (name, bytes) in &want {
        let p = d.join(name);
        match std::fs::read(&p) {
            Ok(have) if &have == bytes => {}
            _ if bless => std::fs::write(&p, bytes).unwrap(),
            Ok(_) => problems.push(format!("{name}: differs from the generator")),
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    for e in std::fs::read_dir(&d).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !want.contains_key(&name) {
            if bless {
                std::fs::remove_file(d.join(&name)).unwrap();
            } else {
                problems.push(format!("{name}: not produced by the generator (stale)"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "testdata/malformed is out of date (run with RDB_BLESS=1 to rewrite it):\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_file_produces_its_finding() {
    let d = dir();
    let opts = Options::default();
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in CASES {
        let path = d.join(format!("{}.rdb", c.name));
        let exp: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(format!("{}.expect.json", c.name))).unwrap(),
        )
        .unwrap();
        let code = exp["code"].as_str().unwrap();
        let offset = exp["offset"].as_u64().unwrap();
        let r = verify_file(&path, &opts);
        checked += 1;
        if !r
            .findings
            .iter()
            .any(|f| f.code == code && f.offset == Some(offset))
        {
            failures.push(format!(
                "{}: want {code} at {offset}, got {:?}",
                c.name,
                r.findings
                    .iter()
                    .map(|f| (f.code, f.offset))
                    .collect::<Vec<_>>()
            ));
            continue;
        }
        let others: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info && f.code != code && !c.also.contains(&f.code))
            .map(|f| (f.code, f.offset, f.message.clone()))
            .collect();
        if !others.is_empty() {
            failures.push(format!("{}: unexpected findings {others:?}", c.name));
        }
        // Errors make the file fail; warnings do not.
        let severity = r.findings.iter().find(|f| f.code == code).unwrap().severity;
        if r.ok != (severity != Severity::Error) {
            failures.push(format!("{}: ok = {} with a {severity:?}", c.name, r.ok));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, CASES.len());
    assert!(CASES.len() >= 25);
}
