//! Sorted sets: listpack (17, RDB ≥ 10) / ziplist (12, RDB 9), or skiplist (5, ZSET_2).

use std::cmp::Ordering;
use std::io::{self, Write};

use rdb_format::double::ScoreElement;
use rdb_format::length::encode_length;
use rdb_format::RdbType;

use super::{first_duplicate, Encoder};
use crate::sink::Sink;

/// The encoding chosen for a sorted set, with the order its members are written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZSetPlan {
    /// Listpack (RDB ≥ 10) or ziplist (RDB 9) pairs, ascending by (score, member).
    Compact(Vec<usize>),
    /// ZSET_2, from the highest (score, member) to the lowest, as the server writes it.
    Skiplist(Vec<usize>),
}

/// The server's order of zset members: by score, ties by member bytes.
pub(crate) fn cmp_pairs(a: (&[u8], f64), b: (&[u8], f64)) -> Ordering {
    a.1.partial_cmp(&b.1)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.0.cmp(b.0))
}

/// Validates (no NaN, no duplicate member) and chooses the encoding of a non-empty zset.
pub(crate) fn plan<T: AsRef<[u8]>>(pairs: &[(T, f64)], enc: &Encoder) -> Result<ZSetPlan, String> {
    if let Some((m, _)) = pairs.iter().find(|(_, s)| s.is_nan()) {
        return Err(format!(
            "member {} has a NaN score",
            rdb_format::escape_bytes(m.as_ref(), 64)
        ));
    }
    if let Some(d) = first_duplicate(pairs, |(m, _)| m.as_ref()) {
        return Err(format!(
            "duplicate zset member {}",
            rdb_format::escape_bytes(d, 64)
        ));
    }
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    let key = |i: usize| {
        pairs
            .get(i)
            .map(|(m, s)| (m.as_ref(), *s))
            .unwrap_or((&[][..], 0.0))
    };
    // Members are distinct and scores not NaN, so no two pairs compare equal: an unstable
    // sort gives the one order (without a scratch allocation).
    order.sort_unstable_by(|&a, &b| cmp_pairs(key(a), key(b)));
    let cfg = &enc.cfg;
    let small = pairs.len() <= cfg.zset_max_listpack_entries
        && pairs
            .iter()
            .all(|(m, _)| m.as_ref().len() <= cfg.zset_max_listpack_value);
    if small {
        Ok(ZSetPlan::Compact(order))
    } else {
        order.reverse();
        Ok(ZSetPlan::Skiplist(order))
    }
}

/// The RDB type of a planned zset.
pub(crate) fn rdb_type(plan: &ZSetPlan, enc: &Encoder) -> RdbType {
    match plan {
        ZSetPlan::Compact(_) if enc.listpacks() => RdbType::ZSET_LISTPACK,
        ZSetPlan::Compact(_) => RdbType::ZSET_ZIPLIST,
        ZSetPlan::Skiplist(_) => RdbType::ZSET_2,
    }
}

/// Writes the value of a zset with the chosen encoding.
pub(crate) fn write<W: Write, T: AsRef<[u8]>>(
    enc: &mut Encoder,
    sink: &mut Sink<W>,
    pairs: &[(T, f64)],
    plan: &ZSetPlan,
) -> io::Result<()> {
    match plan {
        ZSetPlan::Compact(order) => {
            let listpacks = enc.listpacks();
            // The score element the target line itself stores (byte-identical blobs).
            let style = enc.target.score_style();
            for (m, score) in order.iter().filter_map(|&i| pairs.get(i)) {
                let m = m.as_ref();
                let score = style.element(*score);
                // A score's text is never integer-like (`ScoreStyle::element` makes those
                // integer elements), so it goes in as a string without the integer parse.
                if listpacks {
                    enc.lp.push_bytes(m);
                    match score {
                        ScoreElement::Int(v) => enc.lp.push_int(v),
                        ScoreElement::Text(t) => enc.lp.push_str(t.as_bytes()),
                    }
                } else {
                    enc.zl.push_bytes(m);
                    match score {
                        ScoreElement::Int(v) => enc.zl.push_int(v),
                        ScoreElement::Text(t) => enc.zl.push_str(t.as_bytes()),
                    }
                }
            }
            if listpacks {
                enc.flush_listpack(&mut sink.buf);
            } else {
                enc.flush_ziplist(&mut sink.buf);
            }
        }
        ZSetPlan::Skiplist(order) => {
            encode_length(order.len() as u64, &mut sink.buf);
            for (m, score) in order.iter().filter_map(|&i| pairs.get(i)) {
                enc.string(m.as_ref(), &mut sink.buf);
                sink.buf.extend_from_slice(&score.to_le_bytes());
                sink.maybe_flush()?;
            }
        }
    }
    sink.maybe_flush()
}
