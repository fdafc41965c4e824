//! Target engine lines and what a file written for each may contain (format reference §7.1).

use std::fmt;
use std::str::FromStr;

use rdb_format::double::ScoreStyle;
use rdb_format::{Header, Magic, RdbType};

/// The engine line a file must load on (the `--target` values of the CLI contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Redis 6.0 (RDB 9).
    Redis60,
    /// Redis 6.2 (RDB 9).
    Redis62,
    /// Redis 7.0 (RDB 10).
    Redis70,
    /// ElastiCache's "Redis OSS 7.1" (not an open-source release): written as for Redis 7.0
    /// (RDB 10, which it reads: it restores 7.0 backups); whether it reads RDB 11 is not
    /// documented.
    Redis71,
    /// Redis 7.2 (RDB 11).
    Redis72,
    /// Redis 7.4 (RDB 12).
    Redis74,
    /// Valkey 7.2 (RDB 11).
    Valkey72,
    /// Valkey 8.0 (RDB 11).
    Valkey80,
    /// Valkey 8.1 (RDB 11).
    Valkey81,
    /// Valkey 8.2 (RDB 11, as 8.1).
    Valkey82,
    /// Valkey 9.0: RDB 11, or `VALKEY080` when a hash has field TTLs.
    Valkey90,
}

/// How hash field TTLs are stored for a target, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTtlFormat {
    /// Redis 7.4+: type 25 (listpack-ex) when small, else type 24 (metadata).
    Redis,
    /// Valkey 9.0+ (`VALKEY080`): type 22 (HASH_2).
    Valkey,
}

/// How per-slot sizing information is written for cluster node files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotInfoFormat {
    /// Redis 7.4+: opcode `F4` before each slot's keys.
    Opcode,
    /// Valkey 8.0+: the `slot-info` AUX field `"slot,keys,expires"`.
    Aux,
}

impl Target {
    /// Every target, oldest first (Redis lines, then Valkey lines).
    pub const ALL: [Target; 11] = [
        Target::Redis60,
        Target::Redis62,
        Target::Redis70,
        Target::Redis71,
        Target::Redis72,
        Target::Redis74,
        Target::Valkey72,
        Target::Valkey80,
        Target::Valkey81,
        Target::Valkey82,
        Target::Valkey90,
    ];

    /// The CLI name (`redis-7.0`, `valkey-9.0`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Target::Redis60 => "redis-6.0",
            Target::Redis62 => "redis-6.2",
            Target::Redis70 => "redis-7.0",
            Target::Redis71 => "redis-7.1",
            Target::Redis72 => "redis-7.2",
            Target::Redis74 => "redis-7.4",
            Target::Valkey72 => "valkey-7.2",
            Target::Valkey80 => "valkey-8.0",
            Target::Valkey81 => "valkey-8.1",
            Target::Valkey82 => "valkey-8.2",
            Target::Valkey90 => "valkey-9.0",
        }
    }

    /// Whether this is a Valkey line.
    pub fn is_valkey(self) -> bool {
        matches!(
            self,
            Target::Valkey72
                | Target::Valkey80
                | Target::Valkey81
                | Target::Valkey82
                | Target::Valkey90
        )
    }

    /// The RDB version written when no VALKEY-only feature is needed: 9, 10, 11 or 12.
    /// (Valkey 9.0 writes 80 only for hashes with field TTLs, see [`Target::header`].)
    pub fn rdb_version(self) -> u16 {
        match self {
            Target::Redis60 | Target::Redis62 => 9,
            Target::Redis70 | Target::Redis71 => 10,
            Target::Redis72
            | Target::Valkey72
            | Target::Valkey80
            | Target::Valkey81
            | Target::Valkey82
            | Target::Valkey90 => 11,
            Target::Redis74 => 12,
        }
    }

    /// How this line stores a sorted-set score in a listpack / ziplist: Redis 6.x through its
    /// ziplist (`%.17g` text, integer-looking text as integers), Redis 7.0 `%.17g` text,
    /// later lines `fpconv_dtoa`'s Grisu2 text (integral scores are integers from 7.0 on).
    pub fn score_style(self) -> ScoreStyle {
        match self {
            Target::Redis60 | Target::Redis62 => ScoreStyle::Ziplist17g,
            Target::Redis70 | Target::Redis71 => ScoreStyle::Listpack17g,
            Target::Redis72
            | Target::Redis74
            | Target::Valkey72
            | Target::Valkey80
            | Target::Valkey81
            | Target::Valkey82
            | Target::Valkey90 => ScoreStyle::Fpconv,
        }
    }

    /// The magic written when no VALKEY-only feature is needed (always `REDIS`).
    pub fn magic(self) -> Magic {
        Magic::Redis
    }

    /// The file header: `REDIS` + [`Target::rdb_version`], except Valkey 9.0 with
    /// `field_ttls` (some hash has field TTLs), which needs `VALKEY080`.
    pub fn header(self, field_ttls: bool) -> Header {
        if self == Target::Valkey90 && field_ttls {
            Header {
                magic: Magic::Valkey,
                version: 80,
            }
        } else {
            Header {
                magic: self.magic(),
                version: self.rdb_version(),
            }
        }
    }

    /// The server version written in the version AUX field (`7.0.15`, `8.0.1`, ...).
    pub fn server_version(self) -> &'static str {
        match self {
            Target::Redis60 => "6.0.20",
            Target::Redis62 => "6.2.14",
            Target::Redis70 | Target::Redis71 => "7.0.15",
            Target::Redis72 => "7.2.6",
            Target::Redis74 => "7.4.1",
            Target::Valkey72 => "7.2.8",
            Target::Valkey80 => "8.0.1",
            Target::Valkey81 => "8.1.1",
            Target::Valkey82 => "8.2.0",
            Target::Valkey90 => "9.0.0",
        }
    }

    /// The AUX key of the version: `redis-ver`, or `valkey-ver` for Valkey lines.
    pub fn version_aux_key(self) -> &'static str {
        if self.is_valkey() {
            "valkey-ver"
        } else {
            "redis-ver"
        }
    }

    /// Whether function libraries (opcode `F5`, RDB ≥ 10) can be written.
    pub fn supports_functions(self) -> bool {
        self.rdb_version() >= 10
    }

    /// Whether a server of this line may run function libraries for `engine` (the name after
    /// a library's `#!`): Lua (any case) on every line; any name from Valkey 8.1 on, where a
    /// module may register a scripting engine. Redis, Valkey 7.2 and 8.0 have no other engine
    /// and no way to add one ("Engine '…' not found").
    pub fn runs_function_engine(self, engine: &[u8]) -> bool {
        engine.eq_ignore_ascii_case(b"lua")
            || matches!(self, Target::Valkey81 | Target::Valkey82 | Target::Valkey90)
    }

    /// How hash field TTLs are written, or `None` when the target cannot hold them.
    pub fn field_ttl_format(self) -> Option<FieldTtlFormat> {
        match self {
            Target::Redis74 => Some(FieldTtlFormat::Redis),
            Target::Valkey90 => Some(FieldTtlFormat::Valkey),
            _ => None,
        }
    }

    /// How slot information is written for cluster node files, or `None` when the target
    /// has no form for it (Redis ≤ 7.2, Valkey 7.2).
    pub fn slot_info_format(self) -> Option<SlotInfoFormat> {
        match self {
            Target::Redis74 => Some(SlotInfoFormat::Opcode),
            Target::Valkey80 | Target::Valkey81 | Target::Valkey82 | Target::Valkey90 => {
                Some(SlotInfoFormat::Aux)
            }
            _ => None,
        }
    }

    /// The stream type this target's server writes: 15, 19 or 21.
    pub fn stream_type(self) -> RdbType {
        match self.rdb_version() {
            9 => RdbType::STREAM_LISTPACKS,
            10 => RdbType::STREAM_LISTPACKS_2,
            _ => RdbType::STREAM_LISTPACKS_3,
        }
    }

    /// Whether sets may be written as listpacks (type 20, RDB ≥ 11).
    pub fn has_set_listpack(self) -> bool {
        self.rdb_version() >= 11
    }

    /// Whether compact encodings are listpacks (RDB ≥ 10) rather than ziplists (RDB 9).
    pub fn has_listpacks(self) -> bool {
        self.rdb_version() >= 10
    }

    /// Whether a file with `header` may contain a record of type `t` for this target: the
    /// types of the §7.1 table plus the plain types every loader accepts (1, 2, 4, 5), the
    /// module type 7, and the legacy compact types older servers wrote (9–14). Type 6, the
    /// release-candidate types 22/23 of Redis 7.4 and anything newer are refused.
    pub fn may_emit_type(self, header: Header, t: RdbType) -> bool {
        let v = self.rdb_version();
        match t.0 {
            0..=5 | 7 | 9..=15 => true,
            16..=19 => v >= 10,
            20 | 21 => v >= 11,
            22 => {
                header.magic == Magic::Valkey
                    && self.field_ttl_format() == Some(FieldTtlFormat::Valkey)
            }
            24 | 25 => {
                header.magic == Magic::Redis
                    && self.field_ttl_format() == Some(FieldTtlFormat::Redis)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Target`] name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTarget(pub String);

impl fmt::Display for UnknownTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        write!(
            f,
            "unknown target {:?} (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownTarget {}

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTarget(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_versions() {
        let expect = [
            ("redis-6.0", 9),
            ("redis-6.2", 9),
            ("redis-7.0", 10),
            ("redis-7.1", 10),
            ("redis-7.2", 11),
            ("redis-7.4", 12),
            ("valkey-7.2", 11),
            ("valkey-8.0", 11),
            ("valkey-8.1", 11),
            ("valkey-8.2", 11),
            ("valkey-9.0", 11),
        ];
        for (t, (name, v)) in Target::ALL.iter().zip(expect) {
            assert_eq!(t.name(), name);
            assert_eq!(t.to_string(), name);
            assert_eq!(name.parse::<Target>(), Ok(*t));
            assert_eq!(t.rdb_version(), v);
        }
        assert!("redis-5.0".parse::<Target>().is_err());
        assert_eq!(&Target::Valkey90.header(true).to_bytes(), b"VALKEY080");
        assert_eq!(&Target::Valkey90.header(false).to_bytes(), b"REDIS0011");
        assert_eq!(&Target::Redis74.header(true).to_bytes(), b"REDIS0012");
    }

    #[test]
    fn emit_table() {
        let h = |t: Target| t.header(true);
        assert!(!Target::Redis62.may_emit_type(h(Target::Redis62), RdbType::HASH_LISTPACK));
        assert!(Target::Redis62.may_emit_type(h(Target::Redis62), RdbType::HASH_ZIPLIST));
        assert!(Target::Redis70.may_emit_type(h(Target::Redis70), RdbType::STREAM_LISTPACKS_2));
        assert!(!Target::Redis70.may_emit_type(h(Target::Redis70), RdbType::SET_LISTPACK));
        assert!(Target::Redis74.may_emit_type(h(Target::Redis74), RdbType::HASH_LISTPACK_EX));
        assert!(!Target::Redis74.may_emit_type(h(Target::Redis74), RdbType::TYPE_22));
        assert!(Target::Valkey90.may_emit_type(h(Target::Valkey90), RdbType::TYPE_22));
        assert!(!Target::Valkey90.may_emit_type(Target::Valkey90.header(false), RdbType::TYPE_22));
        assert!(!Target::Valkey90.may_emit_type(h(Target::Valkey90), RdbType::HASH_METADATA));
        assert!(!Target::Redis72.may_emit_type(h(Target::Redis72), RdbType::MODULE_PRE_GA));
        assert_eq!(Target::Redis62.stream_type(), RdbType::STREAM_LISTPACKS);
        assert_eq!(Target::Valkey81.stream_type(), RdbType::STREAM_LISTPACKS_3);
        assert_eq!(Target::Valkey72.slot_info_format(), None);
        assert_eq!(
            Target::Valkey80.slot_info_format(),
            Some(SlotInfoFormat::Aux)
        );
        assert_eq!(
            Target::Redis74.slot_info_format(),
            Some(SlotInfoFormat::Opcode)
        );
    }
}
