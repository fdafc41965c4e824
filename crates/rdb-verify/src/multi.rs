//! Several files at once: [`verify_many`] (rayon), the [`Summary`] row, the input expansion of
//! the CLI ([`expand_paths`]) and the manifest check ([`check_manifest`]).

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
    let threads = match jobs {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let parts = threads / paths.len().max(1);
    let one = |p: &PathBuf| {
        let r = if parts > 1 {
            crate::verify_file_in_parts(p, opts, parts)
                .unwrap_or_else(|e| crate::io_error_report(p, &e))
        } else {
            crate::verify_file(p, opts)
        };
        on_done(&r);
        r
    };
    match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(pool) => pool.install(|| paths.par_iter().map(one).collect()),
        Err(_) => paths.iter().map(one).collect(),
    }
}

/// What the command line's `PATH...` expand to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// RDB files: files given directly, and every `*.rdb` of the directories given (sorted).
    pub files: Vec<PathBuf>,
    /// `*-manifest.json` files found in the directories given.
    pub manifests: Vec<PathBuf>,
}

/// Expands files and directories as `rdb-verify PATH...` does: a file is taken as is; a
/// directory contributes its `*.rdb` files and `*-manifest.json` (not recursively).
pub fn expand_paths(paths: &[PathBuf]) -> std::io::Result<Inputs> {
    let mut out = Inputs::default();
    for p in paths {
        if p.is_dir() {
            let mut rdb = Vec::new();
            let mut man = Vec::new();
            for e in std::fs::read_dir(p)? {
                let path = e?.path();
                if !path.is_file() {
                    continue;
                }
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".rdb") {
                    rdb.push(path);
                } else if name.ends_with("-manifest.json") {
                    man.push(path);
                }
            }
            rdb.sort();
            man.sort();
            out.files.extend(rdb);
            out.manifests.extend(man);
        } else {
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
    /// One entry per node group.
    #[serde(default)]
    pub node_snapshots: Vec<ManifestNode>,
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

impl ManifestInput {
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

fn file_name(p: &str) -> Option<&std::ffi::OsStr> {
    Path::new(p).file_name()
}

/// Checks a set of reports against a manifest: each file's keys hash into its node group's
/// `Slots` (`slot-outside-node-group`, with the count), db 0 only (`cluster-nonzero-db`), key /
/// expire counts and RDB version equal the manifest's (`manifest-keys-mismatch`,
/// `manifest-expires-mismatch`, `manifest-rdb-version-mismatch`), the groups cover 0–16383
/// (`manifest-slot-gap`) without overlap (`manifest-slot-overlap`), every listed file was
/// verified (`manifest-file-missing`) and every verified file is listed
/// (`manifest-file-unlisted`, warning). Files are matched by file name.
pub fn check_manifest(manifest: &ManifestInput, reports: &[Report]) -> ManifestCheck {
    let mut findings = Vec::new();
    let mut covered = SlotSet::new();
    let mut overlaps = SlotSet::new();
    let mut listed = vec![false; reports.len()];
    let err = |code: &'static str, msg: String| Finding::new(Severity::Error, code, None, msg);

    for (i, node) in manifest.node_snapshots.iter().enumerate() {
        let group = node
            .node_group_id
            .clone()
            .or_else(|| {
                node.node_group_configuration
                    .as_ref()
                    .and_then(|c| c.node_group_id.clone())
            })
            .unwrap_or_else(|| format!("#{}", i + 1));
        let slots_text = node
            .node_group_configuration
            .as_ref()
            .and_then(|c| c.slots.clone());
        let slots = match slots_text.as_deref().map(SlotSet::parse) {
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
        let found = reports
            .iter()
            .position(|r| file_name(&r.path).is_some() && file_name(&r.path) == file_name(file));
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
        if let Some(s) = &slots {
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
        if other_dbs > 0 {
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
