//! Hashes: listpack (16) / ziplist (13) or hashtable (4); with field TTLs: Redis 7.4
//! listpack-ex (25) / metadata (24), Valkey 9.0 HASH_2 (22).

use std::io::{self, Write};

use rdb_format::length::encode_length;
use rdb_format::{Magic, RdbType};
use rdb_model::HashField;

use super::{first_duplicate, Encoder};
use crate::sink::Sink;
use crate::target::FieldTtlFormat;

/// Largest field expiry Redis accepts (`EB_EXPIRE_TIME_MAX`, 2^48 − 1).
pub(crate) const REDIS_FIELD_TTL_MAX: i64 = (1 << 48) - 1;

/// The encoding chosen for a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HashPlan {
    /// Listpack (RDB ≥ 10) or ziplist (RDB 9) of field/value pairs.
    Compact,
    /// Type 4.
    Hashtable,
    /// Redis type 25: triplets, fields with a TTL first (ascending TTL), then the others.
    ListpackEx {
        /// Write order.
        order: Vec<usize>,
        /// Smallest TTL.
        min_expire: i64,
    },
    /// Redis type 24 with the smallest TTL as base.
    Metadata {
        /// Smallest TTL.
        min_expire: i64,
    },
    /// Valkey type 22.
    ValkeyHash2,
}

/// Why a hash cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlanError {
    /// The server would refuse the value.
    Invalid(String),
    /// The target cannot represent it (field TTLs).
    Unsupported(String),
}

/// A plan and how many field TTLs it drops (only with `drop_unsupported`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) plan: HashPlan,
    pub(crate) dropped_ttls: u64,
}

fn is_small(fields: &[HashField], enc: &Encoder) -> bool {
    let cfg = &enc.cfg;
    fields.len() <= cfg.hash_max_listpack_entries
        && fields.iter().all(|f| {
            f.field.len() <= cfg.hash_max_listpack_value
                && f.value.len() <= cfg.hash_max_listpack_value
        })
}

/// How the target of `enc` writes hash field TTLs: `Some` format, `None` when they are dropped
/// (`drop_unsupported`), or why it cannot hold them.
pub(crate) fn ttl_format(
    enc: &Encoder,
    drop_unsupported: bool,
) -> Result<Option<FieldTtlFormat>, String> {
    match enc.target.field_ttl_format() {
        Some(FieldTtlFormat::Redis) => Ok(Some(FieldTtlFormat::Redis)),
        Some(FieldTtlFormat::Valkey) if enc.header.magic == Magic::Valkey => {
            Ok(Some(FieldTtlFormat::Valkey))
        }
        _ if drop_unsupported => Ok(None),
        Some(FieldTtlFormat::Valkey) => Err(
            "hash field TTLs in an RDB 11 file (build the writer with field_ttls(true) for VALKEY080)"
                .into(),
        ),
        None => Err("hash field TTLs".into()),
    }
}

/// Why the servers reading `format` refuse `field`'s TTL `expiry`, if they do: Redis takes
/// 1..=2^48 − 1, Valkey any time not negative.
pub(crate) fn ttl_refused(format: FieldTtlFormat, field: &[u8], expiry: i64) -> Option<String> {
    let what = match format {
        FieldTtlFormat::Redis if !(1..=REDIS_FIELD_TTL_MAX).contains(&expiry) => {
            "is outside 1..=2^48-1"
        }
        FieldTtlFormat::Valkey if expiry < 0 => "is negative",
        _ => return None,
    };
    Some(format!(
        "hash field {} expiry {expiry} {what}",
        rdb_format::escape_bytes(field, 64)
    ))
}

/// Validates and chooses the encoding of a non-empty hash.
pub(crate) fn plan(
    fields: &[HashField],
    enc: &Encoder,
    drop_unsupported: bool,
) -> Result<Planned, PlanError> {
    if let Some(d) = first_duplicate(fields, |f| f.field.as_ref()) {
        return Err(PlanError::Invalid(format!(
            "duplicate hash field {}",
            rdb_format::escape_bytes(d, 64)
        )));
    }
    let small = is_small(fields, enc);
    let ttls = fields.iter().filter(|f| f.expire_at_ms.is_some()).count() as u64;
    let plain = if small {
        HashPlan::Compact
    } else {
        HashPlan::Hashtable
    };
    if ttls == 0 {
        return Ok(Planned {
            plan: plain,
            dropped_ttls: 0,
        });
    }
    let format = match ttl_format(enc, drop_unsupported) {
        Ok(Some(format)) => format,
        Ok(None) => {
            return Ok(Planned {
                plan: plain,
                dropped_ttls: ttls,
            })
        }
        Err(what) => return Err(PlanError::Unsupported(what)),
    };
    if let Some(what) = fields
        .iter()
        .find_map(|f| ttl_refused(format, &f.field, f.expire_at_ms?))
    {
        return Err(PlanError::Invalid(what));
    }
    match format {
        FieldTtlFormat::Redis => {
            let min_expire = fields
                .iter()
                .filter_map(|f| f.expire_at_ms)
                .min()
                .unwrap_or(0);
            if small {
                let mut order: Vec<usize> = (0..fields.len()).collect();
                // Stable: TTL fields ascending by TTL, then the fields without TTL, in order.
                order.sort_by_key(|&i| match fields.get(i).and_then(|f| f.expire_at_ms) {
                    Some(e) => (0u8, e),
                    None => (1u8, 0),
                });
                Ok(Planned {
                    plan: HashPlan::ListpackEx { order, min_expire },
                    dropped_ttls: 0,
                })
            } else {
                Ok(Planned {
                    plan: HashPlan::Metadata { min_expire },
                    dropped_ttls: 0,
                })
            }
        }
        FieldTtlFormat::Valkey => Ok(Planned {
            plan: HashPlan::ValkeyHash2,
            dropped_ttls: 0,
        }),
    }
}

/// The RDB type of a planned hash.
pub(crate) fn rdb_type(plan: &HashPlan, enc: &Encoder) -> RdbType {
    match plan {
        HashPlan::Compact if enc.listpacks() => RdbType::HASH_LISTPACK,
        HashPlan::Compact => RdbType::HASH_ZIPLIST,
        HashPlan::Hashtable => RdbType::HASH,
        HashPlan::ListpackEx { .. } => RdbType::HASH_LISTPACK_EX,
        HashPlan::Metadata { .. } => RdbType::HASH_METADATA,
        HashPlan::ValkeyHash2 => RdbType::TYPE_22,
    }
}

/// Writes the value of a hash with the chosen encoding (field TTLs are ignored by the plain
/// encodings, which is how they are dropped).
pub(crate) fn write<W: Write>(
    enc: &mut Encoder,
    sink: &mut Sink<W>,
    fields: &[HashField],
    plan: &HashPlan,
) -> io::Result<()> {
    match plan {
        HashPlan::Compact => {
            if enc.listpacks() {
                for f in fields {
                    enc.lp.push_bytes(&f.field);
                    enc.lp.push_bytes(&f.value);
                }
                enc.flush_listpack(&mut sink.buf);
            } else {
                for f in fields {
                    enc.zl.push_bytes(&f.field);
                    enc.zl.push_bytes(&f.value);
                }
                enc.flush_ziplist(&mut sink.buf);
            }
        }
        HashPlan::Hashtable => {
            encode_length(fields.len() as u64, &mut sink.buf);
            for f in fields {
                enc.string(&f.field, &mut sink.buf);
                enc.string(&f.value, &mut sink.buf);
                sink.maybe_flush()?;
            }
        }
        HashPlan::ListpackEx { order, min_expire } => {
            sink.buf.extend_from_slice(&min_expire.to_le_bytes());
            for f in order.iter().filter_map(|&i| fields.get(i)) {
                enc.lp.push_bytes(&f.field);
                enc.lp.push_bytes(&f.value);
                enc.lp.push_int(f.expire_at_ms.unwrap_or(0));
            }
            enc.flush_listpack(&mut sink.buf);
        }
        HashPlan::Metadata { min_expire } => {
            sink.buf.extend_from_slice(&min_expire.to_le_bytes());
            encode_length(fields.len() as u64, &mut sink.buf);
            for f in fields {
                let delta = match f.expire_at_ms {
                    Some(e) => e.wrapping_sub(*min_expire).wrapping_add(1) as u64,
                    None => 0,
                };
                encode_length(delta, &mut sink.buf);
                enc.string(&f.field, &mut sink.buf);
                enc.string(&f.value, &mut sink.buf);
                sink.maybe_flush()?;
            }
        }
        HashPlan::ValkeyHash2 => {
            encode_length(fields.len() as u64, &mut sink.buf);
            for f in fields {
                enc.string(&f.field, &mut sink.buf);
                enc.string(&f.value, &mut sink.buf);
                sink.buf
                    .extend_from_slice(&f.expire_at_ms.unwrap_or(-1).to_le_bytes());
                sink.maybe_flush()?;
            }
        }
    }
    sink.maybe_flush()
}
