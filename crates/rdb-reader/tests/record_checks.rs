//! Record checks that only hand-made bytes reach (no real server writes these files): each
//! input is `REDIS0011`, `SELECTDB 0`, one record, `EOF` and a zero (disabled) checksum, read
//! whole; the outcome is named by its error code and offset. Written after a mutation audit
//! of the parser, where each of these checks could be dropped or loosened with every other
//! test passing.

use rdb_model::Value;
use rdb_reader::read_keyspace;

/// A file holding `record` in database 0.
fn file(record: &[u8]) -> Vec<u8> {
    let mut f = b"REDIS0011\xfe\x00".to_vec();
    f.extend_from_slice(record);
    f.push(0xff);
    f.extend_from_slice(&[0; 8]);
    f
}

/// The error code and offset `record` gives.
fn refusal(record: &[u8]) -> (&'static str, u64) {
    let e = read_keyspace(&file(record)).expect_err("the file is refused");
    (e.code(), e.offset())
}

/// `FREQ` is one byte (an LFU counter up to 255), not a length: 0x80 would start a 32-bit
/// length.
#[test]
fn freq_is_one_byte() {
    for counter in [0x00u8, 0x3f, 0x40, 0x80, 0xc0, 0xff] {
        let ks = read_keyspace(&file(&[0xf9, counter, 0x00, 1, b'k', 1, b'v'])).unwrap();
        let e = &ks.dbs[&0].entries[0];
        assert_eq!(e.lfu_freq, Some(counter));
        assert_eq!(e.value, Value::String(rdb_model::Bytes::from_static(b"v")));
    }
}

/// A PLAIN quicklist node (container 1) must hold data, whether stored raw or as LZF of no
/// bytes (`C3 00 00`: the servers check the decoded length); the offset is the node's.
#[test]
fn empty_plain_nodes_are_refused_in_any_encoding() {
    // Type 18 at 11, key "l" at 12-13, one node (14), container at 15.
    assert_eq!(
        refusal(&[0x12, 1, b'l', 1, 1, 0x00]),
        ("quicklist-empty-node", 15)
    );
    assert_eq!(
        refusal(&[0x12, 1, b'l', 1, 1, 0xc3, 0x00, 0x00]),
        ("quicklist-empty-node", 15)
    );
    // The same node holding a byte is a list of one element.
    let ks = read_keyspace(&file(&[0x12, 1, b'l', 1, 1, 1, b'x'])).unwrap();
    let want = vec![rdb_model::Bytes::from_static(b"x")];
    assert_eq!(ks.dbs[&0].entries[0].value, Value::List(want));
}

/// Quicklist containers are 1 (PLAIN) or 2 (PACKED): 0 and 3 are refused at the container.
#[test]
fn quicklist_containers_other_than_plain_and_packed_are_refused() {
    for container in [0u8, 3] {
        assert_eq!(
            refusal(&[0x12, 1, b'l', 1, container, 1, b'x']),
            ("quicklist-container", 15),
            "container {container}"
        );
    }
}

/// `MODULE_AUX`: the when-opcode must be 2 (an unsigned) and `when` 1 or 2 (before or after
/// the keyspace); anything else is named at the when-opcode (offset 13).
#[test]
fn module_aux_when_is_before_or_after() {
    for (when_op, when) in [(2u8, 0u8), (2, 3), (1, 1)] {
        assert_eq!(
            refusal(&[0xf7, 1, when_op, when, 0x00]),
            ("module-aux", 13),
            "when-opcode {when_op}, when {when}"
        );
    }
}

/// A NaN score is refused in a type-3 zset (scores as text) as in a type-5 one: the byte 253
/// is NaN in the old double encoding, and Redis 7.0's `redis-check-rdb` refuses it ("Zset
/// with NAN score detected"); `nan` spelled out is refused at the same offset.
#[test]
fn a_nan_score_is_refused_in_text_zsets_too() {
    // Type 3 at 11, key "z" at 12-13, one member (14), "m" at 15-16, its score at 17.
    assert_eq!(
        refusal(&[0x03, 1, b'z', 1, 1, b'm', 0xfd]),
        ("zset-nan", 17)
    );
    let (code, offset) = refusal(&[0x03, 1, b'z', 1, 1, b'm', 3, b'n', b'a', b'n']);
    assert_eq!(offset, 17, "{code}");
    // The infinities (254, 255) and a number are scores.
    for (score, want) in [
        (&[0xfe][..], f64::INFINITY),
        (&[0xff][..], f64::NEG_INFINITY),
        (&[3, b'1', b'.', b'5'][..], 1.5),
    ] {
        let mut rec = vec![0x03, 1, b'z', 1, 1, b'm'];
        rec.extend_from_slice(score);
        let ks = read_keyspace(&file(&rec)).unwrap();
        let Value::SortedSet(z) = &ks.dbs[&0].entries[0].value else {
            panic!("not a zset");
        };
        assert_eq!(z[0].1, want);
    }
}

/// 64-bit lengths (`0x81` and 8 big-endian bytes) exist from RDB 8 (Redis 4.0) on; before
/// it, every byte `0x80..=0xBF` starts a 32-bit length (Redis 3.2's `rdbLoadLen`).
#[test]
fn lengths_of_64_bits_start_at_rdb_8() {
    // SELECTDB 0, a string key "k" whose value's length is written as `len`, then "v".
    let with = |version: &[u8; 4], len: &[u8]| {
        let mut f = b"REDIS".to_vec();
        f.extend_from_slice(version);
        f.extend_from_slice(&[0xfe, 0x00, 0x00, 1, b'k']);
        f.extend_from_slice(len);
        f.push(b'v');
        f.push(0xff);
        f.extend_from_slice(&[0; 8]);
        f
    };
    let v = Value::String(rdb_model::Bytes::from_static(b"v"));
    let wide = [0x81, 0, 0, 0, 0, 0, 0, 0, 1];
    let narrow = [0x81, 0, 0, 0, 1];
    for (version, len) in [(b"0008", &wide[..]), (b"0011", &wide), (b"0007", &narrow)] {
        let ks = read_keyspace(&with(version, len)).unwrap();
        assert_eq!(ks.dbs[&0].entries[0].value, v, "{version:?}");
    }
    // The other reading of each fails.
    assert!(read_keyspace(&with(b"0008", &narrow)).is_err());
    assert!(read_keyspace(&with(b"0007", &wide)).is_err());
}
