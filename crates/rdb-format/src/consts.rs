//! Wire constants as named newtypes, and the (magic, version) tables that give them meaning.

use std::fmt;

/// An object type byte (the first byte of a key record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RdbType(pub u8);

#[allow(missing_docs)]
impl RdbType {
    pub const STRING: RdbType = RdbType(0);
    pub const LIST: RdbType = RdbType(1);
    pub const SET: RdbType = RdbType(2);
    pub const ZSET: RdbType = RdbType(3);
    pub const HASH: RdbType = RdbType(4);
    pub const ZSET_2: RdbType = RdbType(5);
    pub const MODULE_PRE_GA: RdbType = RdbType(6);
    pub const MODULE_2: RdbType = RdbType(7);
    pub const HASH_ZIPMAP: RdbType = RdbType(9);
    pub const LIST_ZIPLIST: RdbType = RdbType(10);
    pub const SET_INTSET: RdbType = RdbType(11);
    pub const ZSET_ZIPLIST: RdbType = RdbType(12);
    pub const HASH_ZIPLIST: RdbType = RdbType(13);
    pub const LIST_QUICKLIST: RdbType = RdbType(14);
    pub const STREAM_LISTPACKS: RdbType = RdbType(15);
    pub const HASH_LISTPACK: RdbType = RdbType(16);
    pub const ZSET_LISTPACK: RdbType = RdbType(17);
    pub const LIST_QUICKLIST_2: RdbType = RdbType(18);
    pub const STREAM_LISTPACKS_2: RdbType = RdbType(19);
    pub const SET_LISTPACK: RdbType = RdbType(20);
    pub const STREAM_LISTPACKS_3: RdbType = RdbType(21);
    /// Redis: HASH_METADATA_PRE_GA; Valkey (VALKEY magic): HASH_2.
    pub const TYPE_22: RdbType = RdbType(22);
    /// Redis: HASH_LISTPACK_EX_PRE_GA; Valkey: PATH_HASH (unsupported).
    pub const TYPE_23: RdbType = RdbType(23);
    pub const HASH_METADATA: RdbType = RdbType(24);
    pub const HASH_LISTPACK_EX: RdbType = RdbType(25);

    /// The name `redis-check-rdb` prints for this type (ids 0–25), or `None`.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 26] = [
            "string",
            "list-linked",
            "set-hashtable",
            "zset-v1",
            "hash-hashtable",
            "zset-v2",
            "module-pre-release",
            "module-value",
            "",
            "hash-zipmap",
            "list-ziplist",
            "set-intset",
            "zset-ziplist",
            "hash-ziplist",
            "quicklist",
            "stream",
            "hash-listpack",
            "zset-listpack",
            "quicklist-v2",
            "stream-v2",
            "set-listpack",
            "stream-v3",
            "hash-hashtable-md-pre-release",
            "hash-listpack-md-pre-release",
            "hash-hashtable-md",
            "hash-listpack-md",
        ];
        NAMES
            .get(usize::from(self.0))
            .copied()
            .filter(|n| !n.is_empty())
    }
}

impl fmt::Display for RdbType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({})", self.0),
            None => write!(f, "unknown type {}", self.0),
        }
    }
}

/// An opcode byte (a record that is not a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

#[allow(missing_docs)]
impl Opcode {
    pub const SLOT_IMPORT_OR_KEY_META: Opcode = Opcode(243);
    pub const SLOT_INFO: Opcode = Opcode(244);
    pub const FUNCTION2: Opcode = Opcode(245);
    pub const FUNCTION_PRE_GA: Opcode = Opcode(246);
    pub const MODULE_AUX: Opcode = Opcode(247);
    pub const IDLE: Opcode = Opcode(248);
    pub const FREQ: Opcode = Opcode(249);
    pub const AUX: Opcode = Opcode(250);
    pub const RESIZEDB: Opcode = Opcode(251);
    pub const EXPIRETIME_MS: Opcode = Opcode(252);
    pub const EXPIRETIME: Opcode = Opcode(253);
    pub const SELECTDB: Opcode = Opcode(254);
    pub const EOF: Opcode = Opcode(255);

    /// The opcode's name.
    pub fn name(self) -> &'static str {
        match self.0 {
            242 => "UPDATE",
            243 => "SLOT_IMPORT/KEY_META",
            244 => "SLOT_INFO",
            245 => "FUNCTION2",
            246 => "FUNCTION_PRE_GA",
            247 => "MODULE_AUX",
            248 => "IDLE",
            249 => "FREQ",
            250 => "AUX",
            251 => "RESIZEDB",
            252 => "EXPIRETIME_MS",
            253 => "EXPIRETIME",
            254 => "SELECTDB",
            255 => "EOF",
            _ => "unknown",
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), self.0)
    }
}

/// The file magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `REDIS` + 4 digits.
    Redis,
    /// `VALKEY` + 3 digits (RDB ≥ 80).
    Valkey,
}

impl Magic {
    /// `"REDIS"` or `"VALKEY"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Magic::Redis => "REDIS",
            Magic::Valkey => "VALKEY",
        }
    }
}

/// The header of a file: magic and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Magic.
    pub magic: Magic,
    /// RDB version.
    pub version: u16,
}

/// Size of the header in bytes.
pub const HEADER_LEN: usize = 9;

impl Header {
    /// Parses the 9-byte header: `REDIS` + 4 digits (1..=9999) or `VALKEY` + 3 digits (80..=999).
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, String> {
        fn digits(d: &[u8]) -> Option<u16> {
            let mut v: u16 = 0;
            for &c in d {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + u16::from(c - b'0');
            }
            Some(v)
        }
        let (magic, version) = if b.starts_with(b"REDIS") {
            (Magic::Redis, b.get(5..).and_then(digits))
        } else if b.starts_with(b"VALKEY") {
            (Magic::Valkey, b.get(6..).and_then(digits))
        } else {
            return Err(format!(
                "wrong signature: expected REDIS or VALKEY, found {}",
                crate::escape_bytes(b, 9)
            ));
        };
        let version = version.ok_or_else(|| {
            format!(
                "wrong signature: version is not decimal digits in {}",
                crate::escape_bytes(b, 9)
            )
        })?;
        let ok = match magic {
            Magic::Redis => (1..=9999).contains(&version),
            Magic::Valkey => (80..=999).contains(&version),
        };
        if !ok {
            return Err(format!(
                "unsupported RDB version {version} for magic {}",
                magic.as_str()
            ));
        }
        Ok(Header { magic, version })
    }

    /// The 9 header bytes.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let text = match self.magic {
            Magic::Redis => format!("REDIS{:04}", self.version),
            Magic::Valkey => format!("VALKEY{:03}", self.version),
        };
        for (o, c) in out.iter_mut().zip(text.bytes()) {
            *o = c;
        }
        out
    }

    /// Whether the file ends with an 8-byte CRC after EOF (version ≥ 5).
    pub fn has_checksum(self) -> bool {
        self.magic == Magic::Valkey || self.version >= 5
    }

    /// Whether the 64-bit length form (`0x81`) exists, and `0x82..=0xBF` are invalid (RDB ≥ 8).
    pub fn has_64bit_lengths(self) -> bool {
        self.magic == Magic::Valkey || self.version >= 8
    }

    /// The meaning of an object type byte in this file, or why it cannot be read.
    pub fn classify_type(self, t: RdbType) -> Result<TypeKind, &'static str> {
        use TypeKind as K;
        Ok(match t.0 {
            0 => K::String,
            1 => K::ListLinked,
            2 => K::SetHashtable,
            3 => K::ZSetV1,
            4 => K::HashHashtable,
            5 => K::ZSet2,
            6 => return Err("module value without annotations (pre-GA type 6) cannot be skipped"),
            7 => K::Module2,
            9 => K::HashZipmap,
            10 => K::ListZiplist,
            11 => K::SetIntset,
            12 => K::ZSetZiplist,
            13 => K::HashZiplist,
            14 => K::ListQuicklist,
            15 => K::Stream(1),
            16 => K::HashListpack,
            17 => K::ZSetListpack,
            18 => K::ListQuicklist2,
            19 => K::Stream(2),
            20 => K::SetListpack,
            21 => K::Stream(3),
            22 if self.magic == Magic::Valkey => K::ValkeyHash2,
            22 if self.version >= 12 => K::HashMetadataPreGa,
            23 if self.magic == Magic::Valkey => {
                return Err("Valkey PATH_HASH (type 23) is not supported")
            }
            23 if self.version >= 12 => K::HashListpackExPreGa,
            24 if self.magic == Magic::Redis && self.version >= 12 => K::HashMetadata,
            25 if self.magic == Magic::Redis && self.version >= 12 => K::HashListpackEx,
            26..=33 if self.magic == Magic::Redis && self.version >= 13 => {
                return Err("Redis 8.6+ object type is not supported")
            }
            _ => return Err("invalid object type"),
        })
    }
}

/// What an object type byte means in a given file (after dispatch on magic and version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeKind {
    /// 0
    String,
    /// 1
    ListLinked,
    /// 2
    SetHashtable,
    /// 3 (scores as text)
    ZSetV1,
    /// 4
    HashHashtable,
    /// 5 (binary scores)
    ZSet2,
    /// 7
    Module2,
    /// 9
    HashZipmap,
    /// 10
    ListZiplist,
    /// 11
    SetIntset,
    /// 12
    ZSetZiplist,
    /// 13
    HashZiplist,
    /// 14
    ListQuicklist,
    /// 15 / 19 / 21 (version 1, 2, 3)
    Stream(u8),
    /// 16
    HashListpack,
    /// 17
    ZSetListpack,
    /// 18
    ListQuicklist2,
    /// 20
    SetListpack,
    /// Redis 22 (7.4 RC): hashtable with absolute TTLs, no min_expire.
    HashMetadataPreGa,
    /// Redis 23 (7.4 RC): listpack-ex without min_expire.
    HashListpackExPreGa,
    /// Redis 24
    HashMetadata,
    /// Redis 25
    HashListpackEx,
    /// Valkey 22
    ValkeyHash2,
}

/// The logical type names, indexed by [`TypeKind::logical_index`].
pub const LOGICAL_TYPES: [&str; 7] = ["string", "list", "set", "zset", "hash", "stream", "module"];

impl TypeKind {
    /// The logical type name (`string`, `list`, `set`, `zset`, `hash`, `stream`, `module`).
    pub fn logical(self) -> &'static str {
        LOGICAL_TYPES
            .get(self.logical_index())
            .copied()
            .unwrap_or("module")
    }

    /// Index of the logical type in [`LOGICAL_TYPES`] (for flat per-type counters).
    pub fn logical_index(self) -> usize {
        use TypeKind as K;
        match self {
            K::String => 0,
            K::ListLinked | K::ListZiplist | K::ListQuicklist | K::ListQuicklist2 => 1,
            K::SetHashtable | K::SetIntset | K::SetListpack => 2,
            K::ZSetV1 | K::ZSet2 | K::ZSetZiplist | K::ZSetListpack => 3,
            K::HashHashtable
            | K::HashZipmap
            | K::HashZiplist
            | K::HashListpack
            | K::HashMetadataPreGa
            | K::HashListpackExPreGa
            | K::HashMetadata
            | K::HashListpackEx
            | K::ValkeyHash2 => 4,
            K::Stream(_) => 5,
            K::Module2 => 6,
        }
    }

    /// The inner encoding name (`listpack`, `ziplist`, `intset`, `zipmap`, `quicklist`, `hashtable`, `raw`, ...).
    pub fn encoding(self) -> &'static str {
        use TypeKind as K;
        match self {
            K::String => "string",
            K::ListLinked => "linkedlist",
            K::SetHashtable
            | K::HashHashtable
            | K::HashMetadata
            | K::HashMetadataPreGa
            | K::ValkeyHash2 => "hashtable",
            K::ZSetV1 | K::ZSet2 => "skiplist",
            K::Module2 => "module",
            K::HashZipmap => "zipmap",
            K::ListZiplist | K::ZSetZiplist | K::HashZiplist => "ziplist",
            K::SetIntset => "intset",
            K::ListQuicklist => "quicklist(ziplist)",
            K::ListQuicklist2 => "quicklist(listpack)",
            K::Stream(_) => "stream-listpacks",
            K::HashListpack | K::ZSetListpack | K::SetListpack => "listpack",
            K::HashListpackEx | K::HashListpackExPreGa => "listpackex",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let h = Header::parse(b"REDIS0011").unwrap();
        assert_eq!(
            h,
            Header {
                magic: Magic::Redis,
                version: 11
            }
        );
        assert_eq!(&h.to_bytes(), b"REDIS0011");
        let v = Header::parse(b"VALKEY080").unwrap();
        assert_eq!(v.version, 80);
        assert_eq!(&v.to_bytes(), b"VALKEY080");
        assert!(Header::parse(b"REDIS00x1").is_err());
        assert!(Header::parse(b"VALKEY079").is_err());
        assert!(Header::parse(b"REDIS0000").is_err());
        assert!(Header::parse(b"RADIS0011").is_err());
    }

    #[test]
    fn logical_names() {
        use TypeKind as K;
        let cases = [
            (K::String, "string"),
            (K::ListLinked, "list"),
            (K::ListQuicklist2, "list"),
            (K::SetIntset, "set"),
            (K::SetListpack, "set"),
            (K::ZSet2, "zset"),
            (K::ZSetListpack, "zset"),
            (K::HashZipmap, "hash"),
            (K::HashListpackEx, "hash"),
            (K::ValkeyHash2, "hash"),
            (K::Stream(3), "stream"),
            (K::Module2, "module"),
        ];
        for (k, name) in cases {
            assert_eq!(k.logical(), name, "{k:?}");
        }
    }

    #[test]
    fn type_dispatch_depends_on_magic() {
        let redis11 = Header {
            magic: Magic::Redis,
            version: 11,
        };
        let redis12 = Header {
            magic: Magic::Redis,
            version: 12,
        };
        let valkey = Header {
            magic: Magic::Valkey,
            version: 80,
        };
        assert!(redis11.classify_type(RdbType(22)).is_err());
        assert_eq!(
            redis12.classify_type(RdbType(22)),
            Ok(TypeKind::HashMetadataPreGa)
        );
        assert_eq!(valkey.classify_type(RdbType(22)), Ok(TypeKind::ValkeyHash2));
        assert!(valkey.classify_type(RdbType(24)).is_err());
        assert_eq!(
            redis12.classify_type(RdbType(25)),
            Ok(TypeKind::HashListpackEx)
        );
        assert!(redis12.classify_type(RdbType(8)).is_err());
        assert!(redis12.classify_type(RdbType(6)).is_err());
        assert_eq!(RdbType(16).name(), Some("hash-listpack"));
        assert_eq!(RdbType(8).name(), None);
    }
}
