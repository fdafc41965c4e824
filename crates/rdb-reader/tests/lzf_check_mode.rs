//! `Limits::decode_lzf_strings = false` (validate long LZF string values without decoding
//! them) fails exactly where decoding fails: same error code at the same offset, on valid
//! files and on thousands of mutated ones, over a slice and over a one-byte stream. The same
//! holds with `Limits::whole_strings` (string keys given as one event, the verifier's mode).

use rdb_reader::{Event, Limits, Parser, SliceSource, Source, StreamSource};
use rdb_testkit::chunked::OneByteReader;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

/// A run's error (code, offset) or `None` at EOF, and its string value lengths.
type Outcome = (Option<(&'static str, u64)>, Vec<u64>);

/// What a run ends with (error code and offset, or the EOF) and each string value's length:
/// the bytes of its chunks, or its `len_hint` when no chunk came (a validated LZF string).
fn outcome<S: Source>(mut p: Parser<S>) -> Outcome {
    let mut lens = Vec::new();
    // (len_hint, bytes in chunks, any chunk seen)
    let mut cur: Option<(u64, u64, bool)> = None;
    let close = |cur: &mut Option<(u64, u64, bool)>, lens: &mut Vec<u64>| {
        if let Some((hint, sum, seen)) = cur.take() {
            lens.push(if seen { sum } else { hint });
        }
    };
    loop {
        match p.next_event() {
            Ok(Some(Event::Key(k))) => {
                close(&mut cur, &mut lens);
                if k.whole {
                    // `Limits::whole_strings`: the value (or only its length) is in the event.
                    assert_eq!(k.kind, rdb_format::TypeKind::String);
                    let n = k.value.map(|v| v.byte_len() as u64);
                    lens.push(n.unwrap_or(k.len_hint.unwrap_or(0)));
                } else if k.kind == rdb_format::TypeKind::String {
                    cur = Some((k.len_hint.unwrap_or(0), 0, false));
                }
            }
            Ok(Some(Event::StringChunk(e))) => {
                if let Some((_, sum, seen)) = cur.as_mut() {
                    *sum += e.byte_len() as u64;
                    *seen = true;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                close(&mut cur, &mut lens);
                return (None, lens);
            }
            Err(e) => return (Some((e.code(), e.offset())), lens),
        }
    }
}

fn limits(decode: bool) -> Limits {
    Limits {
        decode_lzf_strings: decode,
        ..Limits::default()
    }
}

/// The verifier's limits: validate, and give string keys whole.
fn whole() -> Limits {
    Limits {
        whole_strings: true,
        ..limits(false)
    }
}

/// Outcomes: decoding (slice), validating (slice), whole string keys (slice), then, when
/// `one_byte`, validating and whole string keys over a one-byte stream.
fn both(data: &[u8], one_byte: bool) -> Vec<Outcome> {
    let mut out = vec![
        outcome(Parser::new(SliceSource::new(data), limits(true))),
        outcome(Parser::new(SliceSource::new(data), limits(false))),
        outcome(Parser::new(SliceSource::new(data), whole())),
    ];
    if one_byte {
        for l in [limits(false), whole()] {
            out.push(outcome(Parser::new(
                StreamSource::new(OneByteReader::new(data), l.stream_buffer()),
                l,
            )));
        }
    }
    out
}

/// A file with many long, compressible string values (so LZF-encoded) and a few short ones.
fn lzf_file() -> Vec<u8> {
    let ks = rdb_testkit::gen::big_values(12, 11);
    let b = WriterBuilder::new(Target::Redis70).ctime(1_700_000_000);
    write_keyspace(&ks, Vec::new(), &b).unwrap().0
}

/// Whether the file may hold LZF strings (an `0xC3` string header byte somewhere).
fn may_hold_lzf(data: &[u8]) -> bool {
    data.contains(&0xC3)
}

#[test]
fn validated_lzf_strings_fail_like_decoded_ones() {
    let mut files: Vec<(String, Vec<u8>)> = rdb_testkit::testdata::rdb_files("servers")
        .into_iter()
        .map(|f| (f.display().to_string(), std::fs::read(&f).unwrap()))
        .collect();
    files.push(("generated big values".into(), lzf_file()));
    let mut mutated = 0;
    let mut lzf_errors = 0;
    for (name, data) in &files {
        let r = both(data, true);
        assert_eq!(r[0], r[1], "{name}: unmutated, slice");
        assert_eq!(r[0], r[2], "{name}: unmutated, whole string keys");
        assert_eq!(r[0], r[3], "{name}: unmutated, one-byte stream");
        assert_eq!(
            r[0], r[4],
            "{name}: unmutated, one-byte stream, whole string keys"
        );
        if !may_hold_lzf(data) {
            continue;
        }
        let mut x = 0x2545_F491_4F6C_DD1Du64 ^ data.len() as u64;
        let trials = if data.len() > 100_000 { 250 } else { 120 };
        for t in 0..trials {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut m = data.clone();
            let at = 9 + (x as usize) % (m.len() - 9);
            m[at] ^= ((x >> 40) as u8) | 1;
            // The one-byte stream (slow) on every 16th mutation.
            let r = both(&m, t % 16 == 0);
            let (d, v) = (&r[0], &r[1]);
            for (i, o) in r.iter().enumerate().skip(1) {
                assert_eq!(d.0, o.0, "{name}: byte {at} changed, run {i}");
            }
            if d.0.is_none() {
                assert_eq!(d.1, v.1, "{name}: byte {at} changed, string lengths");
                assert_eq!(d.1, r[2].1, "{name}: byte {at} changed, whole string keys");
            }
            if d.0.is_some_and(|(c, _)| c == "lzf") {
                lzf_errors += 1;
            }
            mutated += 1;
        }
    }
    assert!(mutated > 1000, "{mutated} mutated files");
    assert!(
        lzf_errors > 50,
        "only {lzf_errors} LZF errors among the mutations"
    );
}
