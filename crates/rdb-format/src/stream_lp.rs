//! Stream node listpacks (§4.6): master entry, delta-encoded entries, `lp_count` checks.

use crate::element::Element;
use crate::error::{CodecError, CodecResult};
use crate::listpack::{element_at, ListpackCursor};

/// Entry flag: deleted.
pub const FLAG_DELETED: i64 = 1;
/// Entry flag: same fields as the master entry.
pub const FLAG_SAMEFIELDS: i64 = 2;

/// One entry of a stream node listpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEntry {
    /// Entry ID, milliseconds part.
    pub ms: u64,
    /// Entry ID, sequence part.
    pub seq: u64,
    /// The DELETED flag.
    pub deleted: bool,
    /// Number of field/value pairs.
    pub fields: usize,
}

/// A validating cursor over one stream node listpack (`streamValidateListpackIntegrity`).
///
/// Field and value positions of the current entry are kept (reused buffer) so callers can
/// resolve them with [`StreamNodeCursor::field`] without the cursor borrowing the blob.
#[derive(Debug, Clone)]
pub struct StreamNodeCursor {
    lp: ListpackCursor,
    master_ms: u64,
    master_seq: u64,
    /// Live entries declared by the master entry.
    pub count: u64,
    /// Deleted entries declared by the master entry.
    pub deleted: u64,
    master_fields: Vec<usize>,
    remaining: u64,
    flagged_deleted: u64,
    positions: Vec<(usize, usize)>,
}

fn int_of(e: Option<Element<'_>>, pos: usize, what: &str) -> CodecResult<i64> {
    match e {
        Some(Element::Int(v)) => Ok(v),
        Some(Element::Str(s)) => crate::int::parse_canonical_i64(s).ok_or_else(|| {
            CodecError::new(
                pos,
                "stream-listpack",
                format!("stream listpack {what} is not an integer"),
            )
        }),
        None => Err(CodecError::new(
            pos,
            "stream-listpack",
            format!("stream listpack ends before {what}"),
        )),
    }
}

impl StreamNodeCursor {
    /// Parses the master entry of `blob` whose node key is `master_ms-master_seq`.
    pub fn new(blob: &[u8], master_ms: u64, master_seq: u64) -> CodecResult<Self> {
        Self::with_buffers(blob, master_ms, master_seq, Vec::new(), Vec::new())
    }

    /// Starts over on the next node (as [`StreamNodeCursor::new`]), keeping the buffers of
    /// the master fields and entry positions, so a stream's nodes are walked without an
    /// allocation each. On an error the cursor is left unusable until the next `reset`.
    pub fn reset(&mut self, blob: &[u8], master_ms: u64, master_seq: u64) -> CodecResult<()> {
        let master_fields = std::mem::take(&mut self.master_fields);
        let positions = std::mem::take(&mut self.positions);
        self.remaining = 0;
        *self = Self::with_buffers(blob, master_ms, master_seq, master_fields, positions)?;
        Ok(())
    }

    fn with_buffers(
        blob: &[u8],
        master_ms: u64,
        master_seq: u64,
        mut master_fields: Vec<usize>,
        mut positions: Vec<(usize, usize)>,
    ) -> CodecResult<Self> {
        master_fields.clear();
        positions.clear();
        // The header's element count is not checked (the server does not check it either);
        // `header_count_mismatch` reports it.
        let mut lp = ListpackCursor::new(blob)?.without_count_check();
        let p = lp.position();
        let count = int_of(lp.next(blob)?, p, "master entry count")?;
        let p = lp.position();
        let deleted = int_of(lp.next(blob)?, p, "master deleted count")?;
        let p = lp.position();
        let nfields = int_of(lp.next(blob)?, p, "master field count")?;
        let (count, deleted, nfields) = match (
            u64::try_from(count),
            u64::try_from(deleted),
            usize::try_from(nfields),
        ) {
            (Ok(c), Ok(d), Ok(n)) => (c, d, n),
            _ => {
                return Err(CodecError::new(
                    p,
                    "stream-listpack",
                    "negative count in stream master entry",
                ))
            }
        };
        // Every master field needs at least 2 bytes of listpack.
        if nfields > blob.len() / 2 {
            return Err(CodecError::new(
                p,
                "stream-listpack",
                format!("master field count {nfields} exceeds the listpack size"),
            ));
        }
        master_fields.reserve(nfields);
        for _ in 0..nfields {
            let p = lp.position();
            if lp.next(blob)?.is_none() {
                return Err(CodecError::new(
                    p,
                    "stream-listpack",
                    "stream listpack ends inside the master fields",
                ));
            }
            master_fields.push(p);
        }
        let p = lp.position();
        if int_of(lp.next(blob)?, p, "master terminator")? != 0 {
            return Err(CodecError::new(
                p,
                "stream-listpack",
                "stream master entry terminator is not 0",
            ));
        }
        let remaining = count
            .checked_add(deleted)
            .ok_or_else(|| CodecError::new(0, "stream-listpack", "entry count overflows"))?;
        Ok(StreamNodeCursor {
            lp,
            master_ms,
            master_seq,
            count,
            deleted,
            master_fields,
            remaining,
            flagged_deleted: 0,
            positions,
        })
    }

    /// The node's master ID, milliseconds part.
    pub fn master_ms(&self) -> u64 {
        self.master_ms
    }

    /// The node's master ID, sequence part.
    pub fn master_seq(&self) -> u64 {
        self.master_seq
    }

    /// The next entry, or `None` after the last one (checking that the listpack ends there).
    pub fn next_entry(&mut self, blob: &[u8]) -> CodecResult<Option<NodeEntry>> {
        self.positions.clear();
        if self.remaining == 0 {
            let p = self.lp.position();
            if self.lp.next(blob)?.is_some() {
                return Err(CodecError::new(
                    p,
                    "stream-listpack",
                    "stream listpack has elements after its last entry",
                ));
            }
            return Ok(None);
        }
        self.remaining -= 1;
        let start = self.lp.position();
        let flags = int_of(self.lp.next(blob)?, start, "entry flags")?;
        let p = self.lp.position();
        let ms_delta = int_of(self.lp.next(blob)?, p, "entry ms delta")?;
        let p = self.lp.position();
        let seq_delta = int_of(self.lp.next(blob)?, p, "entry seq delta")?;
        // Deltas are stored as int64 and added modulo 2^64, exactly as the server does.
        let ms = self.master_ms.wrapping_add(ms_delta as u64);
        let seq = self.master_seq.wrapping_add(seq_delta as u64);
        let lp_count_expected = if flags & FLAG_SAMEFIELDS != 0 {
            for i in 0..self.master_fields.len() {
                let vp = self.lp.position();
                if self.lp.next(blob)?.is_none() {
                    return Err(CodecError::new(
                        vp,
                        "stream-listpack",
                        "stream listpack ends inside an entry",
                    ));
                }
                let fp = self.master_fields.get(i).copied().unwrap_or(0);
                self.positions.push((fp, vp));
            }
            self.master_fields.len() as i64 + 3
        } else {
            let p = self.lp.position();
            let nf = int_of(self.lp.next(blob)?, p, "entry field count")?;
            let nf = usize::try_from(nf)
                .ok()
                .filter(|&n| n <= blob.len() / 4)
                .ok_or_else(|| {
                    CodecError::new(
                        p,
                        "stream-listpack",
                        format!("entry field count {nf} is impossible"),
                    )
                })?;
            for _ in 0..nf {
                let fp = self.lp.position();
                let f = self.lp.next(blob)?;
                let vp = self.lp.position();
                let v = self.lp.next(blob)?;
                if f.is_none() || v.is_none() {
                    return Err(CodecError::new(
                        fp,
                        "stream-listpack",
                        "stream listpack ends inside an entry",
                    ));
                }
                self.positions.push((fp, vp));
            }
            2 * nf as i64 + 4
        };
        let p = self.lp.position();
        let lp_count = int_of(self.lp.next(blob)?, p, "entry lp-count")?;
        if lp_count != lp_count_expected {
            return Err(CodecError::new(
                p,
                "stream-listpack",
                format!("entry lp-count is {lp_count}, expected {lp_count_expected}"),
            ));
        }
        let deleted = flags & FLAG_DELETED != 0;
        if deleted {
            self.flagged_deleted += 1;
        }
        Ok(Some(NodeEntry {
            ms,
            seq,
            deleted,
            fields: self.positions.len(),
        }))
    }

    /// After the last entry (`next_entry` returned `None`): `(declared, found)` when the
    /// listpack header declares an element count other than the elements found. The server
    /// loads such a node (it never reads that count), so this is a writer's slip, not a
    /// reason to refuse the file.
    pub fn header_count_mismatch(&self) -> Option<(u16, u32)> {
        self.lp.count_mismatch()
    }

    /// Entries with the DELETED flag seen so far.
    pub fn flagged_deleted(&self) -> u64 {
        self.flagged_deleted
    }

    /// Field `i` of the current entry as `(field, value)`.
    pub fn field<'a>(&self, blob: &'a [u8], i: usize) -> CodecResult<(Element<'a>, Element<'a>)> {
        let (fp, vp) = self
            .positions
            .get(i)
            .copied()
            .ok_or_else(|| CodecError::new(0, "stream-listpack", "field index out of range"))?;
        Ok((element_at(blob, fp)?, element_at(blob, vp)?))
    }

    /// Positions (field, value) of the current entry's elements inside the blob.
    pub fn positions(&self) -> &[(usize, usize)] {
        &self.positions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format document's stream node (§4.6): master 1-1 with fields `name` and `age`,
    /// entries 1-1 (`name` = `a`, `age` = 1), 1-2 (deleted) and 2-0 (`other` = `x`).
    fn doc_listpack() -> Vec<u8> {
        vec![
            0x49, 0, 0, 0, 0x19, 0, 0x02, 0x01, 0x01, 0x01, 0x02, 0x01, 0x84, b'n', b'a', b'm',
            b'e', 0x05, 0x83, b'a', b'g', b'e', 0x04, 0x00, 0x01, 0x02, 0x01, 0x00, 0x01, 0x00,
            0x01, 0x81, b'a', 0x02, 0x01, 0x01, 0x05, 0x01, 0x03, 0x01, 0x00, 0x01, 0x01, 0x01,
            0x81, b'b', 0x02, 0x02, 0x01, 0x05, 0x01, 0x00, 0x01, 0x01, 0x01, 0xdf, 0xff, 0x02,
            0x01, 0x01, 0x85, b'o', b't', b'h', b'e', b'r', 0x06, 0x81, b'x', 0x02, 0x06, 0x01,
            0xff,
        ]
    }

    /// The master entry ends with a 0 element (Redis's `streamValidateListpackIntegrity`
    /// refuses the node otherwise).
    #[test]
    fn the_master_terminator_must_be_0() {
        let mut lp = doc_listpack();
        assert!(StreamNodeCursor::new(&lp, 1, 1).is_ok());
        lp[23] = 0x01; // the terminator (after the master field `age`) as 1
        let e = StreamNodeCursor::new(&lp, 1, 1).unwrap_err();
        assert_eq!((e.code, e.offset), ("stream-listpack", 23), "{e}");
        assert!(e.message.contains("terminator"), "{e}");
    }

    #[test]
    fn doc_example() {
        let lp = doc_listpack();
        assert_eq!(lp.len(), 73);
        let mut c = StreamNodeCursor::new(&lp, 1, 1).unwrap();
        assert_eq!((c.count, c.deleted), (2, 1));
        let e = c.next_entry(&lp).unwrap().unwrap();
        assert_eq!((e.ms, e.seq, e.deleted, e.fields), (1, 1, false, 2));
        let (f, v) = c.field(&lp, 0).unwrap();
        assert_eq!((f, v), (Element::Str(b"name"), Element::Str(b"a")));
        let (f, v) = c.field(&lp, 1).unwrap();
        assert_eq!((f, v), (Element::Str(b"age"), Element::Int(1)));
        let e = c.next_entry(&lp).unwrap().unwrap();
        assert_eq!((e.ms, e.seq, e.deleted), (1, 2, true));
        let e = c.next_entry(&lp).unwrap().unwrap();
        assert_eq!((e.ms, e.seq, e.deleted, e.fields), (2, 0, false, 1));
        assert_eq!(
            c.field(&lp, 0).unwrap(),
            (Element::Str(b"other"), Element::Str(b"x"))
        );
        assert_eq!(c.next_entry(&lp).unwrap(), None);
        assert_eq!(c.flagged_deleted(), 1);
        assert_eq!(c.header_count_mismatch(), None);
        // `reset` onto the same node, with another master ID, starts afresh: counts,
        // deleted flags, entry IDs and field positions as a new cursor gives them.
        c.reset(&lp, 7, 0).unwrap();
        let mut fresh = StreamNodeCursor::new(&lp, 7, 0).unwrap();
        assert_eq!((c.count, c.deleted, c.flagged_deleted()), (2, 1, 0));
        loop {
            let (a, b) = (c.next_entry(&lp).unwrap(), fresh.next_entry(&lp).unwrap());
            assert_eq!(a, b);
            assert_eq!(c.positions(), fresh.positions());
            if a.is_none() {
                break;
            }
        }
        assert_eq!(c.flagged_deleted(), 1);
        // A reset onto a broken node fails; the next reset onto a good one works again.
        assert!(c.reset(&lp[..20], 1, 1).is_err());
        c.reset(&lp, 1, 1).unwrap();
        assert_eq!(c.next_entry(&lp).unwrap().map(|e| e.fields), Some(2));
        // A wrong header count (0x19 = 25 elements): the node still reads to its end (the
        // server never reads that count), and the mismatch is reported once it is known.
        for (declared, want) in [
            (24u8, Some((24, 25))),
            (0, Some((0, 25))),
            (26, Some((26, 25))),
        ] {
            let mut m = lp.clone();
            m[4] = declared;
            let mut c = StreamNodeCursor::new(&m, 1, 1).unwrap();
            let mut entries = 0;
            while c.next_entry(&m).unwrap().is_some() {
                assert_eq!(c.header_count_mismatch(), None, "not known before the end");
                entries += 1;
            }
            assert_eq!((entries, c.header_count_mismatch()), (3, want));
            // A generic listpack cursor over the same bytes still refuses it.
            let mut g = ListpackCursor::new(&m).unwrap();
            let err = loop {
                match g.next(&m) {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("count {declared} accepted"),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.code, "listpack-count");
        }
        // 65535 means "count by scanning": never a mismatch.
        let mut m = lp.clone();
        m[4] = 0xFF;
        m[5] = 0xFF;
        let mut c = StreamNodeCursor::new(&m, 1, 1).unwrap();
        while c.next_entry(&m).unwrap().is_some() {}
        assert_eq!(c.header_count_mismatch(), None);
        // Corruptions never panic.
        for i in 0..lp.len() {
            for v in [0u8, 1, 2, 3, 0x7f, 0xdf, 0xff] {
                let mut m = lp.clone();
                m[i] = v;
                if let Ok(mut c) = StreamNodeCursor::new(&m, 1, 1) {
                    while let Ok(Some(_)) = c.next_entry(&m) {}
                }
            }
        }
    }
}
