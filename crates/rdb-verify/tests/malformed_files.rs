//! The committed malformed files of `testdata/malformed/`: one hand-made file per check, each
//! with `NAME.expect.json` = `{"code": ..., "offset": N}` and a generated `README.md`.
//!
//! * `committed_files_match_the_generator`: rebuilds every file with the byte builder of
//!   `rdb-testkit` (never the writer) and fails when a committed file differs, is missing or
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
use common::{
    hash_listpack_ex_ttl_out_of_order, intset, listpack, rejson_id, rejson_uint_42, stream_file,
    stream_node, stream_node_1_1, zset_listpack_b2_a1, Rdb,
};

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
    /// How the file is made.
    make: Make,
}

/// How a case's file is made; every variant gives the file and the expected offset.
enum Make {
    /// [`Rdb::base`] of this version, then the records (which return the expected offset),
    /// EOF and the CRC-64 trailer.
    Base(u16, fn(&mut Rdb) -> u64),
    /// The same after `SELECTDB 0` ([`Rdb::db0`]).
    Db0(u16, fn(&mut Rdb) -> u64),
    /// Any other file.
    File(fn() -> (Vec<u8>, u64)),
}

impl Case {
    /// A case named after the code it expects.
    const fn new(code: &'static str, what: &'static str, make: Make) -> Self {
        Case::named(code, code, what, make)
    }

    /// A case whose file is not named after its code.
    const fn named(name: &'static str, code: &'static str, what: &'static str, make: Make) -> Self {
        Case {
            name,
            what,
            code,
            also: &[],
            make,
        }
    }

    /// The file and the expected offset.
    fn build(&self) -> (Vec<u8>, u64) {
        let (mut b, records) = match self.make {
            Make::Base(version, records) => (Rdb::base(version), records),
            Make::Db0(version, records) => (Rdb::db0(version), records),
            Make::File(file) => return file(),
        };
        let at = records(&mut b);
        (b.finish(), at)
    }
}

/// A clean RDB 11 file with the string key `k` = `v` in db 0 (the trailer cases edit it).
fn one_key_file() -> Vec<u8> {
    let mut b = Rdb::db0(11);
    b.string_key(b"k", b"v");
    b.finish()
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

const CASES: &[Case] = &[
    Case::named(
        "bad-magic",
        "signature",
        "the file starts with `REDIX` instead of `REDIS`",
        Make::File(|| {
            let mut f = Rdb::base(11).finish();
            f[4] = b'X';
            (f, 0)
        }),
    ),
    Case::named(
        "checksum-mismatch",
        "crc-mismatch",
        "one bit of the stored CRC-64 trailer flipped",
        Make::File(|| {
            let mut f = one_key_file();
            let n = f.len();
            f[n - 1] ^= 0x01;
            (f, n as u64 - 8) // the trailer (after EOF at n - 9)
        }),
    ),
    Case::new(
        "checksum-disabled",
        "stored CRC-64 is 0 (saved with `rdbchecksum no`): a warning",
        Make::File(|| {
            let mut f = one_key_file();
            let n = f.len();
            f[n - 8..].fill(0);
            (f, n as u64 - 8)
        }),
    ),
    Case::new(
        "trailing-bytes",
        "three bytes after the CRC-64 trailer",
        Make::File(|| {
            let mut f = one_key_file();
            let end = f.len() as u64;
            f.extend_from_slice(b"xyz");
            (f, end)
        }),
    ),
    Case::new(
        "truncated",
        "the file ends inside a string value (no EOF, no trailer)",
        Make::File(|| {
            let mut b = Rdb::db0(11);
            b.string_key(b"k", b"v");
            b.key(0, b"cut");
            let len_at = b.pos();
            b.len(10).bytes(b"abc"); // declares 10 bytes, has 3
            (b.buf, len_at + 1) // the string's bytes start after its 1-byte length
        }),
    ),
    Case::named(
        "unknown-type",
        "unsupported-type",
        "a key record of type 30 in an RDB 11 file",
        Make::Db0(11, |b| {
            let at = b.key(30, b"k");
            b.str(b"v");
            at
        }),
    ),
    Case::named(
        "selectdb-16",
        "selectdb-range",
        "SELECTDB 16 (the default server has databases 0-15)",
        Make::Base(11, |b| {
            let at = b.select_db(16);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::named(
        "idle-len-err-marker",
        "len-err-marker",
        "an IDLE value of 2^64-1, the servers' RDB_LENERR (they stop with \"Unexpected EOF\")",
        Make::Db0(11, |b| {
            let at = b.pos();
            b.byte(0xF8).len(u64::MAX);
            b.string_key(b"k", b"v");
            at + 1 // the length after the opcode
        }),
    ),
    Case::new(
        "resizedb-mismatch",
        "RESIZEDB announces 3 keys, 1 follows",
        Make::Db0(11, |b| {
            let at = b.resize_db(3, 0);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::new(
        "sizing-count-oversized",
        "RDB 9 RESIZEDB announces 2^40 keys, 1 follows (Valkey 8.1 and Redis 6.2 abort loading it)",
        Make::Db0(9, |b| {
            let at = b.resize_db(1 << 40, 0);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::named(
        "sizing-count-oversized-slot",
        "sizing-count-oversized",
        "RDB 12 SLOT_INFO for the slot of `foo` says 2^40 keys, 1 follows",
        Make::Db0(12, |b| {
            let at = b.pos();
            b.byte(0xF4).len(12182).len(1 << 40).len(0);
            b.string_key(b"foo", b"bar");
            at
        }),
    ),
    Case::new(
        "slot-info-count",
        "RDB 12 SLOT_INFO for the slot of `foo` says 2 keys, 1 follows",
        Make::Db0(12, |b| {
            let at = b.pos();
            b.byte(0xF4).len(12182).len(2).len(0);
            b.string_key(b"foo", b"bar");
            at
        }),
    ),
    Case::new(
        "slot-info-key-slot",
        "a key of another slot (`bar`, 5061) follows SLOT_INFO 12182",
        Make::Db0(12, |b| {
            b.byte(0xF4).len(12182).len(2).len(0);
            b.string_key(b"foo", b"1");
            b.string_key(b"bar", b"2")
        }),
    ),
    Case::new(
        "slot-info-format",
        "Valkey `slot-info` AUX field that is not `slot,keys,expires`",
        Make::Db0(11, |b| {
            b.string_key(b"foo", b"bar");
            b.aux(b"slot-info", b"nonsense")
        }),
    ),
    Case::new(
        "duplicate-key",
        "key `k` twice in db 0",
        Make::Db0(11, |b| {
            b.string_key(b"k", b"1");
            b.string_key(b"k", b"2")
        }),
    ),
    Case::new(
        "orphan-key-attributes",
        "an expire opcode followed by SELECTDB instead of a key",
        Make::Db0(11, |b| {
            b.string_key(b"a", b"1");
            let at = b.pos();
            b.byte(0xFC).i64le(4_102_444_800_000);
            b.select_db(1);
            b.string_key(b"b", b"2");
            at
        }),
    ),
    Case::new(
        "already-expired",
        "a key whose expiry (1970) is in the past",
        Make::Db0(11, |b| {
            b.byte(0xFC).i64le(1_000);
            b.string_key(b"old", b"1")
        }),
    ),
    Case::new(
        "expire-minus-one",
        "a key whose expiry is -1 ms, which servers load as no expiry (the key stays): a warning",
        Make::Db0(9, |b| {
            b.byte(0xFC).i64le(-1);
            b.string_key(b"kept", b"1")
        }),
    ),
    Case::new(
        "empty-value",
        "a hashtable hash with 0 fields",
        Make::Db0(11, |b| {
            let at = b.key(4, b"h");
            b.len(0);
            at
        }),
    ),
    Case::new(
        "duplicate-member",
        "a hashtable set holding `x` twice",
        Make::Db0(11, |b| {
            b.key(2, b"s");
            b.len(3).str(b"x").str(b"y");
            let at = b.pos();
            b.str(b"x");
            at
        }),
    ),
    Case::named(
        "zset-listpack-order",
        "zset-order",
        "zset listpack with (b, 2) before (a, 1)",
        Make::Db0(11, |b| zset_listpack_b2_a1(b, b"z")),
    ),
    Case::named(
        "intset-unsorted",
        "intset-order",
        "intset [3, 1] (must be strictly ascending)",
        Make::Db0(11, |b| {
            b.key(11, b"s");
            b.blob(&intset(2, &[3, 1])) + 8 + 2 // the second element
        }),
    ),
    Case::new(
        "intset-width",
        "intset of 4-byte elements holding 5 (2 bytes would do): a warning",
        Make::Db0(11, |b| {
            let at = b.key(11, b"s");
            b.str(&intset(4, &[5]));
            at
        }),
    ),
    Case::new(
        "listpack-count",
        "hash listpack whose header says 3 entries, 4 follow",
        Make::Db0(11, |b| {
            b.key(16, b"h");
            let mut lp = listpack(&[
                Element::Str(b"f1"),
                Element::Str(b"v1"),
                Element::Str(b"f2"),
                Element::Str(b"v2"),
            ]);
            lp[4] = 3;
            b.blob(&lp) + lp.len() as u64 - 1 // found at the terminator
        }),
    ),
    Case::new(
        "ziplist-prevlen",
        "list ziplist whose second entry's prevlen is 7 instead of 3",
        Make::Db0(9, |b| {
            b.key(10, b"l");
            b.blob(&ziplist_ab(7)) + 13 // the second entry
        }),
    ),
    Case::named(
        "lzf-bad-backref",
        "lzf",
        "LZF string value whose back-reference points before the start of the output",
        Make::Db0(11, |b| {
            b.key(0, b"k");
            // Literal "a" (1 byte out), then a 3-byte copy from 6 bytes back.
            let data = [0x00, b'a', 0x20, 0x05];
            b.byte(0xC3).len(data.len() as u64).len(4);
            let at = b.pos();
            b.bytes(&data);
            at + 2 // the back-reference token
        }),
    ),
    Case::new(
        "quicklist-empty-node",
        "quicklist (type 18) whose PLAIN node holds LZF of no bytes (C3 00 00): empty data however it is stored",
        Make::Db0(10, |b| {
            b.key(18, b"l");
            b.len(1);
            let at = b.pos();
            b.len(1).bytes(&[0xC3, 0x00, 0x00]);
            at // the node's container
        }),
    ),
    Case::new(
        "zset-nan",
        "type-5 zset whose binary double score is NaN",
        Make::Db0(11, |b| {
            b.key(5, b"z");
            b.len(1).str(b"m");
            let at = b.pos();
            b.bytes(&f64::NAN.to_le_bytes());
            at
        }),
    ),
    Case::new(
        "encoding-threshold",
        "set listpack of 200 members (`set-max-listpack-entries` is 128): a warning",
        Make::Db0(11, |b| {
            let at = b.key(20, b"s");
            let names: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
            let els: Vec<Element<'_>> = names.iter().map(|n| Element::Str(n.as_bytes())).collect();
            b.str(&listpack(&els));
            at
        }),
    ),
    Case::new(
        "aux-repl-id",
        "`repl-id` AUX field of 5 characters (servers use 40): a warning",
        Make::Base(11, |b| {
            let at = b.aux(b"repl-id", b"abcde");
            b.select_db(0);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::new(
        "hash-ttl-order",
        "type-25 listpack hash with a TTL=0 field before a TTL>0 field",
        Make::Db0(12, hash_listpack_ex_ttl_out_of_order),
    ),
    Case::new(
        "hash-min-expire",
        "type-24 hash whose min_expire (500) is not its smallest field TTL (1000): a warning",
        Make::Db0(12, |b| {
            let at = b.key(24, b"h");
            b.i64le(500).len(1).len(501).str(b"f").str(b"v");
            at
        }),
    ),
    Case::new(
        "hash-no-field-ttl",
        "Valkey HASH_2 without any field TTL: a warning",
        Make::File(|| {
            let mut b = Rdb::valkey(80);
            b.select_db(0);
            let at = b.key(22, b"h");
            b.len(1).str(b"f").str(b"v").i64le(-1);
            (b.finish(), at)
        }),
    ),
    Case {
        also: &["stream-pel-without-consumer"],
        ..Case::new(
            "stream-consumer-pel-not-in-group",
            "a consumer's PEL holds 1-2, which is not in its group's PEL",
            Make::File(|| {
                let (f, at, _) = stream_file(Some((1, 2)));
                (f, at)
            }),
        )
    },
    Case::new(
        "stream-pel-without-consumer",
        "a group PEL entry (1-1) that no consumer owns",
        Make::File(|| {
            let (f, at, _) = stream_file(None);
            (f, at)
        }),
    ),
    Case::new(
        "stream-listpack-count",
        "stream node listpack whose header says 9 elements, 10 follow (servers load it): a warning",
        // RDB 10 and type 19 (no groups, so the same bytes as type 21): Redis 7.0 and Valkey
        // 8.1 both load it (`engine_servers.rs`).
        Make::Db0(10, |b| {
            b.key(19, b"st");
            b.len(1);
            b.len(16).id(1, 1);
            let mut lp = stream_node_1_1();
            lp[4] = 9;
            // The count field: after the string's one-byte length and `total_bytes`.
            let at = b.pos() + 1 + 4;
            b.str(&lp);
            b.len(1).len(1).len(1); // length 1, last id 1-1
            b.len(1).len(1).len(0).len(0).len(1); // first id 1-1, max deleted 0-0, added 1
            b.len(0); // no groups
            at
        }),
    ),
    Case {
        also: &["stream-first-delta"],
        ..Case::new(
            "stream-id-order",
            "stream node whose second entry 1-2 comes after 2-1 (servers load it; `rdbkit \
             export` copies it only to lines that load its type): a warning",
            // RDB 10 and type 19: Redis 7.0 and Valkey 8.1 load it (`engine_servers.rs`).
            // 2-1 (deltas 1, 0 from master 1-1), then 1-2 (deltas 0, 1): out of order.
            Make::Db0(10, |b| two_entry_stream(b, [(1, 0), (0, 1)], (2, 1))),
        )
    },
    Case::named(
        "stream-id-order-equal",
        "stream-id-order",
        "stream node whose two entries are both 1-1 (an ID must grow; servers load it): a warning",
        Make::Db0(10, |b| two_entry_stream(b, [(0, 0), (0, 0)], (1, 1))),
    ),
    Case::new(
        "stream-pel-duplicate",
        "a group PEL listing 1-1 twice (\"Duplicated global PEL entry loading stream consumer group\")",
        Make::File(|| {
            let (mut b, _) = stream_with_group(2);
            b.id(1, 1).i64le(1_700_000_000_000).len(1);
            let at = b.pos();
            b.id(1, 1).i64le(1_700_000_000_000).len(1);
            b.len(1); // consumer c owning 1-1
            b.str(b"c").i64le(1_700_000_000_000).i64le(1_700_000_000_000);
            b.len(1).id(1, 1);
            (b.finish(), at)
        }),
    ),
    Case::new(
        "stream-pel-owner-duplicate",
        "PEL entry 1-1 owned by two consumers, c1 and c2 (\"Duplicated consumer PEL entry\")",
        Make::File(|| {
            let (mut b, _) = stream_with_group(1);
            b.id(1, 1).i64le(1_700_000_000_000).len(1);
            b.len(2);
            b.str(b"c1").i64le(1_700_000_000_000).i64le(1_700_000_000_000);
            b.len(1).id(1, 1);
            b.str(b"c2").i64le(1_700_000_000_000).i64le(1_700_000_000_000);
            b.len(1);
            let at = b.pos();
            b.id(1, 1);
            (b.finish(), at)
        }),
    ),
    Case::new(
        "stream-group-duplicate",
        "two consumer groups named g (\"Duplicated consumer group name\")",
        Make::File(|| {
            let mut b = stream_with_groups(2);
            b.str(b"g").len(1).len(1).len(1).len(0).len(0);
            let at = b.pos();
            b.str(b"g").len(1).len(1).len(1).len(0).len(0);
            (b.finish(), at)
        }),
    ),
    Case::new(
        "stream-consumer-duplicate",
        "two consumers named c in group g (\"Duplicated consumer name\")",
        Make::File(|| {
            let (mut b, _) = stream_with_group(0);
            b.len(2);
            b.str(b"c").i64le(1_700_000_000_000).i64le(1_700_000_000_000).len(0);
            let at = b.pos();
            b.str(b"c").i64le(1_700_000_000_000).i64le(1_700_000_000_000).len(0);
            (b.finish(), at)
        }),
    ),
    Case::new(
        "stream-pel-delivery-count",
        "a PEL entry delivered 0 times (`XCLAIM` and `XREADGROUP` count at least 1): a warning",
        Make::File(|| {
            let (mut b, _) = stream_with_group(1);
            let at = b.pos();
            b.id(1, 1).i64le(1_700_000_000_000).len(0);
            b.len(1);
            b.str(b"c").i64le(1_700_000_000_000).i64le(1_700_000_000_000);
            b.len(1).id(1, 1);
            (b.finish(), at)
        }),
    ),
    Case::new(
        "slot-info-order",
        "RDB 12 SLOT_INFO records for slot 12182 (`foo`), then slot 5061 (`bar`): a warning",
        Make::Db0(12, |b| {
            b.byte(0xF4).len(12182).len(1).len(0);
            b.string_key(b"foo", b"1");
            let at = b.pos();
            b.byte(0xF4).len(5061).len(1).len(0);
            b.string_key(b"bar", b"2");
            at
        }),
    ),
    Case::new(
        "function-duplicate",
        "two FUNCTION2 records of library `lib` (\"Library already exists\")",
        Make::Base(10, |b| {
            let code: &[u8] = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";
            b.byte(0xF5).str(code);
            let at = b.pos();
            b.byte(0xF5).str(code);
            b.select_db(0);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::named(
        "encoding-threshold-hash-value",
        "encoding-threshold",
        "hash listpack whose value is 65 bytes (`hash-max-listpack-value` is 64): a warning",
        Make::Db0(11, |b| {
            let at = b.key(16, b"h");
            let value = [b'v'; 65];
            b.str(&listpack(&[Element::Str(b"f"), Element::Str(&value)]));
            at
        }),
    ),
    Case::named(
        "slot-info-count-expires",
        "slot-info-count",
        "RDB 12 SLOT_INFO for the slot of `foo` says 1 key and 1 expire, the key has no expiry",
        Make::Db0(12, |b| {
            let at = b.pos();
            b.byte(0xF4).len(12182).len(1).len(1);
            b.string_key(b"foo", b"bar");
            at
        }),
    ),
    Case::new(
        "function-engine",
        "FUNCTION2 library for engine `js`, not Lua: no server here has such an engine (Redis, Valkey 7.2 and 8.0 can have none; Valkey 8.1+ only from a module): a warning",
        Make::Base(10, |b| {
            let at = b.pos();
            b.byte(0xF5).str(b"#!js name=lib\nreturn 1");
            b.select_db(0);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::new(
        "function-shebang",
        "FUNCTION2 library without `name=` in its shebang",
        Make::Base(10, |b| {
            let at = b.pos();
            b.byte(0xF5).str(b"#!lua\nreturn 1");
            b.select_db(0);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::new(
        "module-required",
        "a ReJSON-RL module value: loads only with that module: a warning",
        Make::Db0(11, |b| rejson_uint_42(b, b"m")),
    ),
    Case {
        also: &["stream-id-order"],
        ..Case::new(
            "stream-node-duplicate",
            "two stream nodes with the same master ID 1-1 (\"Listpack re-added with existing key\")",
            Make::Db0(10, |b| {
                let nodes = [one_entry_node(), one_entry_node()];
                let meta = Meta {
                    length: 2,
                    added: 2,
                    ..ONE
                };
                stream_v2(b, &nodes, meta, 0).nodes[1]
            }),
        )
    },
    Case::new(
        "stream-node-count",
        "stream node whose master entry counts 2 live entries and 0 deleted, of its 2 entries \
         1-2 is flagged deleted: a warning",
        Make::Db0(10, |b| {
            let lp = node(2, 0, &[(SAME, 0, 0), (SAME | DELETED, 0, 1)]);
            let meta = Meta {
                last: (1, 2),
                max_deleted: (1, 2),
                added: 2,
                ..ONE
            };
            stream_v2(b, &[((1, 1), lp)], meta, 0).nodes[0]
        }),
    ),
    Case::new(
        "stream-node-empty",
        "stream node whose one entry is flagged deleted (servers drop a node when its last entry \
         goes): a warning",
        Make::Db0(10, |b| {
            let nodes = [((1, 1), node(0, 1, &[(SAME | DELETED, 0, 0)]))];
            let meta = Meta {
                length: 0,
                first: (0, 0),
                max_deleted: (1, 1),
                ..ONE
            };
            stream_v2(b, &nodes, meta, 0).nodes[0]
        }),
    ),
    Case::new(
        "stream-entry-no-fields",
        "stream entry 1-1 without any field (`XADD` needs one): a warning",
        Make::Db0(10, |b| {
            let lp = listpack(&[
                Element::Int(1), // live
                Element::Int(0), // deleted
                Element::Int(0), // no master field
                Element::Int(0), // master terminator
                Element::Int(SAME),
                Element::Int(0),
                Element::Int(0),
                Element::Int(3), // lp-count: flags, ms, seq
            ]);
            stream_v2(b, &[((1, 1), lp)], ONE, 0).nodes[0]
        }),
    ),
    Case::new(
        "stream-length",
        "stream whose length says 2, its node holds 1 live entry: a warning",
        Make::Db0(10, |b| {
            let meta = Meta {
                length: 2,
                added: 2,
                ..ONE
            };
            stream_v2(b, &[one_entry_node()], meta, 0).meta
        }),
    ),
    Case {
        also: &["stream-length"],
        ..Case::new(
            "stream-length-without-nodes",
            "stream of length 1 without any node",
            Make::Db0(10, |b| {
                let meta = Meta {
                    first: (0, 0),
                    ..ONE
                };
                stream_v2(b, &[], meta, 0).meta
            }),
        )
    },
    Case::new(
        "stream-last-id",
        "stream whose entry 2-1 is above its last ID 1-1: a warning",
        Make::Db0(10, |b| {
            let meta = Meta {
                first: (2, 1),
                ..ONE
            };
            stream_v2(b, &[((2, 1), node(1, 0, &[(SAME, 0, 0)]))], meta, 0).meta
        }),
    ),
    Case::new(
        "stream-first-id",
        "stream whose first ID says 0-5, its first live entry is 1-1: a warning",
        Make::Db0(10, |b| {
            let meta = Meta {
                first: (0, 5),
                ..ONE
            };
            stream_v2(b, &[one_entry_node()], meta, 0).meta
        }),
    ),
    Case::new(
        "stream-max-deleted",
        "stream whose deleted entry 1-2 (after the live 1-1) is above its max deleted ID 0-0: a \
         warning",
        Make::Db0(10, |b| {
            let lp = node(1, 1, &[(SAME, 0, 0), (SAME | DELETED, 0, 1)]);
            let meta = Meta {
                last: (1, 2),
                added: 2,
                ..ONE
            };
            stream_v2(b, &[((1, 1), lp)], meta, 0).meta
        }),
    ),
    Case::new(
        "stream-entries-added",
        "stream of length 1 whose entries-added says 0: a warning",
        Make::Db0(10, |b| {
            let meta = Meta { added: 0, ..ONE };
            stream_v2(b, &[one_entry_node()], meta, 0).meta
        }),
    ),
    Case::new(
        "stream-group-last-delivered",
        "group g whose last delivered ID 2-0 is above the stream's last ID 1-1: a warning",
        Make::Db0(10, |b| {
            stream_v2(b, &[one_entry_node()], ONE, 1);
            let at = b.pos();
            b.str(b"g").len(2).len(0).len(1); // last delivered 2-0, entries read 1
            b.len(0).len(0); // no PEL, no consumer
            at
        }),
    ),
    Case::new(
        "stream-entries-read",
        "group g whose entries-read says 5, the stream's entries-added 1: a warning",
        Make::Db0(10, |b| {
            stream_v2(b, &[one_entry_node()], ONE, 1);
            let at = b.pos();
            b.str(b"g").len(1).len(1).len(5); // last delivered 1-1, entries read 5
            b.len(0).len(0);
            at
        }),
    ),
    Case::new(
        "stream-pel-after-last-delivered",
        "group g (last delivered 1-0) whose PEL holds 1-1: a warning",
        Make::Db0(10, |b| {
            stream_v2(b, &[one_entry_node()], ONE, 1);
            b.str(b"g").len(1).len(0).len(0); // last delivered 1-0, entries read 0
            b.len(1);
            let at = b.pos();
            b.id(1, 1).i64le(1_700_000_000_000).len(1);
            b.len(1); // consumer c owning 1-1
            b.str(b"c").i64le(1_700_000_000_000); // seen (no active time before v3)
            b.len(1).id(1, 1);
            at
        }),
    ),
    Case::new(
        "stream-consumer-time",
        "consumer c whose seen time is -5 (times are -1 or a Unix time in ms): a warning",
        Make::Db0(10, |b| {
            stream_v2(b, &[one_entry_node()], ONE, 1);
            b.str(b"g").len(1).len(1).len(1).len(0); // no PEL
            b.len(1);
            let at = b.pos();
            b.str(b"c").i64le(-5).len(0); // seen -5 (no active time before v3), no PEL
            at
        }),
    ),
    Case::new(
        "slot-info-range",
        "RDB 12 SLOT_INFO for slot 16384 (slots are 0-16383): a warning",
        Make::Db0(12, |b| {
            let at = b.pos();
            b.byte(0xF4).len(16384).len(0).len(0);
            at
        }),
    ),
    Case {
        also: &["module-required"],
        ..Case::new(
            "module-aux-order",
            "a MODULE_AUX record saved before keys (when = 1) found after a key: a warning",
            Make::Db0(11, |b| {
                b.string_key(b"k", b"v");
                let at = b.pos();
                b.byte(0xF7).len(rejson_id()).len(2).len(1).len(0); // when-opcode UINT, when 1, EOF
                at
            }),
        )
    },
    Case::new(
        "aux-lua",
        "a `lua` AUX field (Redis 4.0-6.2 compile it on load): a warning",
        Make::Base(9, |b| {
            let at = b.aux(b"lua", b"return 1");
            b.select_db(0);
            b.string_key(b"k", b"v");
            at
        }),
    ),
    Case::new(
        "checksum-absent",
        "an RDB 4 file: no CRC-64 trailer before version 5 (information)",
        Make::File(|| {
            let mut b = Rdb::new(4);
            b.select_db(0);
            b.string_key(b"k", b"v");
            let at = b.pos();
            let mut f = b.buf;
            f.push(0xFF);
            (f, at)
        }),
    ),
];

/// Entry flags of a stream node listpack (`STREAM_ITEM_FLAG_*`).
const DELETED: i64 = 1;
const SAMEFIELDS: i64 = 2;
/// An entry with the master's fields.
const SAME: i64 = SAMEFIELDS;

/// A stream node listpack whose master entry counts `live` and `deleted` entries and has the
/// one field `f`; then `entries` as (flags, ms delta, seq delta), each with the value `v`.
fn node(live: i64, deleted: i64, entries: &[(i64, i64, i64)]) -> Vec<u8> {
    let mut elements = vec![
        Element::Int(live),
        Element::Int(deleted),
        Element::Int(1),
        Element::Str(b"f"),
        Element::Int(0),
    ];
    for &(flags, ms, seq) in entries {
        elements.extend([
            Element::Int(flags),
            Element::Int(ms),
            Element::Int(seq),
            Element::Str(b"v"),
            Element::Int(4),
        ]);
    }
    listpack(&elements)
}

/// Master 1-1 with the one live entry 1-1.
fn one_entry_node() -> ((u64, u64), Vec<u8>) {
    ((1, 1), node(1, 0, &[(SAME, 0, 0)]))
}

/// A stream's metadata after its nodes (stream v2/v3 layout).
#[derive(Clone, Copy)]
struct Meta {
    length: u64,
    last: (u64, u64),
    first: (u64, u64),
    max_deleted: (u64, u64),
    added: u64,
}

/// The metadata of a stream holding the one entry 1-1.
const ONE: Meta = Meta {
    length: 1,
    last: (1, 1),
    first: (1, 1),
    max_deleted: (0, 0),
    added: 1,
};

/// Where [`stream_v2`] put things.
struct StreamAt {
    /// Each node's offset (its master ID string).
    nodes: Vec<u64>,
    /// The metadata's offset (the length field).
    meta: u64,
}

/// Key "st": a type-19 stream (v2, RDB 10: Redis 7.0 loads it) of `nodes` (master ID,
/// listpack), then `meta` and the group count `groups` (the groups follow; consumers have a
/// seen time and no active time).
fn stream_v2(b: &mut Rdb, nodes: &[((u64, u64), Vec<u8>)], meta: Meta, groups: u64) -> StreamAt {
    b.key(19, b"st");
    b.len(nodes.len() as u64);
    let mut at = Vec::new();
    for ((ms, seq), lp) in nodes {
        at.push(b.pos());
        b.len(16).id(*ms, *seq);
        b.str(lp);
    }
    let m = b.pos();
    let id = |b: &mut Rdb, (ms, seq): (u64, u64)| {
        b.len(ms).len(seq);
    };
    b.len(meta.length);
    id(b, meta.last);
    id(b, meta.first);
    id(b, meta.max_deleted);
    b.len(meta.added);
    b.len(groups);
    StreamAt { nodes: at, meta: m }
}

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
        let (_, off) = c.build();
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
        let (bytes, off) = c.build();
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

/// Key "st": a type-19 stream of one node (master 1-1) holding two entries at `deltas` from
/// the master, stored with length 2, last id and first id `first_last`, max deleted 0-0,
/// entries added 2, no groups. Returns the node's offset.
fn two_entry_stream(b: &mut Rdb, deltas: [(i64, i64); 2], first_last: (u64, u64)) -> u64 {
    let (ms, seq) = first_last;
    b.key(19, b"st");
    b.len(1);
    let at = b.pos();
    b.len(16).id(1, 1);
    b.str(&stream_node(&deltas));
    b.len(2).len(ms).len(seq);
    b.len(ms).len(seq).len(0).len(0).len(2);
    b.len(0);
    at
}

/// A type-21 stream "st" in db 0 of an RDB 11 file (one node with entry 1-1, length 1, last
/// id 1-1, entries added 1) whose group count `groups` is written: the groups follow.
fn stream_with_groups(groups: u64) -> Rdb {
    let mut b = Rdb::db0(11);
    b.key(21, b"st");
    b.len(1);
    b.len(16).id(1, 1);
    b.str(&common::stream_node_1_1());
    b.len(1).len(1).len(1);
    b.len(1).len(1).len(0).len(0).len(1);
    b.len(groups);
    b
}

/// [`stream_with_groups`] with one group "g" (last delivered 1-1, entries read 1) whose PEL
/// length `pel` is written: the PEL entries and the consumers follow. Returns the builder and
/// the group's offset.
fn stream_with_group(pel: u64) -> (Rdb, u64) {
    let mut b = stream_with_groups(1);
    let group = b.pos();
    b.str(b"g").len(1).len(1).len(1);
    b.len(pel);
    (b, group)
}

fn malformed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/malformed")
        .join(name)
}

/// A checksum mismatch ignored with `check_checksum` off makes the file pass, but no server
/// loads it: `loads_on` is empty (it listed eleven lines).
#[test]
fn an_ignored_checksum_mismatch_loads_nowhere() {
    let path = malformed("checksum-mismatch.rdb");
    let strict = verify_file(&path, &Options::default());
    assert!(!strict.ok && strict.loads_on.is_empty());
    let r = verify_file(
        &path,
        &Options {
            check_checksum: false,
            ..Options::default()
        },
    );
    assert!(r.ok, "{:?}", r.findings);
    assert!(r.has_code("crc-mismatch"));
    assert!(r.loads_on.is_empty(), "{:?}", r.loads_on);
}

/// Findings come in file order even when made at the end (the engine check, expected slots):
/// the first error is the earliest record's.
#[test]
fn findings_are_in_file_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/servers/redis-7.4.1/dev/dump.rdb");
    let r = verify_file(
        &path,
        &Options {
            expected_slots: Some("0-100".parse().unwrap()),
            engine: Some(rdb_verify::EngineLine::Valkey8_0),
            ..Options::default()
        },
    );
    assert!(r.has_code("engine-incompatible") && r.has_code("slot-outside-expected"));
    let offsets: Vec<u64> = r.findings.iter().map_while(|f| f.offset).collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
    assert!(r.findings[offsets.len()..]
        .iter()
        .all(|f| f.offset.is_none()));
    assert_eq!(r.first_error().unwrap().offset, Some(0));
}

/// A set of more members than `Options::max_member_hashes` is checked for duplicates only
/// against the first ones and says so (`duplicate-check-limited`, information, at the key): a
/// repeat of a later member goes unseen, a repeat of one held is still an error.
#[test]
fn the_member_duplicate_check_says_where_it_stops() {
    let set = |members: &[&[u8]]| {
        let mut b = Rdb::db0(11);
        let at = b.key(20, b"s");
        let elements: Vec<Element<'_>> = members.iter().map(|m| Element::Str(m)).collect();
        b.str(&listpack(&elements));
        (b.finish(), at)
    };
    let capped = Options {
        max_member_hashes: 2,
        ..Options::default()
    };
    let (past_cap, at) = set(&[b"a", b"b", b"c", b"c"]);
    let r = rdb_verify::verify_bytes("f", &past_cap, &capped);
    assert!(r.ok, "{:?}", r.findings);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "duplicate-check-limited")
        .unwrap_or_else(|| panic!("{:?}", r.findings));
    assert_eq!((f.severity, f.offset), (Severity::Info, Some(at)));
    assert!(!r.has_code("duplicate-member"));
    // Uncapped, the same file's repeat is found and nothing is limited.
    let r = rdb_verify::verify_bytes("f", &past_cap, &Options::default());
    assert!(r.has_code("duplicate-member") && !r.has_code("duplicate-check-limited"));
    // A repeat of a member held is still found, after the cap as before it.
    let repeats: [[&[u8]; 4]; 2] = [[b"a", b"a", b"b", b"c"], [b"a", b"b", b"c", b"a"]];
    for members in &repeats {
        let (file, _) = set(members);
        let r = rdb_verify::verify_bytes("f", &file, &capped);
        assert!(!r.ok && r.has_code("duplicate-member"), "{:?}", r.findings);
        assert!(r.has_code("duplicate-check-limited"), "{:?}", r.findings);
    }
}

/// Every hand-made file gives the same findings, at the same offsets, read as a stream
/// (`verify_reader`: no mapping, nothing of the input kept) as mapped: no check needs the
/// whole input in memory. (Duplicate keys are the exception the docs name: without a second
/// pass a stream reports them without an offset.)
#[test]
fn every_file_gives_the_same_findings_read_as_a_stream() {
    let d = dir();
    let opts = Options::default();
    let mut failures = Vec::new();
    for c in CASES {
        let path = d.join(format!("{}.rdb", c.name));
        let mapped = verify_file(&path, &opts);
        let streamed = rdb_verify::verify_reader("f", std::fs::File::open(&path).unwrap(), &opts);
        let codes = |r: &rdb_verify::Report| {
            r.findings
                .iter()
                .map(|f| {
                    let offset = if f.code == "duplicate-key" {
                        None
                    } else {
                        f.offset
                    };
                    (f.code, offset, f.severity)
                })
                .collect::<Vec<_>>()
        };
        if codes(&mapped) != codes(&streamed) || mapped.ok != streamed.ok {
            failures.push(format!(
                "{}: mapped {:?}, streamed {:?}",
                c.name,
                codes(&mapped),
                codes(&streamed)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A non-key record after per-key opcodes (which a server keeps for the next key) is named at
/// its own opcode, not at the opcodes before it: the parser reads both in one call.
#[test]
fn a_record_after_per_key_opcodes_is_named_at_its_own_offset() {
    let mut b = Rdb::db0(11);
    let opcodes = b.pos();
    b.byte(0xFC).i64le(4_102_444_800_000);
    let aux = b.aux(b"repl-id", b"short");
    b.byte(0xFC).i64le(4_102_444_800_000);
    let select = b.select_db(20);
    b.string_key(b"k", b"v");
    let file = b.finish();
    for r in [
        rdb_verify::verify_bytes("f", &file, &Options::default()),
        rdb_verify::verify_reader("f", &file[..], &Options::default()),
    ] {
        let at = |code: &str| r.findings.iter().find(|f| f.code == code).map(|f| f.offset);
        assert_eq!(at("aux-repl-id"), Some(Some(aux)), "{:?}", r.findings);
        assert_eq!(at("selectdb-range"), Some(Some(select)), "{:?}", r.findings);
        assert_eq!(
            at("orphan-key-attributes"),
            Some(Some(opcodes)),
            "{:?}",
            r.findings
        );
    }
}

/// Slot records ascend within a database and start again in the next one (a server's
/// `last_slot` is per database): slot 5061 first in db 0 and again first in db 1 is in order;
/// twice in one database it is not.
#[test]
fn slot_records_start_again_in_each_database() {
    let file = |next_db: bool| {
        let mut b = Rdb::valkey(80);
        b.select_db(0);
        b.aux(b"slot-info", b"5061,1,0");
        b.string_key(b"bar", b"x");
        if next_db {
            b.select_db(1);
        }
        b.aux(b"slot-info", b"5061,1,0");
        b.string_key(b"{bar}x", b"y"); // slot 5061 too
        b.finish()
    };
    let r = rdb_verify::verify_bytes("f", &file(true), &Options::default());
    assert!(!r.has_code("slot-info-order"), "{:?}", r.findings);
    let r = rdb_verify::verify_bytes("f", &file(false), &Options::default());
    assert!(r.has_code("slot-info-order"), "{:?}", r.findings);
}

/// A key saved with expiry -1 loads without one (`expire-minus-one`): it is not counted
/// among the expiring keys, and its CacheSize is that of the same key without an expiry.
#[test]
fn an_expiry_of_minus_one_counts_as_none() {
    let file = |expiry: Option<i64>| {
        let mut b = Rdb::db0(10);
        if let Some(e) = expiry {
            b.byte(0xFC).i64le(e);
        }
        b.string_key(b"kept", b"value");
        b.finish()
    };
    // A list too: not the string keys' path.
    let list_file = |expiry: Option<i64>| {
        let mut b = Rdb::db0(10);
        if let Some(e) = expiry {
            b.byte(0xFC).i64le(e);
        }
        b.key(18, b"kept");
        b.len(1).len(2); // one packed node
        b.blob(&listpack(&[Element::Str(b"a"), Element::Str(b"b")]));
        b.finish()
    };
    // Every layout the model knows, standalone and in cluster mode (per-slot tables there).
    use rdb_verify::cachesize::CacheModel;
    for model in [
        CacheModel::redis_7_0(),
        CacheModel::default(),
        CacheModel::valkey_8_1(),
        CacheModel::redis_7_0().clustered(),
        CacheModel::valkey_8_1().clustered(),
    ] {
        let what = model.describe();
        let opts = Options {
            cache_model: model,
            ..Options::default()
        };
        for make in [file, list_file] {
            let none = rdb_verify::verify_bytes("f", &make(None), &opts);
            let minus_one = rdb_verify::verify_bytes("f", &make(Some(-1)), &opts);
            let future = rdb_verify::verify_bytes("f", &make(Some(4_102_444_800_000)), &opts);
            assert!(none.ok && future.ok, "{what}: {:?}", none.findings);
            assert!(minus_one.has_code("expire-minus-one"));
            assert_eq!((none.expires, minus_one.expires, future.expires), (0, 0, 1));
            assert_eq!(minus_one.databases[&0].expires, 0);
            assert_eq!(minus_one.cache_size_bytes, none.cache_size_bytes, "{what}");
            assert!(future.cache_size_bytes > none.cache_size_bytes, "{what}");
        }
    }
}

/// A stream node that starts before the previous node's last entry is reported once, at the
/// node, and not again at its first entry.
#[test]
fn an_out_of_order_stream_node_warns_once() {
    let mut b = Rdb::db0(10);
    b.key(19, b"st");
    b.len(2);
    b.len(16).id(5, 0);
    b.str(&stream_node(&[(0, 0), (1, 0)])); // 5-0, 6-0
    let node = b.pos();
    b.len(16).id(3, 0);
    b.str(&stream_node(&[(0, 0), (1, 0)])); // 3-0, 4-0
    b.len(4).len(6).len(0); // length 4, last id 6-0
    b.len(5).len(0).len(0).len(0).len(4); // first id 5-0, max deleted 0-0, added 4
    b.len(0); // no groups
    let r = rdb_verify::verify_bytes("f", &b.finish(), &Options::default());
    let order: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "stream-id-order")
        .map(|f| f.offset)
        .collect();
    assert_eq!(order, [Some(node)], "{:?}", r.findings);
}

/// `sizing-count-oversized` from 2^27 keys or expires above those that follow; below, the
/// plain count mismatch.
#[test]
fn the_oversized_sizing_count_starts_at_2_27() {
    let file = |keys: u64, expires: u64| {
        let mut b = Rdb::db0(9);
        b.resize_db(keys, expires);
        b.string_key(b"k", b"v");
        b.finish()
    };
    for (keys, expires, code) in [
        ((1 << 27) - 1, 0, "resizedb-mismatch"),
        (1 << 27, 0, "sizing-count-oversized"),
        (1, (1 << 27) - 1, "resizedb-mismatch"),
        (1, 1 << 27, "sizing-count-oversized"),
    ] {
        let r = rdb_verify::verify_bytes("f", &file(keys, expires), &Options::default());
        let codes: Vec<&str> = r
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| f.code)
            .collect();
        assert_eq!(codes, [code], "RESIZEDB {keys} / {expires}");
    }
}
