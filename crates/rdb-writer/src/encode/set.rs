//! Sets: intset (11), listpack (20, RDB ≥ 11) or hashtable (2).

use std::io::{self, Write};

use rdb_format::int::parse_canonical_i64;
use rdb_format::intset;
use rdb_format::length::encode_length;
use rdb_format::RdbType;

use super::{first_duplicate, Encoder};
use crate::sink::Sink;

/// Largest intset buffers (bytes) the encoder keeps from one set to the next.
const KEEP_BYTES: usize = 1 << 20;

/// The encoding chosen for a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SetPlan {
    /// Every member a canonical int64: the sorted values are in [`Encoder::ints`].
    Intset,
    /// A listpack of the members in the given order.
    Listpack,
    /// Type 2: `len n`, the members in the given order.
    Hashtable,
}

impl SetPlan {
    pub(crate) fn rdb_type(&self) -> RdbType {
        match self {
            SetPlan::Intset => RdbType::SET_INTSET,
            SetPlan::Listpack => RdbType::SET_LISTPACK,
            SetPlan::Hashtable => RdbType::SET,
        }
    }
}

/// Fills `values` with the sorted int64 values of `members` and returns true when every
/// member is a canonical decimal and there are at most `max` of them (otherwise `values`
/// holds no meaning).
fn intset_values<T: AsRef<[u8]>>(members: &[T], max: usize, values: &mut Vec<i64>) -> bool {
    values.clear();
    if members.len() > max {
        return false;
    }
    values.reserve(members.len());
    for m in members {
        match parse_canonical_i64(m.as_ref()) {
            Some(v) => values.push(v),
            None => return false,
        }
    }
    values.sort_unstable();
    true
}

/// Chooses the encoding the server would use for a non-empty set; `Err` names a duplicate.
/// An intset's sorted values are left in `enc.ints`.
pub(crate) fn plan<T: AsRef<[u8]>>(members: &[T], enc: &mut Encoder) -> Result<SetPlan, String> {
    let cfg = &enc.cfg;
    if intset_values(members, cfg.set_max_intset_entries, &mut enc.ints) {
        let dup = enc.ints.windows(2).find_map(|w| match w {
            [a, b] if a == b => Some(*a),
            _ => None,
        });
        if let Some(d) = dup {
            return Err(format!("duplicate set member \"{d}\""));
        }
        return Ok(SetPlan::Intset);
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
        SetPlan::Intset => {
            let mut blob = std::mem::take(&mut enc.blob);
            blob.clear();
            intset::encode(&enc.ints, &mut blob);
            enc.string(&blob, &mut sink.buf);
            // Keep buffers of a usual size, not ones grown for a huge intset (a raised
            // `set-max-intset-entries`).
            if blob.capacity() <= KEEP_BYTES {
                enc.blob = blob;
            }
            if enc.ints.capacity() * 8 > KEEP_BYTES {
                enc.ints = Vec::new();
            }
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
