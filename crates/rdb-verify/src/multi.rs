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
    /// `*-manifest.json` files found in the directories given, each once.
    pub manifests: Vec<PathBuf>,
}

/// What identifies a file among the inputs: its canonical path (symbolic links, `.` and `..`
/// resolved), else (a path that does not exist) the path made absolute.
fn identity(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Expands files and directories as `rdb-verify PATH...` does: a file is taken as is; a
/// directory contributes its `*.rdb` and `*-manifest.json` entries that are not directories
/// (not recursively; links that lead nowhere included, so that they are reported).
///
/// A file reached more than once (named twice, named and also inside a directory given, a
/// directory given twice, another spelling of the same path) is kept once, where it first
/// appears and as it was first spelled: files are compared by canonical path.
pub fn expand_paths(paths: &[PathBuf]) -> std::io::Result<Inputs> {
    let mut out = Inputs::default();
    let mut seen_files = HashSet::new();
    let mut seen_manifests = HashSet::new();
    for p in paths {
        if p.is_dir() {
            let mut rdb = Vec::new();
            let mut man = Vec::new();
            for e in std::fs::read_dir(p)? {
                let path = e?.path();
                // Everything but a directory: a dangling or looping link, or a file that
                // cannot be read, is listed and reported as not readable (exit 2), never
                // skipped; names are compared as bytes, so a name that is not UTF-8 counts.
                if path.is_dir() {
                    continue;
                }
                let name = path.file_name().map_or(&b""[..], |n| n.as_encoded_bytes());
                if name.ends_with(b".rdb") {
                    rdb.push(path);
                } else if name.ends_with(b"-manifest.json") {
                    man.push(path);
                }
            }
            rdb.sort();
            man.sort();
            out.files
                .extend(rdb.into_iter().filter(|f| seen_files.insert(identity(f))));
            out.manifests.extend(
                man.into_iter()
                    .filter(|m| seen_manifests.insert(identity(m))),
            );
        } else if seen_files.insert(identity(p)) {
            // Opened (and reported) by the verifier itself.
            out.files.push(p.clone());
        }
    }
    Ok(out)
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
    /// Keys in all files.
    pub keys: u64,
    /// Keys with an expiry in all files.
    pub expires: u64,
    /// Sum of the files' CacheSize estimates.
    pub cache_size_bytes: u64,
    /// With a manifest: the union of the node groups' slots; otherwise the slots holding keys
    /// (db 0) in any file.
    pub slots_covered: String,
    /// Slots of 0–16383 not covered (`""` when all are).
    pub slot_gaps: String,
    /// With a manifest: slots assigned to more than one node group; otherwise slots holding keys
    /// in more than one file.
    pub slot_overlaps: String,
}

impl Summary {
    /// Totals over `reports`; slot coverage from `manifest` when given (see the fields).
    pub fn from_reports(reports: &[Report], manifest: Option<&ManifestCheck>) -> Self {
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
        let (covered, overlaps) = match manifest {
            Some(m) => (m.covered.clone(), m.overlaps.clone()),
            None => {
                let mut covered = SlotSet::new();
                let mut overlaps = SlotSet::new();
                for r in reports {
                    let occ = occupied(r);
                    overlaps = overlaps.union(&covered.intersection(&occ));
                    covered = covered.union(&occ);
                }
                (covered, overlaps)
            }
        };
        s.slots_covered = covered.to_string();
        s.slot_gaps = covered.complement().to_string();
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
    /// The node group's name in findings; `index` is the entry's place in `NodeSnapshots`.
    fn group_name(&self, index: usize) -> String {
        self.node_group_id
            .clone()
            .or_else(|| {
                self.node_group_configuration
                    .as_ref()
                    .and_then(|c| c.node_group_id.clone())
            })
            .unwrap_or_else(|| format!("#{}", index + 1))
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
    /// parse: files are matched by file name, a name given by several paths going to the
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
            let Some(Ok(slots)) = node.slots_text().map(SlotSet::parse) else {
                continue;
            };
            let found = paths
                .iter()
                .position(|p| names_file(&p.display().to_string(), file));
            if let Some(slot) = found.and_then(|pi| out.get_mut(pi)) {
                slot.get_or_insert_with(|| NodeGroupSlots {
                    group: node.group_name(i),
                    slots,
                });
            }
        }
        out
    }

    /// Parses manifest JSON.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
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

/// The result of [`check_manifest`].
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestCheck {
    /// Findings, per file or set-wide.
    pub findings: Vec<FileFinding>,
    /// Union of the node groups' slots.
    pub covered: SlotSet,
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

/// Checks a set of reports against a manifest: each file's keys hash into its node group's
/// `Slots` (`slot-outside-node-group`, with the count), db 0 only (`cluster-nonzero-db`, unless
/// the manifest is [cluster-mode-disabled](ManifestInput::cluster_mode_disabled)), key /
/// expire counts and RDB version equal the manifest's (`manifest-keys-mismatch`,
/// `manifest-expires-mismatch`, `manifest-rdb-version-mismatch`), so do the file size and
/// CRC-64 trailer (`manifest-size-mismatch`, `manifest-crc64-mismatch`) and `NumNodeGroups`
/// the entries (`manifest-node-groups-mismatch`), the groups cover 0–16383
/// (`manifest-slot-gap`) without overlap (`manifest-slot-overlap`), every listed file was
/// verified (`manifest-file-missing`) and every verified file is listed
/// (`manifest-file-unlisted`, warning). Files are matched by file name.
///
/// A report verified with the node group's slots as [`Options::expected_slots`] and the group
/// as [`Options::expected_slots_group`] (see [`ManifestInput::node_groups_for`]) already holds
/// its `slot-outside-node-group` and `cluster-nonzero-db` findings, with the count in
/// `slots.keys_outside_expected` and the first key's offset and name: they are not repeated.
pub fn check_manifest(manifest: &ManifestInput, reports: &[Report]) -> ManifestCheck {
    let mut findings = Vec::new();
    let mut covered = SlotSet::new();
    let mut overlaps = SlotSet::new();
    let mut listed = vec![false; reports.len()];
    let err = |code: &'static str, msg: String| Finding::new(Severity::Error, code, None, msg);

    for (i, node) in manifest.node_snapshots.iter().enumerate() {
        let group = node.group_name(i);
        let slots_text = node.slots_text();
        let slots = match slots_text.map(SlotSet::parse) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                findings.push(FileFinding {
                    path: None,
                    finding: err(
                        "manifest-slots-invalid",
                        format!(
                            "node group {group}: Slots {:?}: {e}",
                            slots_text.unwrap_or_default()
                        ),
                    ),
                });
                None
            }
            None => {
                findings.push(FileFinding {
                    path: None,
                    finding: err(
                        "manifest-slots-invalid",
                        format!("node group {group} has no NodeGroupConfiguration.Slots"),
                    ),
                });
                None
            }
        };
        if let Some(s) = &slots {
            overlaps = overlaps.union(&covered.intersection(s));
            covered = covered.union(s);
        }
        let Some(file) = node.file.as_deref() else {
            continue;
        };
        let found = reports.iter().position(|r| names_file(&r.path, file));
        let Some(ri) = found else {
            findings.push(FileFinding {
                path: Some(file.to_string()),
                finding: err(
                    "manifest-file-missing",
                    format!("node group {group}: file {file} was not verified"),
                ),
            });
            continue;
        };
        if let Some(l) = listed.get_mut(ri) {
            *l = true;
        }
        let Some(r) = reports.get(ri) else { continue };
        let mut push = |f: Finding| {
            findings.push(FileFinding {
                path: Some(r.path.clone()),
                finding: f,
            })
        };
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
        if other_dbs > 0 && !verified && !manifest.cluster_mode_disabled() {
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
        // The integrity fields an operator relies on: the size, and the CRC-64 trailer the
        // verification checked against the data.
        if let (Some(want), Ok(meta)) = (node.file_size_bytes, std::fs::metadata(&r.path)) {
            if meta.is_file() && meta.len() != want {
                push(err(
                    "manifest-size-mismatch",
                    format!("manifest says {want} bytes, the file has {}", meta.len()),
                ));
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
    }
    if let Some(n) = &manifest.num_node_groups {
        let entries = manifest.node_snapshots.len();
        if n.as_u64() != Some(entries as u64) {
            findings.push(FileFinding {
                path: None,
                finding: err(
                    "manifest-node-groups-mismatch",
                    format!("NumNodeGroups is {n}, NodeSnapshots lists {entries}"),
                ),
            });
        }
    }
    for (i, r) in reports.iter().enumerate() {
        if !listed.get(i).copied().unwrap_or(false) {
            findings.push(FileFinding {
                path: Some(r.path.clone()),
                finding: Finding::new(
                    Severity::Warning,
                    "manifest-file-unlisted",
                    None,
                    "file is not listed in the manifest",
                ),
            });
        }
    }
    if !covered.is_full() {
        findings.push(FileFinding {
            path: None,
            finding: err(
                "manifest-slot-gap",
                format!("node groups do not cover slots {}", covered.complement()),
            ),
        });
    }
    if !overlaps.is_empty() {
        findings.push(FileFinding {
            path: None,
            finding: err(
                "manifest-slot-overlap",
                format!("slots {overlaps} belong to more than one node group"),
            ),
        });
    }
    ManifestCheck {
        findings,
        covered,
        overlaps,
    }
}
