//! A floor for `rdb-verify` on files of plain string keys (the `small-strings` benchmark
//! dataset): the least work any verifier producing the same statistics must do, in one bare
//! loop with no event API, no findings and no error reporting.
//!
//! ```sh
//! cargo build --release -p rdb-testkit --example verify_floor
//! taskset -c 1 target/release/examples/verify_floor benches/data/small-strings.rdb [ROUNDS] [parse|slots|all]
//! ```
//!
//! The last argument chooses how much of the per-key work runs, to split the figure: `parse`
//! (records, counts, CacheSize stand-in, CRC-64), `slots` (+ hash slots), `all` (+ duplicate
//! check; the default).
//!
//! Per key it parses the record (expiry, key, value: raw, integer or LZF, the LZF payload
//! validated without output), computes the key's hash slot and counts it, appends the key's
//! digest to the duplicate check's buckets, and keeps per-db key / expiry counts and a
//! stand-in for the CacheSize sum (a size-class rounding, lighter than the real model); once
//! per file it computes the CRC-64 over the whole mapping and runs the duplicate check's final
//! pass. It stops with a message on any record that is not a string key or a metadata opcode:
//! it is a measuring tool, not a verifier (the figure it prints says how fast the per-key work
//! itself can go, which bounds what a redesign of the event-driven verifier could reach).

use std::path::Path;
use std::time::Instant;

use rdb_format::crc::crc64;
use rdb_format::lzf;
use rdb_format::slot::key_slot;
use rdb_reader::MappedFile;
use rdb_verify::dedup::KeyDigests;

/// What one pass found.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    keys: u64,
    expires: u64,
    cache_bytes: u64,
    repeated: usize,
    crc_ok: bool,
}

/// A cursor over the mapped file.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(v)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.b.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }

    /// A length, or `Err(special)` for the `11xxxxxx` string encodings.
    fn length(&mut self) -> Result<Result<u64, u8>, String> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Ok(u64::from(first & 0x3F)),
            1 => Ok((u64::from(first & 0x3F) << 8) | u64::from(self.byte()?)),
            2 => match first {
                0x80 => Ok(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().map_err(|_| "len")?,
                ))),
                0x81 => Ok(u64::from_be_bytes(
                    self.take(8)?.try_into().map_err(|_| "len")?,
                )),
                _ => return Err(format!("bad length byte {first:#x}")),
            },
            _ => Err(first & 0x3F),
        })
    }

    fn plain_length(&mut self) -> Result<u64, String> {
        self.length()?
            .map_err(|e| format!("unexpected string encoding {e}"))
    }

    /// A string; returns its (decoded) length and, when raw, its bytes.
    fn string(&mut self) -> Result<(u64, Option<&'a [u8]>), String> {
        match self.length()? {
            Ok(n) => {
                let s = self.take(usize::try_from(n).map_err(|_| "len")?)?;
                Ok((n, Some(s)))
            }
            Err(0) => self.take(1).map(|_| (4, None)),
            Err(1) => self.take(2).map(|_| (6, None)),
            Err(2) => self.take(4).map(|_| (11, None)),
            Err(3) => {
                let clen = self.plain_length()?;
                let ulen = self.plain_length()?;
                let payload = self.take(usize::try_from(clen).map_err(|_| "len")?)?;
                let ulen = usize::try_from(ulen).map_err(|_| "len")?;
                lzf::validate(payload, ulen).map_err(|e| e.to_string())?;
                Ok((ulen as u64, None))
            }
            Err(e) => Err(format!("unknown string encoding {e}")),
        }
    }
}

/// Allocation size class stand-in (16-byte steps).
#[inline]
fn class(n: u64) -> u64 {
    (n + 15) & !15
}

/// How much of the per-key work a pass does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// Records, counts, CacheSize stand-in, CRC-64.
    Parse,
    /// And hash slots.
    Slots,
    /// And the duplicate-key check.
    All,
}

fn pass(b: &[u8], work: Work) -> Result<Tally, String> {
    let mut t = Tally::default();
    let mut c = Cur { b, pos: 9 };
    if b.get(..5) != Some(b"REDIS") {
        return Err("not an RDB file".into());
    }
    let mut slots = vec![0u32; 16384];
    let mut digests = KeyDigests::default();
    let mut db = 0u64;
    let mut pending_expiry = false;
    loop {
        let op = c.byte()?;
        match op {
            0xFF => break,
            0xFA => {
                c.string()?;
                c.string()?;
            }
            0xFE => db = c.plain_length()?,
            0xFB => {
                let keys = c.plain_length()?;
                c.plain_length()?;
                digests.reserve(keys);
            }
            0xFC => {
                c.take(8)?;
                pending_expiry = true;
            }
            0xFD => {
                c.take(4)?;
                pending_expiry = true;
            }
            0xF8 => {
                c.plain_length()?;
            }
            0xF9 => {
                c.take(1)?;
            }
            0 => {
                let (klen, key) = c.string()?;
                let key = key.ok_or("encoded key")?;
                let (vlen, _) = c.string()?;
                if work >= Work::Slots {
                    let slot = usize::from(key_slot(key));
                    if let Some(s) = slots.get_mut(slot) {
                        *s = s.saturating_add(1);
                    }
                }
                if work == Work::All {
                    digests.push(key, db);
                }
                t.keys += 1;
                t.expires += u64::from(pending_expiry);
                t.cache_bytes += class(klen + 8) + class(vlen + 3) + 16 + 24;
                pending_expiry = false;
            }
            other => return Err(format!("record type {other} at byte {}", c.pos - 1)),
        }
    }
    let body = c.pos;
    let stored = b.get(body..body + 8).ok_or("no checksum")?;
    let stored = u64::from_le_bytes(stored.try_into().map_err(|_| "crc")?);
    t.crc_ok = crc64(b.get(..body).unwrap_or(&[])) == stored;
    t.repeated = digests.repeated().len();
    std::hint::black_box(&slots);
    Ok(t)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: verify_floor FILE.rdb [ROUNDS] [parse|slots|all]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let work = match args.next().as_deref() {
        Some("parse") => Work::Parse,
        Some("slots") => Work::Slots,
        None | Some("all") => Work::All,
        Some(other) => {
            eprintln!("unknown work {other:?} (parse, slots or all)");
            std::process::exit(2)
        }
    };
    let map = MappedFile::open(Path::new(&path)).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let bytes = map.bytes();
    let mut best = f64::MAX;
    for r in 1..=rounds {
        let t0 = Instant::now();
        let tally = pass(bytes, work).unwrap_or_else(|e| {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        });
        let s = t0.elapsed().as_secs_f64();
        best = best.min(s);
        println!("round {r}: {s:.3} s  {tally:?}");
    }
    println!("best: {best:.3} s ({work:?})");
}
