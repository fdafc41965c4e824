//! Engine compatibility: which server lines load a file (rdb-format.md §7, §9.2, §3.9).
//!
//! The model is the loaders' *default* configuration (`databases 16`, Valkey
//! `rdb-version-check strict`, no modules loaded is **not** assumed: module values are reported
//! separately as warnings). A line refuses a file when:
//!
//! * the magic is not its own: Redis refuses `VALKEY`; Valkey 9.x takes `REDIS0` + 1..=11 and
//!   `VALKEY080`; Valkey 7.2–8.1 take `REDIS` + 1..=11;
//! * the RDB version is newer than the line's own (no forward compatibility);
//! * an object type or opcode appears that the line does not know (its introduction version is
//!   above the line's RDB version, table [`type_intro`] / [`opcode_intro`]); type 6 and opcode
//!   `F6` are refused by Redis ≥ 7.2 and every Valkey; `SLOT_INFO` (`F4`) is unknown to Valkey
//!   ≤ 8.1 and a hint for Valkey 9;
//! * Valkey 9 reads a `REDIS`-magic file with a type or opcode byte in 22..=243 (V-F17);
//! * Valkey ≥ 8.0 meets a `slot-info` AUX field with fewer than 3 integers.
//!
//! Valkey "relaxed" mode and non-default `databases` are not modelled.

use std::fmt;
use std::str::FromStr;

use rdb_format::{Header, Magic};
use serde::{Serialize, Serializer};

use crate::report::FindingKey;

/// A server release line, e.g. `redis-7.2` or `valkey-8.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EngineLine {
    /// Redis 2.4 (RDB 2).
    Redis2_4,
    /// Redis 2.6 (RDB 6).
    Redis2_6,
    /// Redis 2.8 (RDB 6).
    Redis2_8,
    /// Redis 3.0 (RDB 6).
    Redis3_0,
    /// Redis 3.2 (RDB 7).
    Redis3_2,
    /// Redis 4.0 (RDB 8).
    Redis4_0,
    /// Redis 5.0 (RDB 9).
    Redis5_0,
    /// Redis 6.0 (RDB 9).
    Redis6_0,
    /// Redis 6.2 (RDB 9).
    Redis6_2,
    /// Redis 7.0 (RDB 10).
    Redis7_0,
    /// ElastiCache's "Redis OSS 7.1", not an open-source release: taken to read what Redis
    /// 7.0 reads (RDB 10). Whether it also reads RDB 11 is not documented (rdb-format.md §12,
    /// item 7), so a newer file is reported as one it may refuse.
    Redis7_1,
    /// Redis 7.2 (RDB 11).
    Redis7_2,
    /// Redis 7.4 (RDB 12).
    Redis7_4,
    /// Redis 8.0 (RDB 12).
    Redis8_0,
    /// Redis 8.2 (RDB 12).
    Redis8_2,
    /// Redis 8.4 (RDB 12).
    Redis8_4,
    /// Valkey 7.2 (RDB 11).
    Valkey7_2,
    /// Valkey 8.0 (RDB 11).
    Valkey8_0,
    /// Valkey 8.1 (RDB 11).
    Valkey8_1,
    /// Valkey 8.2 (RDB 11, as 8.1: Valkey's RDB 80 came with 9.0).
    Valkey8_2,
    /// Valkey 9.0 (RDB 80, also reads `REDIS` 1..=11).
    Valkey9_0,
    /// Valkey 9.1 (as 9.0).
    Valkey9_1,
}

/// Which fork a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// Redis (open source).
    Redis,
    /// Valkey.
    Valkey,
}

impl EngineLine {
    /// Every line, oldest first, Redis before Valkey.
    pub const ALL: [EngineLine; 22] = [
        EngineLine::Redis2_4,
        EngineLine::Redis2_6,
        EngineLine::Redis2_8,
        EngineLine::Redis3_0,
        EngineLine::Redis3_2,
        EngineLine::Redis4_0,
        EngineLine::Redis5_0,
        EngineLine::Redis6_0,
        EngineLine::Redis6_2,
        EngineLine::Redis7_0,
        EngineLine::Redis7_1,
        EngineLine::Redis7_2,
        EngineLine::Redis7_4,
        EngineLine::Redis8_0,
        EngineLine::Redis8_2,
        EngineLine::Redis8_4,
        EngineLine::Valkey7_2,
        EngineLine::Valkey8_0,
        EngineLine::Valkey8_1,
        EngineLine::Valkey8_2,
        EngineLine::Valkey9_0,
        EngineLine::Valkey9_1,
    ];

    /// The line most likely to have written a file with header `h`, from the version alone:
    /// the newest line of each RDB version's first writers — Redis 6.2 up to RDB 9, 7.0 for
    /// 10, 7.2 for 11 (Valkey 7.2-8.x too), 7.4 for 12 and later, Valkey 9.0 for a `VALKEY`
    /// file (for the CacheSize model when no line is named, [`crate::Options::infer_cache_model`]).
    pub fn wrote(h: Header) -> EngineLine {
        match (h.magic, h.version) {
            (Magic::Valkey, _) => EngineLine::Valkey9_0,
            (_, 0..=9) => EngineLine::Redis6_2,
            (_, 10) => EngineLine::Redis7_0,
            (_, 11) => EngineLine::Redis7_2,
            _ => EngineLine::Redis7_4,
        }
    }

    /// Valkey's newest line that writes a file with header `h`: 9.1 for `VALKEY` magic, else
    /// 8.2 (for a `valkey-ver` AUX field that names no known line, such as a development
    /// build's `255.255.255`).
    pub fn newest_valkey_for(h: Header) -> EngineLine {
        match h.magic {
            Magic::Valkey => EngineLine::Valkey9_1,
            Magic::Redis => EngineLine::Valkey8_2,
        }
    }

    /// Whether a cluster-mode node of this line holds databases other than 0 (Valkey 9.0
    /// added multiple databases in cluster mode, rdb-format.md §10); older lines and Redis
    /// hold db 0 only.
    pub fn cluster_multi_db(self) -> bool {
        matches!(self, EngineLine::Valkey9_0 | EngineLine::Valkey9_1)
    }

    /// Whether a server of this line runs function libraries for engines other than Lua: from
    /// Valkey 8.1 on a module may register a scripting engine; Redis, Valkey 7.2 and 8.0 have
    /// Lua only and no way to add another (as `rdb_writer::Target::runs_function_engine`).
    pub fn module_function_engines(self) -> bool {
        self >= EngineLine::Valkey8_1
    }

    /// The name used on the command line and in JSON (`redis-7.2`, `valkey-9.0`).
    pub fn name(self) -> &'static str {
        use EngineLine as E;
        match self {
            E::Redis2_4 => "redis-2.4",
            E::Redis2_6 => "redis-2.6",
            E::Redis2_8 => "redis-2.8",
            E::Redis3_0 => "redis-3.0",
            E::Redis3_2 => "redis-3.2",
            E::Redis4_0 => "redis-4.0",
            E::Redis5_0 => "redis-5.0",
            E::Redis6_0 => "redis-6.0",
            E::Redis6_2 => "redis-6.2",
            E::Redis7_0 => "redis-7.0",
            E::Redis7_1 => "redis-7.1",
            E::Redis7_2 => "redis-7.2",
            E::Redis7_4 => "redis-7.4",
            E::Redis8_0 => "redis-8.0",
            E::Redis8_2 => "redis-8.2",
            E::Redis8_4 => "redis-8.4",
            E::Valkey7_2 => "valkey-7.2",
            E::Valkey8_0 => "valkey-8.0",
            E::Valkey8_1 => "valkey-8.1",
            E::Valkey8_2 => "valkey-8.2",
            E::Valkey9_0 => "valkey-9.0",
            E::Valkey9_1 => "valkey-9.1",
        }
    }

    /// The fork.
    pub fn fork(self) -> Fork {
        if self >= EngineLine::Valkey7_2 {
            Fork::Valkey
        } else {
            Fork::Redis
        }
    }

    /// The highest RDB version the line writes and reads with `REDIS` magic (Valkey 9: 11; its
    /// own `VALKEY` version is [`EngineLine::valkey_rdb_version`]).
    pub fn max_redis_rdb(self) -> u16 {
        use EngineLine as E;
        match self {
            E::Redis2_4 => 2,
            E::Redis2_6 | E::Redis2_8 | E::Redis3_0 => 6,
            E::Redis3_2 => 7,
            E::Redis4_0 => 8,
            E::Redis5_0 | E::Redis6_0 | E::Redis6_2 => 9,
            E::Redis7_0 | E::Redis7_1 => 10,
            E::Redis7_2 => 11,
            E::Redis7_4 | E::Redis8_0 | E::Redis8_2 | E::Redis8_4 => 12,
            E::Valkey7_2
            | E::Valkey8_0
            | E::Valkey8_1
            | E::Valkey8_2
            | E::Valkey9_0
            | E::Valkey9_1 => 11,
        }
    }

    /// The `VALKEY` magic version the line reads (80 for Valkey 9.x, `None` otherwise).
    pub fn valkey_rdb_version(self) -> Option<u16> {
        matches!(self, EngineLine::Valkey9_0 | EngineLine::Valkey9_1).then_some(80)
    }

    /// Whether the loader refuses the pre-GA module type 6 and opcode `F6`.
    fn refuses_pre_ga(self) -> bool {
        // ElastiCache's 7.1 too: what it reads beyond RDB 10 is not documented, so the
        // release-candidate formats are taken as refused.
        self >= EngineLine::Redis7_1
    }

    /// Whether the header is acceptable; the reason when not.
    pub fn check_header(self, h: Header) -> Result<(), String> {
        match (h.magic, self.fork()) {
            (Magic::Valkey, Fork::Redis) => Err(format!(
                "{} refuses VALKEY magic (\"Wrong signature\")",
                self.name()
            )),
            (Magic::Valkey, Fork::Valkey) => match self.valkey_rdb_version() {
                Some(v) if h.version <= v => Ok(()),
                Some(_) => Err(format!(
                    "{} can't handle RDB format version VALKEY{:03}",
                    self.name(),
                    h.version
                )),
                None => Err(format!(
                    "{} refuses VALKEY magic (Valkey ≥ 9.0 only)",
                    self.name()
                )),
            },
            (Magic::Redis, _) => {
                if h.version <= self.max_redis_rdb() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} can't handle RDB format version {}",
                        self.name(),
                        h.version
                    ))
                }
            }
        }
    }

    /// Whether an object type byte is loadable in a file with header `h`.
    pub fn check_type(self, h: Header, t: u8) -> Result<(), String> {
        if t == 6 && self.refuses_pre_ga() {
            return Err(format!("{} refuses the pre-GA module type 6", self.name()));
        }
        if self.fork() == Fork::Valkey && self.valkey_rdb_version().is_some() {
            if h.magic == Magic::Redis && (22..=243).contains(&t) {
                return Err(format!(
                    "{} refuses foreign type {t} in a REDIS-magic file",
                    self.name()
                ));
            }
            if h.magic == Magic::Valkey {
                return if t <= 22 && t != 8 {
                    Ok(())
                } else {
                    Err(format!("{} does not know object type {t}", self.name()))
                };
            }
        }
        match type_intro(t) {
            Some(v) if v <= self.max_redis_rdb() => Ok(()),
            _ => Err(format!(
                "{} does not know object type {t} (\"Unknown RDB encoding type\")",
                self.name()
            )),
        }
    }

    /// Whether an opcode byte is loadable in a file with header `h`.
    pub fn check_opcode(self, h: Header, op: u8) -> Result<(), String> {
        if op == 0xF6 && self.refuses_pre_ga() {
            return Err(format!(
                "{} refuses the pre-GA function format (opcode 246)",
                self.name()
            ));
        }
        if self.valkey_rdb_version().is_some() {
            if op == 0xF4 {
                return Ok(()); // SLOT_INFO is read as a hint
            }
            if h.magic == Magic::Redis && (22..=243).contains(&op) {
                return Err(format!(
                    "{} refuses foreign opcode {op} in a REDIS-magic file",
                    self.name()
                ));
            }
        }
        match opcode_intro(op) {
            Some(v) if v <= self.max_redis_rdb() => Ok(()),
            _ => Err(format!("{} does not know opcode {op:#04x}", self.name())),
        }
    }

    /// Whether the line parses `slot-info` AUX fields (and fails on a malformed one).
    pub fn parses_slot_info_aux(self) -> bool {
        self >= EngineLine::Valkey8_0
    }
}

/// The RDB version that introduced an object type (Redis numbering; `None` = never valid).
pub fn type_intro(t: u8) -> Option<u16> {
    Some(match t {
        0..=4 => 1,
        9..=12 => 2,
        13 => 4,
        14 => 7,
        5..=7 => 8,
        15 => 9,
        16..=19 => 10,
        20 | 21 => 11,
        22..=25 => 12,
        26 => 13,
        _ => return None,
    })
}

/// The RDB version that introduced an opcode (Redis numbering; `None` = not an opcode).
pub fn opcode_intro(op: u8) -> Option<u16> {
    Some(match op {
        0xFD..=0xFF => 1,
        0xFC => 3,
        0xFA | 0xFB => 7,
        0xF7..=0xF9 => 9,
        0xF5 | 0xF6 => 10,
        0xF4 => 12,
        0xF3 => 13,
        _ => return None,
    })
}

impl fmt::Display for EngineLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error of [`EngineLine::from_str`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseEngineLineError(pub String);

impl fmt::Display for ParseEngineLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown engine line {:?}; expected one of: ", self.0)?;
        for (i, l) in EngineLine::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(l.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseEngineLineError {}

impl FromStr for EngineLine {
    type Err = ParseEngineLineError;

    /// Parses `redis-7.2`, `valkey-8.0` (case-insensitive; `redis-7.2.6` is accepted as its line).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(l) = EngineLine::ALL.iter().find(|l| l.name() == lower) {
            return Ok(*l);
        }
        // Accept a full version (`redis-7.2.6`): keep fork-major.minor.
        let mut parts = lower.splitn(3, '.');
        if let (Some(a), Some(b)) = (parts.next(), parts.next()) {
            let short = format!("{a}.{b}");
            if let Some(l) = EngineLine::ALL.iter().find(|l| l.name() == short) {
                return Ok(*l);
            }
            // The service's `6.x` (any release of a major version): its oldest line, which
            // reads the least.
            if b == "x" && parts.next().is_none() {
                let major = format!("{a}.");
                if let Some(l) = EngineLine::ALL
                    .iter()
                    .find(|l| l.name().starts_with(&major))
                {
                    return Ok(*l);
                }
            }
        }
        Err(ParseEngineLineError(s.to_string()))
    }
}

impl Serialize for EngineLine {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The first record that stops a line from loading a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// Offset of the record (0 for the header; `None` when the record was fed without a
    /// position, see [`Compat::UNKNOWN_OFFSET`]).
    pub offset: Option<u64>,
    /// Why.
    pub reason: String,
    /// The key, when the record is a key's (its type, per-key opcodes or module value).
    pub key: Option<FindingKey>,
}

/// Collects what a file uses (first offset of each type and opcode byte) and decides, per line,
/// whether it loads. Memory is fixed (two 256-entry tables).
#[derive(Debug, Clone)]
pub struct Compat {
    header: Option<Header>,
    types: Box<[Option<u64>; 256]>,
    opcodes: Box<[Option<u64>; 256]>,
    bad_slot_info_aux: Option<u64>,
    /// The first module data (value or MODULE_AUX): its offset and module id.
    module: Option<(u64, u64)>,
    /// The first function library for an engine other than Lua: its offset.
    non_lua_function: Option<u64>,
    /// The keys of the records above that are keys, by offset (one per first occurrence: a
    /// few hundred at most per part of a file).
    keys: Vec<(u64, FindingKey)>,
}

impl Default for Compat {
    fn default() -> Self {
        Compat {
            header: None,
            types: Box::new([None; 256]),
            opcodes: Box::new([None; 256]),
            bad_slot_info_aux: None,
            module: None,
            non_lua_function: None,
            keys: Vec::new(),
        }
    }
}

impl Compat {
    /// The offset to record what was seen at no known position (events fed with
    /// [`crate::Verifier::on_event`]): it still counts for [`Compat::blocker`] and
    /// [`Compat::loads_on`], after every record whose offset is known, and the blocker it gives
    /// has no offset.
    pub const UNKNOWN_OFFSET: u64 = u64::MAX;

    /// Records the header.
    pub fn header(&mut self, h: Header) {
        self.header = Some(h);
    }

    /// Records an object type byte at `offset` (only its first occurrence is kept).
    pub fn saw_type(&mut self, t: u8, offset: u64) {
        if let Some(slot) = self.types.get_mut(usize::from(t)) {
            slot.get_or_insert(offset);
        }
    }

    /// Records an opcode byte at `offset` (only its first occurrence is kept).
    pub fn saw_opcode(&mut self, op: u8, offset: u64) {
        if let Some(slot) = self.opcodes.get_mut(usize::from(op)) {
            slot.get_or_insert(offset);
        }
    }

    /// Remembers that the record at `offset` is key `key` of `db`.
    fn note_key(&mut self, offset: u64, db: u64, key: &[u8]) {
        if !self.keys.iter().any(|(o, _)| *o == offset) {
            self.keys.push((offset, FindingKey::new(db, key)));
        }
    }

    /// Records the object type byte of key `key` (db `db`) at `offset`, as
    /// [`Compat::saw_type`], keeping the key of a first occurrence to name it in findings.
    pub fn saw_key_type(&mut self, t: u8, offset: u64, db: u64, key: &[u8]) {
        if let Some(slot) = self.types.get_mut(usize::from(t)) {
            if slot.is_none() {
                *slot = Some(offset);
                self.note_key(offset, db, key);
            }
        }
    }

    /// Records a per-key opcode (`IDLE`, `FREQ`) of key `key` (db `db`) whose record starts at
    /// `offset`, as [`Compat::saw_opcode`], keeping the key of a first occurrence.
    pub fn saw_key_opcode(&mut self, op: u8, offset: u64, db: u64, key: &[u8]) {
        if let Some(slot) = self.opcodes.get_mut(usize::from(op)) {
            if slot.is_none() {
                *slot = Some(offset);
                self.note_key(offset, db, key);
            }
        }
    }

    /// Records the module value of key `key` (db `db`) at `offset`, as
    /// [`Compat::saw_module`], keeping the key when it is the first module data.
    pub fn saw_module_key(&mut self, module_id: u64, offset: u64, db: u64, key: &[u8]) {
        self.saw_module(module_id, offset);
        if self.module.is_some_and(|(o, _)| o == offset) {
            self.note_key(offset, db, key);
        }
    }

    /// Records a function library for an engine other than Lua at `offset`: no line loads it
    /// as it starts (Redis, Valkey 7.2 and 8.0 have Lua only; from Valkey 8.1 a module may
    /// register another engine — Redis 7.0 and Valkey 8.1 each refuse such a file).
    pub fn saw_non_lua_function(&mut self, offset: u64) {
        if self.non_lua_function.is_none_or(|o| offset < o) {
            self.non_lua_function = Some(offset);
        }
    }

    /// Records a `slot-info` AUX field that Valkey ≥ 8.0 cannot parse.
    pub fn saw_bad_slot_info_aux(&mut self, offset: u64) {
        self.bad_slot_info_aux.get_or_insert(offset);
    }

    /// Records module data (a module value or MODULE_AUX) of `module_id` at `offset`: no line
    /// loads it without that module, and `loads_on` speaks of servers as they start, with no
    /// modules (Redis 7.0, Redis 6.2 and Valkey 8.1 each refuse such a file: "no matching
    /// module").
    pub fn saw_module(&mut self, module_id: u64, offset: u64) {
        if self.module.is_none_or(|(o, _)| offset < o) {
            self.module = Some((offset, module_id));
        }
    }

    /// Adds what `other` saw (a later part of the same file, see [`crate::split`]): the
    /// lowest offset of each type and opcode wins.
    pub fn merge(&mut self, other: &Compat) {
        fn min(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            }
        }
        self.header = self.header.or(other.header);
        for (a, b) in self.types.iter_mut().zip(other.types.iter()) {
            *a = min(*a, *b);
        }
        for (a, b) in self.opcodes.iter_mut().zip(other.opcodes.iter()) {
            *a = min(*a, *b);
        }
        self.bad_slot_info_aux = min(self.bad_slot_info_aux, other.bad_slot_info_aux);
        if let Some((offset, id)) = other.module {
            self.saw_module(id, offset);
        }
        if let Some(offset) = other.non_lua_function {
            self.saw_non_lua_function(offset);
        }
        for (offset, k) in &other.keys {
            if !self.keys.iter().any(|(o, _)| o == offset) {
                self.keys.push((*offset, k.clone()));
            }
        }
    }

    /// The first record (lowest offset) that stops `line` from loading the file, if any.
    pub fn blocker(&self, line: EngineLine) -> Option<Blocker> {
        let h = self.header?;
        if let Err(reason) = line.check_header(h) {
            return Some(Blocker {
                offset: Some(0),
                reason,
                key: None,
            });
        }
        let mut best: Option<Blocker> = None;
        let mut consider = |offset: u64, reason: String| {
            let offset = Some(offset).filter(|o| *o != Self::UNKNOWN_OFFSET);
            if best
                .as_ref()
                .is_none_or(|b| offset.unwrap_or(u64::MAX) < b.offset.unwrap_or(u64::MAX))
            {
                best = Some(Blocker {
                    offset,
                    reason,
                    key: None,
                });
            }
        };
        for (t, off) in self.types.iter().enumerate() {
            if let (Some(off), Ok(t)) = (off, u8::try_from(t)) {
                if let Err(r) = line.check_type(h, t) {
                    consider(*off, r);
                }
            }
        }
        for (op, off) in self.opcodes.iter().enumerate() {
            if let (Some(off), Ok(op)) = (off, u8::try_from(op)) {
                if let Err(r) = line.check_opcode(h, op) {
                    consider(*off, r);
                }
            }
        }
        if let Some(off) = self.bad_slot_info_aux {
            if line.parses_slot_info_aux() {
                consider(
                    off,
                    format!(
                        "{} fails on a slot-info AUX field with fewer than 3 integers",
                        line.name()
                    ),
                );
            }
        }
        if let Some((offset, id)) = self.module {
            consider(
                offset,
                format!(
                    "{} refuses module data of type {} unless that module is loaded",
                    line.name(),
                    rdb_model::module_type_name(id)
                ),
            );
        }
        if let Some(offset) = self.non_lua_function {
            let reason = if line.module_function_engines() {
                format!(
                    "{} refuses a function library for an engine other than Lua unless a module registers that engine",
                    line.name()
                )
            } else {
                format!(
                    "{} has no function engine but Lua and refuses a library for another",
                    line.name()
                )
            };
            consider(offset, reason);
        }
        if let Some(b) = &mut best {
            b.key = self
                .keys
                .iter()
                .find(|(o, _)| Some(*o) == b.offset)
                .map(|(_, k)| k.clone());
        }
        best
    }

    /// The lines whose servers, started with no modules, load the file as far as versions,
    /// types, opcodes, module data and function engines go.
    pub fn loads_on(&self) -> Vec<EngineLine> {
        if self.header.is_none() {
            return Vec::new();
        }
        EngineLine::ALL
            .iter()
            .copied()
            .filter(|l| self.blocker(*l).is_none())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(magic: Magic, version: u16) -> Header {
        Header { magic, version }
    }

    #[test]
    fn names_roundtrip() {
        for l in EngineLine::ALL {
            assert_eq!(l.name().parse::<EngineLine>().unwrap(), l);
        }
        assert_eq!(
            "Redis-7.2.6".parse::<EngineLine>().unwrap(),
            EngineLine::Redis7_2
        );
        assert!("redis-9.9".parse::<EngineLine>().is_err());
        // The service's lines: `N.x` is the oldest line of N.
        assert_eq!("redis-6.x".parse(), Ok(EngineLine::Redis6_0));
        assert_eq!("valkey-8.x".parse(), Ok(EngineLine::Valkey8_0));
        assert!("redis-x.x".parse::<EngineLine>().is_err());
        // Where a line's RDB 10 and 11 files load: 7.1 as 7.0.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 10));
        assert!(c.loads_on().contains(&EngineLine::Redis7_1));
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 11));
        let l = c.loads_on();
        assert!(!l.contains(&EngineLine::Redis7_1) && l.contains(&EngineLine::Valkey8_2));
        assert_eq!(
            EngineLine::newest_valkey_for(h(Magic::Redis, 11)),
            EngineLine::Valkey8_2
        );
    }

    /// The first RDB version of every object type and opcode, restated from the format
    /// reference (rdb-format.md §1.3 and its type table): a line refuses a record newer than
    /// the highest version it reads.
    #[test]
    fn intro_versions_as_the_format_reference_lists_them() {
        let types: [(u8, Option<u16>); 29] = [
            (0, Some(1)),
            (1, Some(1)),
            (2, Some(1)),
            (3, Some(1)),
            (4, Some(1)),
            (5, Some(8)),
            (6, Some(8)),
            (7, Some(8)),
            (8, None),
            (9, Some(2)),
            (10, Some(2)),
            (11, Some(2)),
            (12, Some(2)),
            (13, Some(4)),
            (14, Some(7)),
            (15, Some(9)),
            (16, Some(10)),
            (17, Some(10)),
            (18, Some(10)),
            (19, Some(10)),
            (20, Some(11)),
            (21, Some(11)),
            (22, Some(12)),
            (23, Some(12)),
            (24, Some(12)),
            (25, Some(12)),
            (26, Some(13)),
            // Redis 8.8's (RDB 14): newer than every line here.
            (27, None),
            (28, None),
        ];
        for (t, v) in types {
            assert_eq!(type_intro(t), v, "type {t}");
        }
        let opcodes: [(u8, Option<u16>); 14] = [
            (0xFF, Some(1)),
            (0xFE, Some(1)),
            (0xFD, Some(1)),
            (0xFC, Some(3)),
            (0xFB, Some(7)),
            (0xFA, Some(7)),
            (0xF9, Some(9)),
            (0xF8, Some(9)),
            (0xF7, Some(9)),
            (0xF6, Some(10)),
            (0xF5, Some(10)),
            (0xF4, Some(12)),
            (0xF3, Some(13)),
            (0xF2, None),
        ];
        for (op, v) in opcodes {
            assert_eq!(opcode_intro(op), v, "opcode {op:#04x}");
        }
    }

    /// Each rule at the line where it changes: the line before refuses, the line itself
    /// loads.
    #[test]
    fn rules_change_at_their_lines() {
        let blocked = |c: &Compat, l: EngineLine| c.blocker(l).is_some();
        // Type 20 (SET_LISTPACK, RDB 11) even in a REDIS0010 file: from Redis 7.2.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 10));
        c.saw_type(20, 28);
        assert!(blocked(&c, EngineLine::Redis7_0) && blocked(&c, EngineLine::Redis7_1));
        assert!(!blocked(&c, EngineLine::Redis7_2) && !blocked(&c, EngineLine::Valkey7_2));
        // IDLE, FREQ and MODULE_AUX (RDB 9) in an RDB 8 file: from Redis 5.0, not 4.0.
        for op in [0xF7, 0xF8, 0xF9] {
            let mut c = Compat::default();
            c.header(h(Magic::Redis, 8));
            c.saw_opcode(op, 20);
            assert!(blocked(&c, EngineLine::Redis4_0), "{op:#04x}");
            assert!(!blocked(&c, EngineLine::Redis5_0), "{op:#04x}");
        }
        // FUNCTION_PRE_GA (F6): Redis 7.0 GA still loads it, 7.1 on and Valkey refuse it.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 10));
        c.saw_opcode(0xF6, 9);
        assert!(!blocked(&c, EngineLine::Redis7_0));
        for l in [
            EngineLine::Redis7_1,
            EngineLine::Redis7_2,
            EngineLine::Valkey7_2,
        ] {
            assert!(blocked(&c, l), "{l}");
        }
        // VALKEY080 loads on Valkey 9.x; VALKEY081 on no line.
        for (version, lines) in [
            (80, vec![EngineLine::Valkey9_0, EngineLine::Valkey9_1]),
            (81, vec![]),
        ] {
            let mut c = Compat::default();
            c.header(h(Magic::Valkey, version));
            assert_eq!(c.loads_on(), lines, "VALKEY{version:03}");
        }
        // A module may register a function engine from Valkey 8.1 on, never on Redis.
        let with_engines: Vec<EngineLine> = EngineLine::ALL
            .into_iter()
            .filter(|l| l.module_function_engines())
            .collect();
        assert_eq!(
            with_engines,
            [
                EngineLine::Valkey8_1,
                EngineLine::Valkey8_2,
                EngineLine::Valkey9_0,
                EngineLine::Valkey9_1
            ]
        );
        // Such a library blocks every line as it starts (no module registers the engine).
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 11));
        c.saw_non_lua_function(30);
        assert!(c.loads_on().is_empty());
        assert_eq!(c.blocker(EngineLine::Valkey9_0).unwrap().offset, Some(30));
    }

    #[test]
    fn version_rules() {
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 10));
        let l = c.loads_on();
        assert!(!l.contains(&EngineLine::Redis6_2));
        assert!(l.contains(&EngineLine::Redis7_0));
        assert!(l.contains(&EngineLine::Valkey8_0));
        assert!(l.contains(&EngineLine::Valkey9_0));

        let mut c = Compat::default();
        c.header(h(Magic::Redis, 12));
        let l = c.loads_on();
        assert!(l.contains(&EngineLine::Redis7_4));
        assert!(!l.contains(&EngineLine::Redis7_2));
        assert!(!l.iter().any(|l| l.fork() == Fork::Valkey), "{l:?}");

        let mut c = Compat::default();
        c.header(h(Magic::Valkey, 80));
        assert_eq!(
            c.loads_on(),
            vec![EngineLine::Valkey9_0, EngineLine::Valkey9_1]
        );
    }

    #[test]
    fn types_and_opcodes() {
        // A REDIS0009 file with a type-16 hash: only loaders that know type 16 accept it.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 9));
        c.saw_type(16, 100);
        let b = c.blocker(EngineLine::Redis6_2).unwrap();
        assert_eq!(b.offset, Some(100));
        assert!(c.blocker(EngineLine::Redis7_0).is_none());

        // SLOT_INFO in a REDIS0011 file: Redis 7.2 / Valkey 8 refuse it, Valkey 9 takes it as a hint.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 11));
        c.saw_opcode(0xF4, 50);
        c.saw_opcode(0xF5, 30);
        assert_eq!(c.blocker(EngineLine::Redis7_2).unwrap().offset, Some(50));
        assert_eq!(c.blocker(EngineLine::Valkey8_0).unwrap().offset, Some(50));
        assert!(c.blocker(EngineLine::Valkey9_0).is_none());
        // Function libraries (F5) are unknown before 7.0; the first blocker is the lowest offset.
        assert_eq!(c.blocker(EngineLine::Redis6_2).unwrap().offset, Some(0)); // version 11 > 9 first

        // Pre-GA module type 6: Redis 7.0 loads it, 7.2 and Valkey do not.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 9));
        c.saw_type(6, 77);
        assert!(c.blocker(EngineLine::Redis7_0).is_none());
        // ElastiCache's 7.1: refused, as what it reads beyond 7.0 is not documented.
        assert_eq!(c.blocker(EngineLine::Redis7_1).unwrap().offset, Some(77));
        assert_eq!(c.blocker(EngineLine::Redis7_2).unwrap().offset, Some(77));
        assert_eq!(c.blocker(EngineLine::Valkey9_0).unwrap().offset, Some(77));

        // Module data: no line loads it without the module; the lowest offset is named.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 9));
        c.saw_module(0x1234_5678_9abc_d000, 300);
        c.saw_module(0x1234_5678_9abc_d000, 120);
        for l in EngineLine::ALL {
            let b = c.blocker(l).unwrap();
            if l.check_header(h(Magic::Redis, 9)).is_err() {
                assert_eq!(b.offset, Some(0), "{l}: the version comes first");
                continue;
            }
            assert_eq!(b.offset, Some(120), "{l}");
            assert!(b.reason.contains("module"), "{}", b.reason);
        }
        assert!(c.loads_on().is_empty());
        let mut later = Compat::default();
        later.saw_module(1, 90);
        c.merge(&later);
        assert_eq!(c.blocker(EngineLine::Redis7_0).unwrap().offset, Some(90));

        // A malformed slot-info AUX: Valkey >= 8.0 only.
        let mut c = Compat::default();
        c.header(h(Magic::Redis, 11));
        c.saw_bad_slot_info_aux(40);
        assert!(c.blocker(EngineLine::Valkey7_2).is_none());
        assert!(c.blocker(EngineLine::Redis7_2).is_none());
        assert_eq!(c.blocker(EngineLine::Valkey8_0).unwrap().offset, Some(40));
    }
}
