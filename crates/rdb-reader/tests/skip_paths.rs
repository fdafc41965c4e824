//! Skipping a key (`Parser::skip_key`, `Parser::skip_key_raw`, skim mode) accepts what reading
//! it accepts.

use rdb_format::Element;
use rdb_reader::{Event, Limits, Parser, SliceSource};
use rdb_testkit::builder::{listpack, Rdb};

/// An RDB 11 file with one type-21 stream whose node key (master ID 1-1) is stored as an LZF
/// string (a 16-byte literal run: no server compresses strings that short, but loaders
/// decompress any string) and one entry 1-1 `f`=`v`.
fn stream_with_lzf_node_key() -> Vec<u8> {
    let mut b = Rdb::db0(11);
    b.key(21, b"st");
    b.len(1);
    let mut id = [0u8; 16];
    id[7] = 1;
    id[15] = 1;
    // LZF: `0xC3`, compressed length 17, uncompressed length 16, a literal run of 16 bytes.
    b.byte(0xC3).len(17).len(16).byte(15).bytes(&id);
    let node = listpack(&[
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
    ]);
    b.str(&node);
    b.len(1).len(1).len(1); // length 1, last id 1-1
    b.len(1).len(1).len(0).len(0).len(1); // first id 1-1, max deleted 0-0, entries added 1
    b.len(0); // no groups
    b.string_key(b"after", b"x");
    b.finish()
}

/// The key names of `file`, each key skipped after its event (`skim`: in skim mode).
fn keys_skipping(file: &[u8], skim: bool, raw: bool) -> Result<Vec<Vec<u8>>, String> {
    let mut p = Parser::new(SliceSource::new(file), Limits::default());
    p.set_skim(skim);
    let mut keys = Vec::new();
    while let Some(ev) = p.next_event().map_err(|e| e.to_string())? {
        if let Event::Key(k) = ev {
            keys.push(k.key.to_vec());
            if raw {
                p.skip_key_raw().map_err(|e| e.to_string())?;
            } else {
                p.skip_key().map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(keys)
}

#[test]
fn an_lzf_stream_node_key_is_skipped_as_it_is_read() {
    let file = stream_with_lzf_node_key();
    let ks = rdb_reader::read_keyspace(&file).expect("reading accepts the LZF node key");
    assert_eq!(ks.key_count(), 2);
    let want = vec![b"st".to_vec(), b"after".to_vec()];
    for (skim, raw) in [(false, false), (false, true), (true, false), (true, true)] {
        assert_eq!(
            keys_skipping(&file, skim, raw),
            Ok(want.clone()),
            "skim {skim}, raw {raw}"
        );
    }
}
