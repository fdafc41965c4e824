//! `read_keyspace` copies short byte strings into shared chunks: the keyspace it builds must
//! hold exactly the file's bytes whatever their sizes (empty, around the 4 KiB arena limit,
//! across chunk boundaries), and the short ones must lie next to each other in memory.

use rdb_model::{Bytes, Entry, HashField, Keyspace, Value};
use rdb_reader::read_keyspace;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

/// Deterministic bytes of length `len` that differ between `seed`s (compressible, so that
/// both raw and LZF strings are read).
fn bytes(len: usize, seed: usize) -> Bytes {
    (0..len)
        .map(|i| b"abcdefghij0123456789"[(i * 7 + seed * 13 + i / 97) % 20])
        .collect::<Vec<u8>>()
        .into()
}

fn keyspace() -> Keyspace {
    let mut ks = Keyspace::default();
    let db = ks.db_mut(0);
    // Lengths around every boundary of the arena: empty, the first 256-byte chunk, the
    // 4 KiB limit (4096 copied, 4097 allocated alone), the 64 KiB chunk.
    let lens: Vec<usize> = [
        0, 1, 5, 255, 256, 257, 4095, 4096, 4097, 9000, 65_536, 70_000,
    ]
    .into_iter()
    .chain((0..3000).map(|i| (i * 37) % 700))
    .collect();
    for (i, &len) in lens.iter().enumerate() {
        db.entries.push(Entry::new(
            format!("s:{i}").into_bytes(),
            Value::String(bytes(len, i)),
        ));
    }
    let list: Vec<Bytes> = lens.iter().enumerate().map(|(i, &l)| bytes(l, i)).collect();
    db.entries
        .push(Entry::new(&b"list"[..], Value::List(list.clone())));
    let mut set: Vec<Bytes> = list.iter().filter(|m| !m.is_empty()).cloned().collect();
    set.sort();
    set.dedup();
    db.entries.push(Entry::new(&b"set"[..], Value::Set(set)));
    db.entries.push(Entry::new(
        &b"ints"[..],
        Value::Set(
            (0..600)
                .map(|i| Bytes::from((i * 1_000_003).to_string()))
                .collect(),
        ),
    ));
    let zset: Vec<(Bytes, f64)> = (0..500)
        .map(|i| {
            let mut m = format!("m{i}:").into_bytes();
            m.extend_from_slice(&bytes(i % 90, i));
            (Bytes::from(m), i as f64 * 0.5)
        })
        .collect();
    db.entries
        .push(Entry::new(&b"zset"[..], Value::SortedSet(zset)));
    let hash: Vec<HashField> = (0..400)
        .map(|i| HashField {
            field: Bytes::from(format!("f{i}")),
            value: bytes((i * 53) % 6000, i),
            expire_at_ms: None,
        })
        .collect();
    db.entries.push(Entry::new(&b"hash"[..], Value::Hash(hash)));
    ks
}

#[test]
fn keyspace_holds_every_size_exactly() {
    let want = keyspace();
    let (file, _) =
        write_keyspace(&want, Vec::new(), &WriterBuilder::new(Target::Redis70)).unwrap();
    let got = read_keyspace(&file).unwrap();
    let (got, want) = (entries(&got), entries(&want));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        // Not `assert_eq!`: the values are too long to print.
        assert!(g == w, "key {:?} differs", String::from_utf8_lossy(&w.key));
    }
}

/// The entries of db 0 with set and sorted-set members in one order (the writer may reorder
/// them: intsets sorted, skiplists from the highest score).
fn entries(ks: &Keyspace) -> Vec<Entry> {
    let mut v = ks
        .dbs
        .get(&0)
        .map(|d| d.entries.clone())
        .unwrap_or_default();
    for e in &mut v {
        match &mut e.value {
            Value::Set(m) => m.sort(),
            Value::SortedSet(m) => m.sort_by(|a, b| a.0.cmp(&b.0)),
            _ => {}
        }
    }
    v
}

#[test]
fn short_elements_lie_next_to_each_other() {
    let mut ks = Keyspace::default();
    let members: Vec<Bytes> = (0..2000).map(|i| bytes(i % 50 + 1, i)).collect();
    ks.db_mut(0)
        .entries
        .push(Entry::new(&b"l"[..], Value::List(members)));
    let (file, _) = write_keyspace(&ks, Vec::new(), &WriterBuilder::new(Target::Redis70)).unwrap();
    let got = read_keyspace(&file).unwrap();
    let Some(Value::List(items)) = got.dbs.get(&0).map(|d| &d.entries[0].value) else {
        panic!("the list is not read back");
    };
    let adjacent = items
        .windows(2)
        .filter(|w| w[0].as_ptr().wrapping_add(w[0].len()) == w[1].as_ptr())
        .count();
    // A new chunk starts at most every 256 bytes at first, then every 64 KiB: nearly all
    // neighbours share one.
    assert!(
        adjacent >= items.len() - 10,
        "{adjacent} of {} adjacent",
        items.len()
    );
}
