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
