//! Shared by the verifier's integration tests: the writer-independent byte builder of
//! `rdb-testkit` (hand-made, deliberately broken files), a stream file with a consumer-group
//! PEL to break, and the options the tests verify with.
#![allow(dead_code, unused_imports)]

use rdb_format::Element;
pub use rdb_testkit::builder::{intset, listpack, Rdb};

/// The listpack of a stream node whose master entry declares `deltas.len()` live entries, 0
/// deleted and the one field `f`, followed by one entry `f`=`v` per ID delta (ms, seq) from the
/// master ID, each flagged as having the master's fields.
pub fn stream_node(deltas: &[(i64, i64)]) -> Vec<u8> {
    let live = deltas.len() as i64;
    let mut elements = vec![
        Element::Int(live),
        Element::Int(0),
        Element::Int(1),
        Element::Str(b"f"),
        Element::Int(0),
    ];
    for &(ms, seq) in deltas {
        // flags SAMEFIELDS, the deltas, the value, the entry's element count (lp-count)
        elements.extend([
            Element::Int(2),
            Element::Int(ms),
            Element::Int(seq),
            Element::Str(b"v"),
            Element::Int(4),
        ]);
    }
    listpack(&elements)
}

/// The listpack of a stream node with master ID 1-1 holding one entry, 1-1 `f`=`v`.
pub fn stream_node_1_1() -> Vec<u8> {
    stream_node(&[(0, 0)])
}

/// A type-21 stream in db 0 of an RDB 11 file: one node with entry 1-1, group "g" whose PEL
/// holds 1-1, consumer "c" whose PEL holds `consumer_pel` (`None`: an empty PEL). Returns
/// (file, offset of the consumer's PEL entry — or of the group when the PEL is empty —,
/// offset of the group).
pub fn stream_file(consumer_pel: Option<(u64, u64)>) -> (Vec<u8>, u64, u64) {
    let mut b = Rdb::db0(11);
    b.key(21, b"st");
    b.len(1);
    b.len(16).id(1, 1);
    b.str(&stream_node_1_1());
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
    let at = match consumer_pel {
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

/// Key `key`: a type-17 zset listpack holding (b, 2) before (a, 1), out of score order.
/// Returns the record's offset.
pub fn zset_listpack_b2_a1(b: &mut Rdb, key: &[u8]) -> u64 {
    let at = b.key(17, key);
    b.str(&listpack(&[
        Element::Str(b"b"),
        Element::Int(2),
        Element::Str(b"a"),
        Element::Int(1),
    ]));
    at
}

/// Key "h": a type-25 (Redis 7.4 listpack hash with field TTLs, min expire 100) whose field
/// `a` without TTL comes before field `b` with TTL 200. Returns the record's offset.
pub fn hash_listpack_ex_ttl_out_of_order(b: &mut Rdb) -> u64 {
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
    at
}

/// The module ID of ReJSON-RL encoding version 3.
pub fn rejson_id() -> u64 {
    rdb_model::json::module_id_from_name("ReJSON-RL", 3).unwrap()
}

/// Key `key`: a type-7 ReJSON-RL module value holding UINT 42. Returns the record's offset.
pub fn rejson_uint_42(b: &mut Rdb, key: &[u8]) -> u64 {
    let at = b.key(7, key);
    b.len(rejson_id()).len(2).len(42).len(0); // UINT 42, EOF
    at
}

/// The options the tests use: fixed "now" so expiries are deterministic.
pub fn opts() -> rdb_verify::Options {
    rdb_verify::Options {
        now_ms: 1_700_000_000_000,
        ..rdb_verify::Options::default()
    }
}
