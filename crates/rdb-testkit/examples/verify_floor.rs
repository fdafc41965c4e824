//! A floor for `rdb-verify` on files of plain string keys (the `small-strings` benchmark
//! dataset): the per-key work a verifier producing the same statistics must do, done as
//! directly as the project's own primitives allow, in one bare loop with no event API and no
//! findings (an error stops it, naming only the byte offset).
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
use rdb_format::int::IntText;
use rdb_format::length::{decode_length, Length};
use rdb_format::lzf;
use rdb_format::slot::key_slot;
use rdb_format::string::{decode_string_header, StringHeader};
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

/// A cursor over the mapped file; errors name the byte offset they happened at.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    /// RDB ≥ 8: `0x81` lengths are 64-bit.
    wide: bool,
}

impl<'a> Cur<'a> {
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or(&[])
    }

    fn fail(&self, what: impl std::fmt::Display) -> String {
        format!("byte {}: {what}", self.pos)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.pos).ok_or_else(|| self.fail("truncated"))?;
        self.pos += 1;
        Ok(v)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let s = usize::try_from(n)
            .ok()
            .and_then(|n| self.rest().get(..n))
            .ok_or_else(|| self.fail(format!("truncated: {n} bytes expected")))?;
        self.pos += s.len();
        Ok(s)
    }

    /// A plain length (`rdb_format::length::decode_length`).
    fn length(&mut self) -> Result<u64, String> {
        match decode_length(self.rest(), self.wide).map_err(|e| self.fail(e))? {
            (Length::Len(v), n) => {
                self.pos += n;
                Ok(v)
            }
            (Length::Special(e), _) => {
                Err(self.fail(format!("string encoding {e}, expected a length")))
            }
        }
    }

    /// A string (`rdb_format::string::decode_string_header`): its decoded length and, when
    /// raw, its bytes; an LZF payload is validated without output.
    fn string(&mut self) -> Result<(u64, Option<&'a [u8]>), String> {
        let (header, n) = decode_string_header(self.rest(), self.wide).map_err(|e| self.fail(e))?;
        self.pos += n;
        match header {
            StringHeader::Raw(len) => Ok((len, Some(self.take(len)?))),
            StringHeader::Int(v) => Ok((IntText::new(v).as_bytes().len() as u64, None)),
            StringHeader::Lzf {
                compressed,
                uncompressed,
            } => {
                let at = self.pos;
                let payload = self.take(compressed)?;
                let ulen = usize::try_from(uncompressed).map_err(|_| self.fail("length"))?;
                lzf::validate(payload, ulen).map_err(|e| format!("byte {at}: {e}"))?;
                Ok((uncompressed, None))
            }
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
    let version = b
        .get(..9)
        .filter(|h| h.starts_with(b"REDIS"))
        .and_then(|h| std::str::from_utf8(h.get(5..)?).ok()?.parse::<u32>().ok())
        .ok_or("byte 0: not a REDIS file header")?;
    let mut c = Cur {
        b,
        pos: 9,
        wide: version >= 8,
    };
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
            0xFE => db = c.length()?,
            0xFB => {
                let keys = c.length()?;
                c.length()?;
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
                c.length()?;
            }
            0xF9 => {
                c.take(1)?;
            }
            0 => {
                let (klen, key) = c.string()?;
                let key = key.ok_or_else(|| c.fail("an integer-encoded key (not handled here)"))?;
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
            other => {
                return Err(format!(
                    "byte {}: record type {other}, not handled here",
                    c.pos - 1
                ))
            }
        }
    }
    let body = c.pos;
    let stored = b
        .get(body..)
        .and_then(<[u8]>::first_chunk::<8>)
        .ok_or_else(|| c.fail("no checksum after EOF"))?;
    let stored = u64::from_le_bytes(*stored);
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
