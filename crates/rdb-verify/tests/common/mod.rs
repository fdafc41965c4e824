//! A tiny writer-independent byte builder for hand-made (and deliberately broken) RDB files.
#![allow(dead_code)]

use rdb_format::length::encode_length;
use rdb_format::listpack::ListpackBuilder;
use rdb_format::Element;

/// Appends RDB primitives and remembers nothing else; offsets come from [`Rdb::pos`].
#[derive(Clone)]
pub struct Rdb {
    pub buf: Vec<u8>,
}

impl Rdb {
    /// A file starting with `REDIS` + 4-digit `version`.
    pub fn new(version: u16) -> Self {
        Rdb {
            buf: format!("REDIS{version:04}").into_bytes(),
        }
    }

    /// A file starting with `VALKEY` + 3-digit `version`.
    pub fn valkey(version: u16) -> Self {
        Rdb {
            buf: format!("VALKEY{version:03}").into_bytes(),
        }
    }

    /// Current offset (where the next byte goes).
    pub fn pos(&self) -> u64 {
        self.buf.len() as u64
    }

    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.buf.push(b);
        self
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    pub fn len(&mut self, v: u64) -> &mut Self {
        encode_length(v, &mut self.buf);
        self
    }

    /// A raw (never int-encoded, never compressed) RDB string.
    pub fn str(&mut self, s: &[u8]) -> &mut Self {
        self.len(s.len() as u64);
        self.bytes(s)
    }

    pub fn i64le(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// A 16-byte big-endian stream ID.
    pub fn id(&mut self, ms: u64, seq: u64) -> &mut Self {
        self.bytes(&ms.to_be_bytes());
        self.bytes(&seq.to_be_bytes())
    }

    pub fn aux(&mut self, k: &[u8], v: &[u8]) -> u64 {
        let at = self.pos();
        self.byte(0xFA).str(k).str(v);
        at
    }

    pub fn select_db(&mut self, db: u64) -> u64 {
        let at = self.pos();
        self.byte(0xFE).len(db);
        at
    }

    pub fn resize_db(&mut self, keys: u64, expires: u64) -> u64 {
        let at = self.pos();
        self.byte(0xFB).len(keys).len(expires);
        at
    }

    /// Starts a key record: type byte and key; returns the record's offset.
    pub fn key(&mut self, t: u8, key: &[u8]) -> u64 {
        let at = self.pos();
        self.byte(t).str(key);
        at
    }

    /// A string key; returns its offset.
    pub fn string_key(&mut self, key: &[u8], value: &[u8]) -> u64 {
        let at = self.key(0, key);
        self.str(value);
        at
    }

    /// Appends EOF and the CRC-64 trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let crc = rdb_format::crc::crc64(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// A listpack holding `elements`.
pub fn listpack(elements: &[Element<'_>]) -> Vec<u8> {
    let mut lp = ListpackBuilder::new();
    for e in elements {
        lp.push(*e);
    }
    lp.finish().to_vec()
}

/// The options the tests use: fixed "now" so expiries are deterministic.
pub fn opts() -> rdb_verify::Options {
    rdb_verify::Options {
        now_ms: 1_700_000_000_000,
        ..rdb_verify::Options::default()
    }
}
