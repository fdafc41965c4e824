//! Several files at once: [`verify_many`] (rayon), the [`Summary`] row, the input expansion of
//! the CLI ([`expand_paths`]) and the manifest check ([`check_manifest`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rdb_cluster::slotset::SlotSet;
use serde::{Deserialize, Serialize};

use crate::report::{Finding, Report, Severity};
use crate::verifier::Options;

/// Verifies `paths` on a pool of `jobs` threads (0 = one per core); reports in input order.
///
/// With fewer files than threads, each file is cut into parts verified at once by the
/// threads left over ([`crate::verify_file_in_parts`], parts of at least
/// [`crate::MIN_PART_BYTES`]); the reports are the same.
pub fn verify_many(paths: &[PathBuf], jobs: usize, opts: &Options) -> Vec<Report> {
    verify_many_with(paths, jobs, opts, |_| {})
}

/// As [`verify_many`], calling `on_done` (from the worker threads) as each file finishes, e.g.
/// to advance a progress bar.
pub fn verify_many_with<F>(
    paths: &[PathBuf],
    jobs: usize,
    opts: &Options,
    on_done: F,
) -> Vec<Report>
where
    F: Fn(&Report) + Sync,
{
    verify_many_each(paths, jobs, |_| Cow::Borrowed(opts), on_done)
}

/// Most worker threads [`verify_many_each`] starts per core, whatever `jobs` asks.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// As [`verify_many_with`], each file with its own options: `opts_for(i)` for `paths[i]`
/// (e.g. the slots of the node group a manifest assigns it, see
/// [`ManifestInput::node_groups_for`]).
pub fn verify_many_each<'o, O, F>(
    paths: &[PathBuf],
    jobs: usize,
    opts_for: O,
    on_done: F,
) -> Vec<Report>
where
    O: Fn(usize) -> Cow<'o, Options> + Sync,
    F: Fn(&Report) + Sync,
{
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // More threads than [`MAX_THREADS_PER_CORE`] a core only cost their start (thousands of
    // them took seconds, an absurd count could not start at all).
    let threads = match jobs {
        0 => cores,
        n => n.min(cores * MAX_THREADS_PER_CORE),
    };
    let parts = threads / paths.len().max(1);
    let one = |(i, p): (usize, &PathBuf)| {
        let opts = opts_for(i);
        let r = if parts > 1 {
            crate::verify_file_in_parts(p, &opts, parts)
                .unwrap_or_else(|e| crate::io_error_report(p, &e))
        } else {
            crate::verify_file(p, &opts)
        };
        on_done(&r);
        r
    };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| paths.par_iter().enumerate().map(one).collect()),
        Err(_) => paths.iter().enumerate().map(one).collect(),
    }
}

/// What the command line's `PATH...` expand to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// RDB files: files given directly, and every `*.rdb` of the directories given (sorted);
    /// each file once (see [`expand_paths`]).
    pub files: Vec<PathBuf>,
    /// `*-manifest.json` files found in the directories given, each once (one also given as
    /// a PATH is in [`Inputs::named_manifests`] only).
    pub manifests: Vec<PathBuf>,
    /// Files given directly whose name ends in `.json` ([`is_manifest_path`]), each once.
    pub named_manifests: Vec<PathBuf>,
    /// `*.rdb` and `*-manifest.json` entries of the directories given that are not regular
    /// files (FIFOs, sockets, devices): reported as unreadable, never opened (a FIFO without
    /// a writer would block the run).
    pub not_regular: Vec<PathBuf>,
}

/// What identifies a file among the inputs: its canonical path (symbolic links, `.` and `..`
/// resolved), else (a path that does not exist) the path made absolute.
pub fn identity(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Expands files and directories as `rdb-verify PATH...` does: a file is taken as is (one
/// whose name ends in `.json` as a manifest); a directory contributes its `*.rdb` (`.RDB`, any
/// case) and
/// `*-manifest.json` entries that are not directories (not recursively; links that lead
/// nowhere included, so that they are reported; entries that are not regular files go to
/// [`Inputs::not_regular`]).
///
/// A file reached more than once (named twice, named and also inside a directory given, a
/// directory given twice, another spelling of the same path) is kept once, where it first
/// appears and as it was first spelled (a manifest named as a PATH keeps that spelling):
/// files are compared by canonical path.
pub fn expand_paths(paths: &[PathBuf]) -> std::io::Result<Inputs> {
    let mut out = Inputs::default();
    let mut seen_files = HashSet::new();
    let mut seen_manifests = HashSet::new();
    // Manifests named as PATHs first: one also found in a directory given stays named.
    for p in paths.iter().filter(|p| !p.is_dir() && is_manifest_path(p)) {
        if seen_manifests.insert(identity(p)) {
            out.named_manifests.push(p.clone());
        }
    }
    for p in paths {
        if p.is_dir() {
            let mut rdb = Vec::new();
            let mut man = Vec::new();
            for e in std::fs::read_dir(p)? {
                let path = e?.path();
                // Everything but a directory: a dangling or looping link, or a file that
                // cannot be read, is listed and reported as not readable (exit 2), never
                // skipped; names are compared as bytes, so a name that is not UTF-8 counts.
                let meta = std::fs::metadata(&path);
                if meta.as_ref().is_ok_and(std::fs::Metadata::is_dir) {
                    continue;
                }
                let regular = meta.as_ref().map_or(true, std::fs::Metadata::is_file);
                let name = path.file_name().map_or(&b""[..], |n| n.as_encoded_bytes());
                // `.rdb` in any case (`NAME-0002.RDB` as some tools and file systems write).
                let rdb_ext = name
                    .len()
                    .checked_sub(4)
                    .and_then(|i| name.get(i..))
                    .is_some_and(|e| e.eq_ignore_ascii_case(b".rdb"));
                if rdb_ext {
                    rdb.push((path, regular));
                } else if name.ends_with(b"-manifest.json") {
                    man.push((path, regular));
                }
            }
            rdb.sort();
            man.sort();
            // Each entry once; regular files to their list, the others to `not_regular`.
            let lists = [
                (rdb, &mut seen_files, &mut out.files),
                (man, &mut seen_manifests, &mut out.manifests),
            ];
            for (entries, seen, list) in lists {
                for (path, regular) in entries {
                    if seen.insert(identity(&path)) {
                        if regular {
                            list.push(path);
                        } else {
                            out.not_regular.push(path);
                        }
                    }
                }
            }
        } else if is_manifest_path(p) {
            // Taken above.
        } else if seen_files.insert(identity(p)) {
            // Opened (and reported) by the verifier itself.
            out.files.push(p.clone());
        }
    }
    Ok(out)
}

/// Whether a path given as `PATH` names a manifest rather than an RDB file: its name ends in
/// `.json` (an RDB file is never JSON; `rdb-verify DIR/*` then checks the set against the
/// manifest it lists rather than failing on it as a malformed RDB file).
pub fn is_manifest_path(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.as_encoded_bytes().ends_with(b".json"))
}

/// The totals row of `rdb-verify --json` (`summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files verified.
    pub files: u64,
    /// Files without error findings.
    pub ok: u64,
    /// Files with error findings.
    pub failed: u64,
    /// Error findings about the set rather than one verified file (a file the manifest lists
    /// that was not verified, slot gaps or overlaps between node groups, ...: the document's
    /// top-level `findings`). The run fails when this is not 0, even with every file ok.
    pub set_errors: u64,
    /// Keys in all files.
    pub keys: u64,
    /// Keys with an expiry in all files.
    pub expires: u64,
    /// Sum of the files' CacheSize estimates.
    pub cache_size_bytes: u64,
    /// With manifests: the slots of the node groups whose file was verified; otherwise the
    /// slots holding keys (db 0) in any file.
    pub slots_covered: String,
    /// Slots of 0–16383 not covered (`""` when all are); with several manifests, the slots
    /// any one of them leaves uncovered.
    pub slot_gaps: String,
    /// With manifests: slots a manifest assigns to more than one node group; otherwise slots
    /// holding keys in more than one file.
    pub slot_overlaps: String,
}

impl Summary {
    /// Totals over `reports`; slot coverage from the manifest checks when there are any (see
    /// the fields). `set_errors` is left at 0 for the caller, who holds the set-wide findings.
    pub fn from_reports(reports: &[Report], checks: &[ManifestCheck]) -> Self {
        let mut s = Summary {
            files: reports.len() as u64,
            ..Summary::default()
        };
        for r in reports {
            if r.ok {
                s.ok += 1;
            }
            s.keys += r.keys;
            s.expires += r.expires;
            s.cache_size_bytes += r.cache_size_bytes;
        }
        s.failed = s.files - s.ok;
        let (covered, gaps, overlaps) = if checks.is_empty() {
            let mut covered = SlotSet::new();
            let mut overlaps = SlotSet::new();
            for r in reports {
                let occ = occupied(r);
                overlaps = overlaps.union(&covered.intersection(&occ));
                covered = covered.union(&occ);
            }
            let gaps = covered.complement();
            (covered, gaps, overlaps)
        } else {
            let mut covered = SlotSet::new();
            let mut gaps = SlotSet::new();
            let mut overlaps = SlotSet::new();
            for c in checks {
                covered = covered.union(&c.verified);
                gaps = gaps.union(&c.verified.complement());
                overlaps = overlaps.union(&c.overlaps);
            }
            (covered, gaps, overlaps)
        };
        s.slots_covered = covered.to_string();
        s.slot_gaps = gaps.to_string();
        s.slot_overlaps = overlaps.to_string();
        s
    }
}

/// The slots holding keys (db 0) in a report.
fn occupied(r: &Report) -> SlotSet {
    let mut set = SlotSet::new();
    if let Some(c) = &r.slot_counts {
        for (s, n) in c.iter().enumerate() {
            if let (Ok(s), true) = (u16::try_from(s), *n > 0) {
                set.insert(s);
            }
        }
    }
    set
}

/// Keys of a report whose slot is not in `slots`.
fn keys_outside(r: &Report, slots: &SlotSet) -> u64 {
    let Some(c) = &r.slot_counts else { return 0 };
    c.iter()
        .enumerate()
        .filter(|(s, _)| u16::try_from(*s).is_ok_and(|s| !slots.contains(s)))
        .map(|(_, n)| u64::from(*n))
        .sum()
}

/// A manifest as read for checking: every field optional, unknown fields ignored, so both our
/// `NAME-manifest.json` and a service `DescribeSnapshots` `Snapshot` object parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestInput {
    /// Snapshot name.
    #[serde(default)]
    pub snapshot_name: Option<String>,
    /// Engine (`redis`, `valkey`).
    #[serde(default)]
    pub engine: Option<String>,
    /// Engine version (`7.0`, or the service's full `7.0.7`).
    #[serde(default)]
    pub engine_version: Option<String>,
    /// `NumNodeGroups` as the manifest gives it (any JSON value: it must be the number of
    /// `NodeSnapshots` entries).
    #[serde(default)]
    pub num_node_groups: Option<serde_json::Value>,
    /// One entry per node group.
    #[serde(default)]
    pub node_snapshots: Vec<ManifestNode>,
    /// `"disabled"` for a cluster-mode-disabled snapshot (rdbkit's `--all-dbs` exports): its
    /// file is loaded by a standalone server, so it may hold several databases and its keys
    /// are not checked against slots ([`ManifestInput::cluster_mode_disabled`]).
    #[serde(default)]
    pub cluster_mode: Option<String>,
}

/// One `NodeSnapshots` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestNode {
    /// Node group id.
    #[serde(default)]
    pub node_group_id: Option<String>,
    /// Node group configuration (slots).
    #[serde(default)]
    pub node_group_configuration: Option<ManifestGroupConfig>,
    /// File name, relative to the manifest's directory.
    #[serde(default)]
    pub file: Option<String>,
    /// RDB version of the file.
    #[serde(default)]
    pub rdb_version: Option<u16>,
    /// Keys in the file.
    #[serde(default)]
    pub keys: Option<u64>,
    /// Keys with an expiry in the file.
    #[serde(default)]
    pub expires: Option<u64>,
    /// The file's size in bytes.
    #[serde(default)]
    pub file_size_bytes: Option<u64>,
    /// The file's CRC-64 trailer, 16 hex digits.
    #[serde(default)]
    pub crc64: Option<String>,
    /// SHA-256 of the whole file, 64 hex digits.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The service's `CacheSize` (`"3 MB"`).
    #[serde(default)]
    pub cache_size: Option<String>,
    /// rdbkit's `CacheSizeBytes` (the estimate in bytes, when the manifest has it).
    #[serde(default)]
    pub cache_size_bytes: Option<u64>,
}

/// `NodeGroupConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestGroupConfig {
    /// Node group id.
    #[serde(default)]
    pub node_group_id: Option<String>,
    /// Slots, `"0-5461"` or `"0-99,200-299"`.
    #[serde(default)]
    pub slots: Option<String>,
}

/// A node group of a manifest and its slots: what a file the manifest lists must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroupSlots {
    /// The node group's id (`NodeGroupId`, else `NodeGroupConfiguration.NodeGroupId`, else
    /// `#N` for the N-th entry), as the manifest check's findings name it.
    pub group: String,
    /// Its `NodeGroupConfiguration.Slots`.
    pub slots: SlotSet,
}

impl ManifestNode {
    /// `NodeGroupId`, else `NodeGroupConfiguration.NodeGroupId`.
    pub fn group_id(&self) -> Option<String> {
        self.node_group_id.clone().or_else(|| {
            self.node_group_configuration
                .as_ref()
                .and_then(|c| c.node_group_id.clone())
        })
    }

    /// The node group's name in findings; `index` is the entry's place in `NodeSnapshots`.
    fn group_name(&self, index: usize) -> String {
        self.group_id().unwrap_or_else(|| format!("#{}", index + 1))
    }

    /// The `Slots` text, if any.
    fn slots_text(&self) -> Option<&str> {
        self.node_group_configuration
            .as_ref()
            .and_then(|c| c.slots.as_deref())
    }
}

/// Whether the file `path` (a report's `path`) is the manifest's `file` (same file name).
fn names_file(path: &str, file: &str) -> bool {
    let name = Path::new(path).file_name();
    name.is_some() && name == Path::new(file).file_name()
}

impl ManifestInput {
    /// Whether the manifest says its snapshot is of a cluster-mode-disabled group
    /// (`"ClusterMode": "disabled"`).
    pub fn cluster_mode_disabled(&self) -> bool {
        self.cluster_mode
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("disabled"))
    }

    /// For each of `paths`, the node group whose `File` it is, when that group's `Slots`
    /// parse (for a manifest with no location; `rdb-verify` places manifests instead, see
    /// [`match_manifests`]): files are matched by file name, a name given by several paths going to the
    /// first of them, as [`check_manifest`] matches reports (a report's `path` being the
    /// path's display form). Verifying each file with its group's slots as
    /// [`Options::expected_slots`] (and the group as [`Options::expected_slots_group`]) makes
    /// the verifier count and name the keys outside them; [`check_manifest`] then does not
    /// report them again.
    /// None for a cluster-mode-disabled manifest (its files may hold any database).
    pub fn node_groups_for(&self, paths: &[PathBuf]) -> Vec<Option<NodeGroupSlots>> {
        let mut out = vec![None; paths.len()];
        if self.cluster_mode_disabled() {
            return out;
        }
        for (i, node) in self.node_snapshots.iter().enumerate() {
            let Some(file) = node.file.as_deref() else {
                continue;
            };
            let Some(group) = self.node_group(i) else {
                continue;
            };
            let found = paths
                .iter()
                .position(|p| names_file(&p.display().to_string(), file));
            if let Some(slot) = found.and_then(|pi| out.get_mut(pi)) {
                slot.get_or_insert(group);
            }
        }
        out
    }

    /// The node group of `NodeSnapshots` entry `index` and its slots, when its file must hold
    /// them: `None` for a cluster-mode-disabled manifest, or when the `Slots` are missing, do
    /// not parse or overlap (the manifest check reports that).
    pub fn node_group(&self, index: usize) -> Option<NodeGroupSlots> {
        if self.cluster_mode_disabled() {
            return None;
        }
        let node = self.node_snapshots.get(index)?;
        let slots = SlotSet::parse_disjoint(node.slots_text()?).ok()?;
        Some(NodeGroupSlots {
            group: node.group_name(index),
            slots,
        })
    }

    /// Parses manifest JSON: a `Snapshot` object (rdbkit's `NAME-manifest.json`, or one
    /// snapshot of the service's output), or the `DescribeSnapshots` response around exactly
    /// one (`{"Snapshots": [{...}]}`). A leading UTF-8 byte-order mark is ignored.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut value: serde_json::Value = serde_json::from_str(text)?;
        if let Some(obj) = value.as_object_mut() {
            if !obj.contains_key("NodeSnapshots") {
                if let Some(serde_json::Value::Array(snaps)) = obj.get_mut("Snapshots") {
                    match snaps.len() {
                        1 => {
                            let one = snaps.pop().unwrap_or_default();
                            return serde_json::from_value(one);
                        }
                        0 => {}
                        n => {
                            return Err(serde::de::Error::custom(format!(
                                "\"Snapshots\" holds {n} snapshots: give a manifest of one"
                            )))
                        }
                    }
                }
            }
        }
        serde_json::from_value(value)
    }

    /// The engine line its `Engine` and `EngineVersion` name (`EngineLine`'s parser: any
    /// case, a full version such as `7.0.7` taken as its line), if both are present and the
    /// line is known.
    pub fn engine_line(&self) -> Option<crate::EngineLine> {
        let (engine, version) = (self.engine.as_deref()?, self.engine_version.as_deref()?);
        format!("{engine}-{version}").parse().ok()
    }

    /// Reads and parses a manifest file.
    pub fn from_path(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Self::from_json(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// A finding of the manifest check, with the file it concerns (`null` for set-wide findings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFinding {
    /// The report's `path` the finding belongs to.
    pub path: Option<String>,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
}

/// The result of [`check_manifest`] / [`check_matched`].
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestCheck {
    /// Findings, per file or set-wide.
    pub findings: Vec<FileFinding>,
    /// Union of the node groups' slots.
    pub covered: SlotSet,
    /// Slots of the node groups whose file was verified (a group whose file is missing leaves
    /// its slots out).
    pub verified: SlotSet,
    /// Slots assigned to more than one node group.
    pub overlaps: SlotSet,
}

impl ManifestCheck {
    /// Moves each file's findings into its report (updating `ok`); returns the set-wide ones
    /// and those about files without a report.
    pub fn apply_to(&self, reports: &mut [Report]) -> Vec<FileFinding> {
        let mut rest = Vec::new();
        for f in &self.findings {
            match f
                .path
                .as_ref()
                .and_then(|p| reports.iter_mut().find(|r| &r.path == p))
            {
                Some(r) => r.push_finding(f.finding.clone()),
                None => rest.push(f.clone()),
            }
        }
        rest
    }
}

/// A manifest read from a file: where it is decides where its node groups' files are.
#[derive(Debug, Clone)]
pub struct PlacedManifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its content.
    pub manifest: ManifestInput,
    /// Named by the user (`--manifest FILE`, or a `*.json` PATH) rather than found in a
    /// directory given: a node group whose file is not where the manifest says may then be
    /// matched by file name (a manifest kept apart from its files).
    pub named: bool,
}

impl PlacedManifest {
    /// Reads and parses the manifest at `path`.
    pub fn read(path: &Path, named: bool) -> std::io::Result<Self> {
        Ok(PlacedManifest {
            path: path.to_path_buf(),
            manifest: ManifestInput::from_path(path)?,
            named,
        })
    }

    /// The file each `NodeSnapshots` entry names, in the manifest's directory: its `File`
    /// (a relative one resolved against that directory), else the service's naming
    /// `NAME-<NodeGroupId>.rdb` (rdb-format.md §10, `my-exported-backup-0001.rdb`) with NAME
    /// the `SnapshotName`, else the manifest's own name less `-manifest.json`. `None` for an
    /// entry with neither a `File` nor a node group id.
    pub fn entry_paths(&self) -> Vec<Option<PathBuf>> {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        self.entry_names()
            .into_iter()
            .map(|n| n.map(|n| dir.join(n)))
            .collect()
    }

    /// Each entry's file name as the manifest gives or implies it (see
    /// [`PlacedManifest::entry_paths`]).
    fn entry_names(&self) -> Vec<Option<String>> {
        let own_name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix("-manifest.json"))
            .map(str::to_string);
        let name = self.manifest.snapshot_name.clone().or(own_name);
        self.manifest
            .node_snapshots
            .iter()
            .map(|node| match (&node.file, node.group_id(), &name) {
                (Some(f), _, _) => Some(f.clone()),
                (None, Some(g), Some(n)) => Some(format!("{n}-{g}.rdb")),
                _ => None,
            })
            .collect()
    }

    /// Where each entry's file may be: in the directory of the manifest as named, and, when
    /// the manifest is a link to another directory, in that one (the link's target).
    fn entry_candidates(&self) -> Vec<Vec<PathBuf>> {
        let dir = self.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let real_dir = std::fs::canonicalize(&self.path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|d| identity(&dir) != *d);
        self.entry_names()
            .into_iter()
            .map(|n| {
                let Some(n) = n else { return Vec::new() };
                let mut c = vec![dir.join(&n)];
                if let Some(rd) = &real_dir {
                    c.push(rd.join(&n));
                }
                c
            })
            .collect()
    }
}

/// For each manifest, for each of its `NodeSnapshots` entries, the index in `files` of the
/// file it names ([`PlacedManifest::entry_paths`]): the file at that path (compared by
/// canonical path, so a link or another spelling counts); for a
/// [named](PlacedManifest::named) manifest, else the first file of that file name that no
/// manifest names by path. `files` are the verified files in report order (`-`, standard
/// input, matches nothing).
pub fn match_manifests(manifests: &[PlacedManifest], files: &[PathBuf]) -> Vec<Vec<Option<usize>>> {
    let ids: Vec<Option<PathBuf>> = files
        .iter()
        .map(|f| (f.as_os_str() != "-").then(|| identity(f)))
        .collect();
    let candidates: Vec<Vec<Vec<PathBuf>>> = manifests
        .iter()
        .map(PlacedManifest::entry_candidates)
        .collect();
    let mut by_path = vec![false; files.len()];
    let mut out: Vec<Vec<Option<usize>>> = candidates
        .iter()
        .map(|entries| {
            entries
                .iter()
                .map(|cands| {
                    let i = cands.iter().find_map(|c| {
                        let want = identity(c);
                        ids.iter().position(|id| id.as_ref() == Some(&want))
                    })?;
                    if let Some(b) = by_path.get_mut(i) {
                        *b = true;
                    }
                    Some(i)
                })
                .collect()
        })
        .collect();
    for ((m, entries), matched) in manifests.iter().zip(&candidates).zip(&mut out) {
        if !m.named {
            continue;
        }
        for (cands, slot) in entries.iter().zip(matched.iter_mut()) {
            let Some(name) = cands.first().and_then(|c| c.file_name()) else {
                continue;
            };
            if slot.is_none() {
                *slot = files.iter().enumerate().position(|(i, f)| {
                    !by_path.get(i).copied().unwrap_or(true)
                        && f.as_os_str() != "-"
                        && f.file_name() == Some(name)
                });
            }
        }
    }
    out
}

/// Checks a set of reports against a manifest, matching files by file name (a manifest
/// with no location, e.g. built in memory): as [`check_matched`], plus a warning
/// `manifest-file-unlisted` for each report no entry names. `rdb-verify` places manifests
/// instead ([`match_manifests`]). The file size and SHA-256 are compared only for reports
/// read from a file ([`Report::file`]): a report of [`crate::verify_bytes`] or
/// [`crate::verify_reader`] names no file to read again.
pub fn check_manifest(manifest: &ManifestInput, reports: &[Report]) -> ManifestCheck {
    let matched: Vec<Option<usize>> = manifest
        .node_snapshots
        .iter()
        .map(|n| {
            let file = n.file.as_deref()?;
            reports.iter().position(|r| names_file(&r.path, file))
        })
        .collect();
    let expected: Vec<Option<PathBuf>> = manifest
        .node_snapshots
        .iter()
        .map(|n| n.file.as_deref().map(PathBuf::from))
        .collect();
    // Only a report made by reading a file has one to measure and hash again.
    let paths: Vec<Option<PathBuf>> = reports.iter().map(|r| r.file.clone()).collect();
    let mut check = check_matched(manifest, reports, &paths, &matched, &expected);
    check
        .findings
        .extend(unlisted(reports, [matched.as_slice()]));
    check
}

/// A warning `manifest-file-unlisted` for each report that no entry of `matchings` names.
fn unlisted<'a>(
    reports: &[Report],
    matchings: impl IntoIterator<Item = &'a [Option<usize>]>,
) -> Vec<FileFinding> {
    let mut listed = vec![false; reports.len()];
    for m in matchings {
        for &i in m.iter().flatten() {
            if let Some(l) = listed.get_mut(i) {
                *l = true;
            }
        }
    }
    reports
        .iter()
        .zip(listed)
        .filter(|(_, l)| !l)
        .map(|(r, _)| FileFinding {
            path: Some(r.path.clone()),
            finding: unlisted_finding(),
        })
        .collect()
}

/// The warning of a verified file that no manifest of the run names.
pub fn unlisted_finding() -> Finding {
    Finding::new(
        Severity::Warning,
        "manifest-file-unlisted",
        None,
        "file is not listed in any manifest",
    )
}

/// Bytes of one `MB` of the service's `CacheSize` (1 MB = 1,048,576 bytes).
const MIB: u64 = 1 << 20;

/// The manifest's CacheSize of a node in bytes: `CacheSizeBytes`, else `CacheSize` (`"3 MB"`;
/// [`parse_byte_size`]).
fn manifest_cache_size(node: &ManifestNode) -> Option<u64> {
    match node.cache_size_bytes {
        Some(b) => Some(b),
        None => parse_byte_size(node.cache_size.as_deref()?).ok(),
    }
}

/// A warning when a node's `CacheSize` text does not parse, or says another size than its
/// `CacheSizeBytes` (more than the 1 MB the text's rounding allows): the service and operators
/// read the text.
fn cache_size_text_finding(node: &ManifestNode, group: &str) -> Option<Finding> {
    let text = node.cache_size.as_deref()?;
    let warn =
        |code: &'static str, msg: String| Some(Finding::new(Severity::Warning, code, None, msg));
    match (parse_byte_size(text), node.cache_size_bytes) {
        (Err(e), _) => warn(
            "manifest-cache-size-invalid",
            format!("node group {group}: CacheSize {text:?} is not a size: {e}"),
        ),
        (Ok(said), Some(bytes)) if said.abs_diff(bytes) > MIB => warn(
            "manifest-cache-size-inconsistent",
            format!(
                "node group {group}: CacheSize {text:?} but CacheSizeBytes {bytes} ({})",
                rdb_cluster::manifest::cache_size_text(bytes)
            ),
        ),
        _ => None,
    }
}

/// The error of a manifest that names an engine (`Engine`, `EngineVersion`) this verifier does
/// not know, or only half of one: the load check and the CacheSize model it asks for cannot be
/// chosen. A caller that checks against an engine line of its own (`rdb-verify --engine`)
/// drops it.
fn engine_finding(manifest: &ManifestInput) -> Option<Finding> {
    let (engine, version) = (&manifest.engine, &manifest.engine_version);
    if (engine.is_none() && version.is_none()) || manifest.engine_line().is_some() {
        return None;
    }
    let known: Vec<&str> = crate::EngineLine::ALL.iter().map(|l| l.name()).collect();
    Some(Finding::new(
        Severity::Error,
        "manifest-engine-unknown",
        None,
        format!(
            "manifest names Engine {} EngineVersion {}: not a known engine line ({}); whether \
             the files load on it is not checked (give --engine LINE)",
            engine
                .as_deref()
                .map_or("(none)".into(), |e| format!("{e:?}")),
            version
                .as_deref()
                .map_or("(none)".into(), |v| format!("{v:?}")),
            known.join(", ")
        ),
    ))
}

/// Why [`parse_byte_size`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteSizeError {
    /// The suffix is not a unit.
    Unit,
    /// The number does not parse (the parser's message).
    Number(String),
    /// The size does not fit in 64 bits.
    Range,
}

impl std::fmt::Display for ByteSizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ByteSizeError::Unit => {
                f.write_str("unknown unit (B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB)")
            }
            ByteSizeError::Number(e) => f.write_str(e),
            ByteSizeError::Range => f.write_str("out of range"),
        }
    }
}

impl std::error::Error for ByteSizeError {}

/// A byte count with an optional binary unit, any case, space allowed before it: `1073741824`,
/// `512MiB`, `3 MB` (the service's `CacheSize`; 1 MB = 1,048,576 bytes), `13.07GiB`, `2G`.
/// Without a unit the number is a whole count; with one it may have a fraction.
pub fn parse_byte_size(text: &str) -> Result<u64, ByteSizeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" => {
            return num
                .parse()
                .map_err(|e| ByteSizeError::Number(format!("{e}")))
        }
        "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => MIB as f64,
        "g" | "gb" | "gib" => (MIB << 10) as f64,
        "t" | "tb" | "tib" => (MIB << 20) as f64,
        _ => return Err(ByteSizeError::Unit),
    };
    let v: f64 = num
        .parse()
        .map_err(|e| ByteSizeError::Number(format!("{e}")))?;
    let bytes = (v * mult).round();
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
        return Err(ByteSizeError::Range);
    }
    Ok(bytes as u64)
}

/// Checks a set of reports against a manifest whose entries were matched to reports
/// (`paths[j]`: the file of report `j`, `None` for standard input; `matched[i]`: the report of
/// entry `i`; `expected[i]`: the file it names, for messages). A matched file that could not
/// be read (an `io` finding) is reported by the verifier and not compared further (nor
/// counted as covering its slots):
/// each file's keys hash into its node group's `Slots` (`slot-outside-node-group`, with the
/// count), db 0 only (`cluster-nonzero-db`, unless the manifest is
/// [cluster-mode-disabled](ManifestInput::cluster_mode_disabled)), key / expire counts and
/// RDB version equal the manifest's (`manifest-keys-mismatch`, `manifest-expires-mismatch`,
/// `manifest-rdb-version-mismatch`), so do the file size, CRC-64 trailer and SHA-256
/// (`manifest-size-mismatch`, `manifest-crc64-mismatch`, `manifest-sha256-mismatch`) and
/// `NumNodeGroups` the entries (`manifest-node-groups-mismatch`); the CacheSize is near the
/// estimate (`manifest-cache-size-mismatch`, a warning when one is more than 1.5 times the
/// other and they differ by more than 1 MB); each group's `Slots` parse, its ranges disjoint
/// (`manifest-slots-invalid`), its id unique (`manifest-node-group-duplicate`); the groups
/// cover 0–16383 (`manifest-slot-gap`) without overlap (`manifest-slot-overlap`); every
/// listed file was verified (`manifest-file-missing`) and no two groups name the same file
/// (`manifest-file-shared`). The manifest itself must hold together: an entry's `NodeGroupId`
/// is its `NodeGroupConfiguration.NodeGroupId` when both are given
/// (`manifest-node-group-mismatch`), a cluster-mode-disabled snapshot has one node group
/// (`manifest-node-groups-mismatch`), `Engine` and `EngineVersion` name a known line
/// (`manifest-engine-unknown`), and a `CacheSize` text parses and says what `CacheSizeBytes`
/// says (warnings `manifest-cache-size-invalid`, `manifest-cache-size-inconsistent`).
///
/// A report verified with the node group's slots as [`Options::expected_slots`] and the group
/// as [`Options::expected_slots_group`] already holds its `slot-outside-node-group` and
/// `cluster-nonzero-db` findings, with the count in `slots.keys_outside_expected` and the
/// first key's offset and name: they are not repeated.
pub fn check_matched(
    manifest: &ManifestInput,
    reports: &[Report],
    paths: &[Option<PathBuf>],
    matched: &[Option<usize>],
    expected: &[Option<PathBuf>],
) -> ManifestCheck {
    let mut findings = Vec::new();
    let mut covered = SlotSet::new();
    let mut verified_slots = SlotSet::new();
    let mut overlaps = SlotSet::new();
    let err = |code: &'static str, msg: String| Finding::new(Severity::Error, code, None, msg);
    let set_wide = |f: Finding| FileFinding {
        path: None,
        finding: f,
    };
    // The whole-file hashes the manifest asks for, computed on all cores at once.
    let hashes: Vec<Option<std::io::Result<String>>> = manifest
        .node_snapshots
        .par_iter()
        .zip(matched.par_iter())
        .map(|(node, m)| {
            let r = reports.get((*m)?)?;
            node.sha256.as_ref()?;
            let path = paths.get((*m)?)?.as_deref()?;
            (!r.has_code("io")).then(|| rdb_cluster::export::file_sha256(path))
        })
        .collect();
    let mut seen_groups: Vec<(String, usize)> = Vec::new();
    let mut claimed: Vec<Option<String>> = vec![None; reports.len()];

    for (i, node) in manifest.node_snapshots.iter().enumerate() {
        let group = node.group_name(i);
        if let Some(id) = node.group_id() {
            if let Some((_, first)) = seen_groups.iter().find(|(g, _)| *g == id) {
                findings.push(set_wide(err(
                    "manifest-node-group-duplicate",
                    format!(
                        "NodeSnapshots entries {} and {} are both node group {id}",
                        first + 1,
                        i + 1
                    ),
                )));
            } else {
                seen_groups.push((id, i));
            }
        }
        let config_id = node
            .node_group_configuration
            .as_ref()
            .and_then(|c| c.node_group_id.as_deref());
        if let (Some(a), Some(b)) = (node.node_group_id.as_deref(), config_id) {
            if a != b {
                findings.push(set_wide(err(
                    "manifest-node-group-mismatch",
                    format!(
                        "NodeSnapshots entry {}: NodeGroupId {a:?} but \
                         NodeGroupConfiguration.NodeGroupId {b:?}",
                        i + 1
                    ),
                )));
            }
        }
        let slots_text = node.slots_text();
        let slots = match slots_text.map(SlotSet::parse_disjoint) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                findings.push(set_wide(err(
                    "manifest-slots-invalid",
                    format!(
                        "node group {group}: Slots {:?}: {e}",
                        slots_text.unwrap_or_default()
                    ),
                )));
                None
            }
            None => {
                findings.push(set_wide(err(
                    "manifest-slots-invalid",
                    format!("node group {group} has no NodeGroupConfiguration.Slots"),
                )));
                None
            }
        };
        if let Some(s) = &slots {
            overlaps = overlaps.union(&covered.intersection(s));
            covered = covered.union(s);
        }
        let want = expected.get(i).cloned().flatten();
        let Some(ri) = matched.get(i).copied().flatten() else {
            let finding = match &want {
                Some(p) => err(
                    "manifest-file-missing",
                    format!("node group {group}: file {} was not verified", p.display()),
                ),
                None => err(
                    "manifest-file-missing",
                    format!(
                        "node group {group}: the entry names no File, and neither a \
                         SnapshotName nor a NodeGroupId to name it by"
                    ),
                ),
            };
            findings.push(FileFinding {
                path: want.map(|p| p.display().to_string()),
                finding,
            });
            continue;
        };
        let Some(r) = reports.get(ri) else { continue };
        let path = paths.get(ri).cloned().flatten();
        let unread = r.has_code("io");
        if let (Some(s), false) = (&slots, unread) {
            verified_slots = verified_slots.union(s);
        }
        let mut push = |f: Finding| {
            findings.push(FileFinding {
                path: Some(r.path.clone()),
                finding: f,
            })
        };
        if let Some(slot) = claimed.get_mut(ri) {
            match slot {
                Some(other) => {
                    let named = want
                        .as_deref()
                        .map_or_else(String::new, |p| format!(" ({} is this file)", p.display()));
                    push(err(
                        "manifest-file-shared",
                        format!(
                            "node groups {other} and {group} both name this file{named}: each \
                             node group needs its own"
                        ),
                    ));
                    continue;
                }
                None => *slot = Some(group.clone()),
            }
        }
        if unread {
            // The verifier's `io` finding says it; nothing of the file can be compared.
            continue;
        }
        // Checked by the verifier against these very slots: its findings are in the report.
        let verified = slots.is_some()
            && r.expected_slots == slots
            && r.expected_slots_group.as_deref() == Some(group.as_str());
        if let (Some(s), false) = (&slots, verified) {
            let n = keys_outside(r, s);
            if n > 0 {
                push(err(
                    "slot-outside-node-group",
                    format!("{n} key(s) hash outside node group {group}'s slots {s}"),
                ));
            }
        }
        let other_dbs: u64 = r
            .databases
            .iter()
            .filter(|(db, _)| **db != 0)
            .map(|(_, d)| d.keys)
            .sum();
        let multi_db = manifest
            .engine_line()
            .is_some_and(crate::EngineLine::cluster_multi_db);
        if other_dbs > 0 && !verified && !manifest.cluster_mode_disabled() && !multi_db {
            push(err(
                "cluster-nonzero-db",
                format!("{other_dbs} key(s) in databases other than 0; a cluster node group holds db 0 only"),
            ));
        }
        if let Some(k) = node.keys.filter(|k| *k != r.keys) {
            push(err(
                "manifest-keys-mismatch",
                format!(
                    "manifest says {k} keys for node group {group}, the file has {}",
                    r.keys
                ),
            ));
        }
        if let Some(e) = node.expires.filter(|e| *e != r.expires) {
            push(err(
                "manifest-expires-mismatch",
                format!(
                    "manifest says {e} expires for node group {group}, the file has {}",
                    r.expires
                ),
            ));
        }
        if let (Some(v), Some(rv)) = (node.rdb_version, r.rdb_version) {
            if v != rv {
                push(err(
                    "manifest-rdb-version-mismatch",
                    format!("manifest says RDB version {v}, the file has {rv}"),
                ));
            }
        }
        // The integrity fields an operator relies on: the size, the CRC-64 trailer the
        // verification checked against the data, and the whole file's SHA-256.
        if let (Some(want), Some(path)) = (node.file_size_bytes, &path) {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() && meta.len() != want => push(err(
                    "manifest-size-mismatch",
                    format!("manifest says {want} bytes, the file has {}", meta.len()),
                )),
                Ok(_) => {}
                Err(e) => push(err(
                    "io",
                    format!("reading the size of {}: {e}", path.display()),
                )),
            }
        }
        if let (Some(want), Some(stored)) = (node.crc64.as_deref(), r.checksum.stored.as_deref()) {
            let same = u64::from_str_radix(want, 16)
                .ok()
                .zip(u64::from_str_radix(stored, 16).ok())
                .is_some_and(|(a, b)| a == b);
            if !same {
                push(err(
                    "manifest-crc64-mismatch",
                    format!("manifest says CRC-64 {want:?}, the file's trailer is {stored}"),
                ));
            }
        }
        if let (Some(want), Some(got)) = (node.sha256.as_deref(), hashes.get(i)) {
            match got {
                Some(Ok(h)) if h.eq_ignore_ascii_case(want.trim()) => {}
                Some(Ok(h)) => push(err(
                    "manifest-sha256-mismatch",
                    format!("manifest says SHA-256 {want:?}, the file's is {h}"),
                )),
                Some(Err(e)) => push(err(
                    "io",
                    format!("reading {} for its SHA-256: {e}", r.path),
                )),
                None => {}
            }
        }
        if let Some(f) = cache_size_text_finding(node, &group) {
            push(f);
        }
        if let Some(want) = manifest_cache_size(node) {
            let est = r.cache_size_bytes;
            let (lo, hi) = (want.min(est), want.max(est));
            if r.ok && hi - lo > MIB && hi as f64 > 1.5 * lo as f64 {
                push(Finding::new(
                    Severity::Warning,
                    "manifest-cache-size-mismatch",
                    None,
                    format!(
                        "manifest says CacheSize {} for node group {group}, the estimate for \
                         this file is {} ({est} bytes)",
                        node.cache_size
                            .clone()
                            .unwrap_or_else(|| format!("{want} bytes")),
                        rdb_cluster::manifest::cache_size_text(est)
                    ),
                ));
            }
        }
    }
    if manifest.cluster_mode_disabled() && manifest.node_snapshots.len() > 1 {
        findings.push(set_wide(err(
            "manifest-node-groups-mismatch",
            format!(
                "ClusterMode is disabled, but NodeSnapshots lists {} node groups: a \
                 cluster-mode-disabled snapshot has one",
                manifest.node_snapshots.len()
            ),
        )));
    }
    if let Some(f) = engine_finding(manifest) {
        findings.push(set_wide(f));
    }
    if let Some(n) = &manifest.num_node_groups {
        let entries = manifest.node_snapshots.len();
        match n.as_u64() {
            Some(v) if v == entries as u64 => {}
            Some(_) => findings.push(set_wide(err(
                "manifest-node-groups-mismatch",
                format!("NumNodeGroups is {n}, NodeSnapshots lists {entries}"),
            ))),
            None => findings.push(set_wide(err(
                "manifest-node-groups-mismatch",
                format!("NumNodeGroups is {n}: not a whole number (NodeSnapshots lists {entries})"),
            ))),
        }
    }
    if !covered.is_full() {
        findings.push(set_wide(err(
            "manifest-slot-gap",
            format!("node groups do not cover slots {}", covered.complement()),
        )));
    }
    if !overlaps.is_empty() {
        findings.push(set_wide(err(
            "manifest-slot-overlap",
            format!("slots {overlaps} belong to more than one node group"),
        )));
    }
    ManifestCheck {
        findings,
        covered,
        verified: verified_slots,
        overlaps,
    }
}
