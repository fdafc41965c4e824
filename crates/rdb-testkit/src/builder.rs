//! A tiny writer-independent byte builder for hand-made (and deliberately broken) RDB files.
//!
//! Nothing here calls `rdb-writer`: the files are laid down record by record, so a test can
//! put any byte anywhere and name the offset of the record it expects a finding at.

use rdb_format::length::encode_length;
use rdb_format::listpack::ListpackBuilder;
use rdb_format::Element;

/// Appends RDB primitives and remembers nothing else; offsets come from [`Rdb::pos`].
#[derive(Clone)]
pub struct Rdb {
    /// The file so far (without EOF and trailer until [`Rdb::finish`]).
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

    /// A `REDIS` file of `version` whose first record is the AUX field `redis-ver` = `7.2.6`,
    /// as a server writes it.
    pub fn base(version: u16) -> Self {
        let mut b = Rdb::new(version);
        b.aux(b"redis-ver", b"7.2.6");
        b
    }

    /// [`Rdb::base`] followed by `SELECTDB 0`: ready for key records.
    pub fn db0(version: u16) -> Self {
        let mut b = Rdb::base(version);
        b.select_db(0);
        b
    }

    /// Current offset (where the next byte goes).
    pub fn pos(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Appends one byte.
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.buf.push(b);
        self
    }

    /// Appends bytes as they are.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// Appends an RDB length encoding of `v`.
    pub fn len(&mut self, v: u64) -> &mut Self {
        encode_length(v, &mut self.buf);
        self
    }

    /// A raw (never int-encoded, never compressed) RDB string.
    pub fn str(&mut self, s: &[u8]) -> &mut Self {
        self.len(s.len() as u64);
        self.bytes(s)
    }

    /// A little-endian 8-byte integer (expiry times, TTLs).
    pub fn i64le(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    /// A 16-byte big-endian stream ID.
    pub fn id(&mut self, ms: u64, seq: u64) -> &mut Self {
        self.bytes(&ms.to_be_bytes());
        self.bytes(&seq.to_be_bytes())
    }

    /// An AUX record; returns its offset.
    pub fn aux(&mut self, k: &[u8], v: &[u8]) -> u64 {
        let at = self.pos();
        self.byte(0xFA).str(k).str(v);
        at
    }

    /// A SELECTDB record; returns its offset.
    pub fn select_db(&mut self, db: u64) -> u64 {
        let at = self.pos();
        self.byte(0xFE).len(db);
        at
    }

    /// A RESIZEDB record; returns its offset.
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

    /// A length-prefixed blob (an RDB string of `blob`); returns the offset of its first byte
    /// (after the length), where offsets inside an encoding count from.
    pub fn blob(&mut self, blob: &[u8]) -> u64 {
        self.len(blob.len() as u64);
        let at = self.pos();
        self.bytes(blob);
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

/// An intset blob as written, element by element, with no checks: `width` bytes (2, 4 or 8)
/// per element, in the order given (sorted or not).
pub fn intset(width: u32, elements: &[i64]) -> Vec<u8> {
    let mut blob = Vec::new();
    blob.extend_from_slice(&width.to_le_bytes());
    blob.extend_from_slice(&(elements.len() as u32).to_le_bytes());
    for &e in elements {
        blob.extend_from_slice(&e.to_le_bytes()[..width as usize]);
    }
    blob
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_blob_layout() {
        assert_eq!(intset(2, &[3, 1]), [2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 0]);
        assert_eq!(
            intset(4, &[5, -1]),
            [4, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn records_and_offsets() {
        let mut b = Rdb::db0(11);
        assert_eq!(&b.buf[..9], b"REDIS0011");
        let at = b.string_key(b"k", b"v");
        assert_eq!(&b.buf[at as usize..], [0, 1, b'k', 1, b'v']);
        let blob_at = b.blob(b"xyz");
        assert_eq!(b.buf[blob_at as usize - 1], 3);
        let f = b.finish();
        assert_eq!(f[f.len() - 9], 0xFF);
        assert_eq!(
            f[f.len() - 8..],
            rdb_format::crc::crc64(&f[..f.len() - 8]).to_le_bytes()
        );
    }
}
