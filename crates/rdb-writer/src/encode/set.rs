//! Sets: intset (11), listpack (20, RDB ≥ 11) or hashtable (2).

use std::io::{self, Write};

use rdb_format::int::parse_canonical_i64;
use rdb_format::intset;
use rdb_format::length::encode_length;
use rdb_format::RdbType;

use super::{first_duplicate, Encoder};
use crate::sink::Sink;

/// The encoding chosen for a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SetPlan {
    /// Every member a canonical int64: the sorted values.
    Intset(Vec<i64>),
    /// A listpack of the members in the given order.
    Listpack,
    /// Type 2: `len n`, the members in the given order.
    Hashtable,
}

impl SetPlan {
    pub(crate) fn rdb_type(&self) -> RdbType {
        match self {
            SetPlan::Intset(_) => RdbType::SET_INTSET,
            SetPlan::Listpack => RdbType::SET_LISTPACK,
            SetPlan::Hashtable => RdbType::SET,
        }
    }
}

/// Sorted int64 values of `members` when every member is a canonical decimal and there are
/// at most `max` of them.
fn intset_values<T: AsRef<[u8]>>(members: &[T], max: usize) -> Option<Vec<i64>> {
    if members.len() > max {
        return None;
    }
    let mut v = members
        .iter()
        .map(|m| parse_canonical_i64(m.as_ref()))
        .collect::<Option<Vec<i64>>>()?;
    v.sort_unstable();
    Some(v)
}

/// Chooses the encoding the server would use for a non-empty set; `Err` names a duplicate.
pub(crate) fn plan<T: AsRef<[u8]>>(members: &[T], enc: &Encoder) -> Result<SetPlan, String> {
    let cfg = &enc.cfg;
    if let Some(values) = intset_values(members, cfg.set_max_intset_entries) {
        let dup = values.windows(2).find_map(|w| match w {
            [a, b] if a == b => Some(*a),
            _ => None,
        });
        if let Some(d) = dup {
            return Err(format!("duplicate set member \"{d}\""));
        }
        return Ok(SetPlan::Intset(values));
    }
    if let Some(d) = first_duplicate(members, AsRef::as_ref) {
        return Err(format!(
            "duplicate set member {}",
            rdb_format::escape_bytes(d, 64)
        ));
    }
    let small = members.len() <= cfg.set_max_listpack_entries
        && members
            .iter()
            .all(|m| m.as_ref().len() <= cfg.set_max_listpack_value);
    if enc.target.has_set_listpack() && small {
        Ok(SetPlan::Listpack)
    } else {
        Ok(SetPlan::Hashtable)
    }
}

/// Writes the value of a set with the chosen encoding.
pub(crate) fn write<W: Write, T: AsRef<[u8]>>(
    enc: &mut Encoder,
    sink: &mut Sink<W>,
    members: &[T],
    plan: &SetPlan,
) -> io::Result<()> {
    match plan {
        SetPlan::Intset(values) => {
            let mut blob = Vec::with_capacity(8 + values.len() * 8);
            intset::encode(values, &mut blob);
            enc.string(&blob, &mut sink.buf);
        }
        SetPlan::Listpack => {
            for m in members {
                enc.lp.push_bytes(m.as_ref());
            }
            enc.flush_listpack(&mut sink.buf);
        }
        SetPlan::Hashtable => {
            encode_length(members.len() as u64, &mut sink.buf);
            for m in members {
                enc.string(m.as_ref(), &mut sink.buf);
                sink.maybe_flush()?;
            }
        }
    }
    sink.maybe_flush()
}
