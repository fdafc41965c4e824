//! Oracle of the `export_cluster` target: `rdbkit export`'s split of a keyspace across node
//! groups of any shape, and `rdb-verify`'s check of the set against its manifest.
//!
//! From the bytes: a keyspace (database 0 unless said below), a topology of 1–5 node groups whose slots are
//! 1–8 contiguous pieces (cut at random slots or right at a key's slot, so a key sits on a
//! boundary; pieces past the first of each group go to any group, so a group's slots need not
//! be contiguous), ids sequential or any four digits, a target line, 1–3 threads,
//! compression on or off, and the export's own check before publishing on or off; now and
//! then a keyspace in several databases, exported as one of them (as database 0), as all of
//! them (one node group), or as database 0 alone, which is refused. Then:
//! - the export succeeds and leaves exactly the node files and the manifest, nothing else
//!   (refused: `OtherDatabases` naming every database with keys, and nothing left);
//! - every key is in the file of the group owning its slot, once: the files together read
//!   back as the keyspace (what the target keeps of it), and each node's keys and expires are
//!   the manifest's and its report's; every file has the functions and module data;
//! - `rdb-verify DIR` (the CLI's run, the manifest found in the directory) exits 0 with no
//!   error finding, totals the keys, and (with the check) each file's CacheSize is the one
//!   the manifest states;
//! - a manifest edited to say one node's `Keys` and one node's `Expires` one off (up or
//!   down) and, with several groups, to give a group the lowest slot of another is reported
//!   (`manifest-keys-mismatch`, `manifest-expires-mismatch`, `manifest-slot-overlap`); a file
//!   holding another group's keys (two node files' contents swapped) as
//!   `slot-outside-node-group`, and a removed node file as `manifest-file-missing`; all exit 1.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rdb_cli::verify::{Config, Outcome};
use rdb_cluster::export::{export_keyspace, DbSelection, ExportError, ExportPlan, ExportResult};
use rdb_cluster::slotset::SlotSet;
use rdb_cluster::topology::{NodeGroup, Topology};
use rdb_format::slot::{key_slot, SLOTS};
use rdb_model::{Keyspace, Value};
use rdb_verify::{Finding, Severity};
use rdb_writer::Target;

use super::{gen_keyspace, Input, FUZZ_NOW_MS};
use crate::readback::{assert_same_keyspace, canonical, expected, sort_entries};

/// Runs the oracle (see the module docs).
pub fn export_cluster(data: &[u8]) {
    let mut inp = Input::new(data);
    let target = Target::ALL[usize::from(inp.u8()) % Target::ALL.len()];
    let flags = inp.u8();
    let picks = inp.u8();
    // The topology's bytes come first (the keyspace takes what it finds), read once the keys
    // are known.
    let mut spec = Input::new(inp.bytes(TOPOLOGY_BYTES));
    let mut ks = gen_keyspace(&mut inp, flags & 0x20 == 0);
    if flags & 0x80 == 0 {
        // Module data makes every export that checks its files fail: most runs go without.
        ks.module_aux.clear();
        for d in ks.dbs.values_mut() {
            d.entries.retain(|e| !matches!(e.value, Value::Module(_)));
        }
    }
    let topology = gen_topology(&mut spec, &ks);
    let dir = super::scratch_dir();
    let groups = topology.len();
    let mut plan = ExportPlan::new("fuzz", dir.path(), topology, target);
    plan.now = FUZZ_NOW_MS / 1000;
    plan.drop_unsupported = true;
    plan.threads = 1 + usize::from(flags % 3);
    plan.compression = flags & 4 != 0;
    let checked = flags & 8 == 0;
    plan.db = db_selection(flags, picks, &ks, groups);
    if checked {
        rdb_verify::publish::verify_before_publishing(&mut plan);
    }
    let used_dbs: Vec<u64> = ks
        .dbs
        .iter()
        .filter(|(_, d)| !d.entries.is_empty())
        .map(|(&db, _)| u64::from(db))
        .collect();
    if plan.db == DbSelection::Db0 && used_dbs.iter().any(|&db| db != 0) {
        // A cluster export holds database 0 only: refused, naming every database with keys.
        match export_keyspace(&ks, &plan) {
            Err(ExportError::OtherDatabases { dbs }) => assert_eq!(dbs, used_dbs),
            other => panic!("{target}: keys in databases {used_dbs:?}: {other:?}"),
        }
        assert_nothing_left(dir.path(), target);
        return;
    }
    let want = expected(&selected(&ks, plan.db), target);
    // No line loads module data without its module: the check refuses it, `rdb-verify`
    // reports it.
    let modules = !want.module_aux.is_empty()
        || want
            .dbs
            .values()
            .flat_map(|d| &d.entries)
            .any(|e| matches!(e.value, Value::Module(_)));
    let res = match export_keyspace(&ks, &plan) {
        Ok(res) => res,
        Err(e) if checked && modules => {
            assert!(
                e.to_string().contains("module"),
                "{target}: refused for another reason: {e}"
            );
            assert_nothing_left(dir.path(), target);
            return;
        }
        Err(e) => panic!("{target}, {groups} groups: the export fails: {e}"),
    };
    assert!(
        !(checked && modules),
        "{target}: the check passed module data"
    );
    let case = Case {
        target,
        plan: &plan,
        res: &res,
        jobs: 1 + usize::from(flags >> 4 & 1),
    };
    case.check_files(&want);
    case.check_verified(checked && !expires_near_now(&ks), modules);
    case.check_edited_manifest(picks, flags & 0x40 != 0);
    case.check_swapped(picks);
    case.check_removed(picks);
}

/// A finished export under test.
struct Case<'a> {
    target: Target,
    plan: &'a ExportPlan,
    res: &'a ExportResult,
    /// `rdb-verify --jobs`.
    jobs: usize,
}

impl Case<'_> {
    /// `rdb-verify` on the export's directory.
    fn verify(&self) -> Outcome {
        verify_dir(&self.plan.out_dir, self.jobs)
    }

    /// Exactly the node files and the manifest; every key in its group's file, counted as the
    /// manifest says; the files together the keyspace `want` (each with its functions and
    /// module data).
    fn check_files(&self, want: &Keyspace) {
        let target = self.target;
        let mut listed: Vec<PathBuf> = std::fs::read_dir(&self.plan.out_dir)
            .expect("listing the scratch directory")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        listed.sort();
        let mut want_files = self.plan.output_files();
        want_files.sort();
        assert_eq!(listed, want_files, "{target}: the files of the export");

        let mut union = Keyspace::default();
        let groups = &self.plan.topology.groups;
        for ((node, group), snap) in self
            .res
            .nodes
            .iter()
            .zip(groups)
            .zip(&self.res.manifest.node_snapshots)
        {
            let id = &group.id;
            assert_eq!((&node.node_group_id, &snap.node_group_id), (id, id));
            let bytes = std::fs::read(&node.path).expect("reading a node file");
            let back = canonical(
                rdb_reader::read_keyspace(&bytes)
                    .unwrap_or_else(|e| panic!("{target}: node {id}: {e}")),
            );
            assert_eq!(back.functions, want.functions, "{target}: node {id}");
            assert_eq!(back.module_aux, want.module_aux, "{target}: node {id}");
            let (mut keys, mut expires) = (0u64, 0u64);
            for (&db, d) in &back.dbs {
                assert!(
                    db == 0 || self.plan.db == DbSelection::All,
                    "{target}: node {id} holds database {db}"
                );
                for e in &d.entries {
                    let slot = key_slot(&e.key);
                    assert!(
                        group.slots.contains(slot),
                        "{target}: node {id} ({}) holds {:?} of slot {slot}",
                        group.slots,
                        String::from_utf8_lossy(&e.key)
                    );
                    keys += 1;
                    expires += u64::from(e.expire_at_ms.is_some());
                }
                union.db_mut(db).entries.extend(d.entries.iter().cloned());
            }
            assert_eq!((keys, expires), (node.keys, node.expires), "node {id}");
            assert_eq!((keys, expires), (snap.keys, snap.expires), "node {id}");
            union.functions.clone_from(&back.functions);
            union.module_aux.clone_from(&back.module_aux);
        }
        let mut want_sorted = want.clone();
        sort_entries(&mut want_sorted);
        sort_entries(&mut union);
        assert_same_keyspace(&union, &want_sorted, target);
    }

    /// `rdb-verify DIR` finds the manifest, totals the keys, and exits 0 with no error
    /// finding (with module data: 1, `engine-incompatible` only); with `same_cache_size`
    /// (the export checked its files, on a clock that counts the same keys expired) each
    /// file's CacheSize is the manifest's.
    fn check_verified(&self, same_cache_size: bool, modules: bool) {
        let (target, res) = (self.target, self.res);
        let out = self.verify();
        let errors = error_findings(&out);
        let codes = error_codes(&out);
        if modules {
            assert!(
                out.exit_code() == 1
                    && !codes.is_empty()
                    && codes.iter().all(|&c| c == "engine-incompatible"),
                "{target}: rdb-verify of an export with module data exits {}: {errors:?}",
                out.exit_code()
            );
        } else {
            assert!(
                out.exit_code() == 0 && errors.is_empty(),
                "{target}: rdb-verify of the export exits {}: {errors:?}",
                out.exit_code()
            );
        }
        assert_eq!(out.manifests.len(), 1, "{target}: the manifest is found");
        let total: u64 = res.nodes.iter().map(|n| n.keys).sum();
        assert_eq!(out.summary.keys, total, "{target}: keys in all");
        if same_cache_size {
            for (node, snap) in res.nodes.iter().zip(&res.manifest.node_snapshots) {
                let report = report_of(&out, &node.path);
                assert_eq!(
                    report.cache_size_bytes, snap.cache_size_bytes,
                    "{target}: node {}: rdb-verify's CacheSize against the manifest's",
                    node.node_group_id
                );
            }
        }
    }

    /// The manifest edited to say one node's `Keys` and one node's `Expires` one off (`down`:
    /// one less, when not 0) and, with several groups, to give a group the lowest slot of
    /// another: each is reported. The manifest is restored after.
    fn check_edited_manifest(&self, picks: u8, down: bool) {
        let (target, res) = (self.target, self.res);
        let text = std::fs::read_to_string(&res.manifest_path).expect("reading the manifest");
        let mut edited: serde_json::Value = serde_json::from_str(&text).expect("the manifest");
        let groups = &self.plan.topology.groups;
        let n = res.nodes.len();
        let (p, q) = (usize::from(picks) % n, usize::from(picks >> 3) % n);
        let mut want_codes = vec!["manifest-keys-mismatch", "manifest-expires-mismatch"];
        let nodes = edited["NodeSnapshots"]
            .as_array_mut()
            .expect("NodeSnapshots");
        let off_by_one = |v: &mut serde_json::Value| {
            let x = v.as_u64().expect("a count");
            *v = (if x > 0 && down { x - 1 } else { x + 1 }).into();
        };
        off_by_one(&mut nodes[p]["Keys"]);
        off_by_one(&mut nodes[q]["Expires"]);
        if n > 1 {
            // Group `q + 1` also claims the lowest slot of group `q`.
            let lowest = groups[q].slots.min().expect("a group has slots");
            let r = (q + 1) % n;
            let mut slots = groups[r].slots.clone();
            slots.insert(lowest);
            nodes[r]["NodeGroupConfiguration"]["Slots"] = slots.to_string().into();
            want_codes.push("manifest-slot-overlap");
        }
        std::fs::write(&res.manifest_path, edited.to_string()).expect("writing the manifest");
        let out = self.verify();
        let got = error_codes(&out);
        assert!(
            out.exit_code() == 1 && want_codes.iter().all(|c| got.contains(c)),
            "{target}: manifest edited (Keys of node {p}, Expires of node {q}): exit {}, {got:?}",
            out.exit_code()
        );
        std::fs::write(&res.manifest_path, &text).expect("restoring the manifest");
    }

    /// With several groups, a node file holding another group's keys (two files' contents
    /// swapped, then swapped back) is `slot-outside-node-group`.
    fn check_swapped(&self, picks: u8) {
        let (target, nodes) = (self.target, &self.res.nodes);
        let Some(i) = nodes.iter().position(|n| n.keys > 0) else {
            return;
        };
        if nodes.len() < 2 {
            return;
        }
        let j = (i + 1 + usize::from(picks & 0xF) % (nodes.len() - 1)) % nodes.len();
        let (a, b) = (&nodes[i].path, &nodes[j].path);
        swap_files(a, b);
        let out = self.verify();
        assert!(
            out.exit_code() == 1 && report_of(&out, b).has_code("slot-outside-node-group"),
            "{target}: node {}'s keys in node {}'s file: exit {}, {:?}",
            nodes[i].node_group_id,
            nodes[j].node_group_id,
            out.exit_code(),
            error_codes(&out)
        );
        swap_files(a, b);
    }

    /// A node file removed is `manifest-file-missing`.
    fn check_removed(&self, picks: u8) {
        let (target, nodes) = (self.target, &self.res.nodes);
        let k = usize::from(picks >> 4) % nodes.len();
        std::fs::remove_file(&nodes[k].path).expect("removing a node file");
        let out = self.verify();
        assert!(
            out.exit_code() == 1 && error_codes(&out).contains(&"manifest-file-missing"),
            "{target}: node {}'s file removed: exit {}, {:?}",
            nodes[k].node_group_id,
            out.exit_code(),
            error_codes(&out)
        );
    }
}

/// Panics unless `dir` is empty (a refused export leaves nothing).
fn assert_nothing_left(dir: &Path, target: Target) {
    let left = std::fs::read_dir(dir)
        .expect("listing the scratch directory")
        .count();
    assert_eq!(left, 0, "{target}: a refused export left {left} file(s)");
}

/// The report of the file at `path` in a run.
fn report_of<'o>(out: &'o Outcome, path: &Path) -> &'o rdb_verify::Report {
    out.files
        .iter()
        .find(|r| r.file.as_deref() == Some(path))
        .unwrap_or_else(|| panic!("no report for {}", path.display()))
}

/// Which databases to export: database 0 (the default) unless the keyspace has several
/// (`flags` bit 5); then, from `picks`, every database (one node group only), database 0 alone
/// (refused when others hold keys), or one database of the keyspace, written as database 0.
fn db_selection(flags: u8, picks: u8, ks: &Keyspace, groups: usize) -> DbSelection {
    if flags & 0x20 == 0 {
        return DbSelection::Db0;
    }
    match picks & 3 {
        0 if groups == 1 => DbSelection::All,
        1 => DbSelection::Db0,
        _ => {
            let dbs: Vec<u32> = ks.dbs.keys().copied().collect();
            DbSelection::Db(
                dbs.get(usize::from(picks >> 2) % dbs.len().max(1))
                    .copied()
                    .unwrap_or(0),
            )
        }
    }
}

/// What an export of `db` holds of `ks`: `DbSelection::Db(n)` database `n` as database 0.
fn selected(ks: &Keyspace, db: DbSelection) -> Keyspace {
    let mut out = ks.clone();
    if let DbSelection::Db(n) = db {
        out.dbs.clear();
        if let Some(d) = ks.dbs.get(&n) {
            out.dbs.insert(0, d.clone());
        }
    }
    out
}

/// Bytes of the input that [`gen_topology`] reads (what it does not use is skipped).
const TOPOLOGY_BYTES: usize = 48;

/// A valid topology from the bytes (see the module docs).
fn gen_topology(inp: &mut Input<'_>, ks: &Keyspace) -> Topology {
    let key_slots: Vec<u16> = ks
        .dbs
        .values()
        .flat_map(|d| d.entries.iter().map(|e| key_slot(&e.key)))
        .collect();
    let groups = 1 + usize::from(inp.u8() % 5);
    let pieces = groups + usize::from(inp.u8() % 4);
    let mut cuts = BTreeSet::new();
    for _ in 0..4 * pieces {
        if cuts.len() + 1 >= pieces {
            break;
        }
        let b = inp.u8();
        let cut = match key_slots.get(usize::from(b >> 2) % key_slots.len().max(1)) {
            // Right at a key: the key opens a piece, or closes one.
            Some(&slot) if b & 1 == 0 => slot + u16::from(b >> 1 & 1),
            _ => inp.u16() % SLOTS,
        };
        if (1..SLOTS).contains(&cut) {
            cuts.insert(cut);
        }
    }
    let bounds: Vec<u16> = std::iter::once(0)
        .chain(cuts)
        .chain(std::iter::once(SLOTS))
        .collect();
    let groups = groups.min(bounds.len() - 1);
    let mut sets = vec![SlotSet::new(); groups];
    for (i, w) in bounds.windows(2).enumerate() {
        let g = if i < groups {
            i
        } else {
            usize::from(inp.u8()) % groups
        };
        sets[g].insert_range(w[0]..=w[1] - 1);
    }
    let sequential = inp.bool();
    let mut used = BTreeSet::new();
    let groups = sets
        .into_iter()
        .enumerate()
        .map(|(i, slots)| {
            let mut id = if sequential {
                i as u16 + 1
            } else {
                1 + inp.u16() % 9999
            };
            while !used.insert(id) {
                id = id % 9999 + 1;
            }
            NodeGroup {
                id: format!("{id:04}"),
                slots,
            }
        })
        .collect();
    let topology = Topology { groups };
    topology
        .validate()
        .unwrap_or_else(|e| panic!("the generated topology is invalid: {e}"));
    topology
}

/// `rdb-verify DIR --jobs JOBS`, as the command runs it.
fn verify_dir(dir: &Path, jobs: usize) -> Outcome {
    let cfg = Config {
        paths: vec![dir.to_path_buf()],
        jobs,
        ..Config::default()
    };
    rdb_cli::verify::run(&cfg, |_| {}, |_| {}).expect("rdb-verify runs")
}

/// The error findings of a run, per file and set-wide.
fn errors(out: &Outcome) -> impl Iterator<Item = &Finding> {
    let files = out.files.iter().flat_map(|r| &r.findings);
    let set = out.findings.iter().map(|f| &f.finding);
    files.chain(set).filter(|f| f.severity == Severity::Error)
}

/// The error findings of a run as `code: message`.
fn error_findings(out: &Outcome) -> Vec<String> {
    errors(out)
        .map(|f| format!("{}: {}", f.code, f.message))
        .collect()
}

/// The codes of the error findings of a run.
fn error_codes(out: &Outcome) -> Vec<&'static str> {
    errors(out).map(|f| f.code).collect()
}

/// Whether a key expires between a day before the real clock and a day after the fuzzing
/// clock: `rdb-verify` (on the real clock) and the export's check (on the fuzzing clock) may
/// then count different keys as expired, and so different CacheSizes.
fn expires_near_now(ks: &Keyspace) -> bool {
    const DAY_MS: i64 = 86_400_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (lo, hi) = (now.min(FUZZ_NOW_MS) - DAY_MS, now.max(FUZZ_NOW_MS) + DAY_MS);
    ks.dbs
        .values()
        .flat_map(|d| &d.entries)
        .filter_map(|e| e.expire_at_ms)
        .any(|t| (lo..=hi).contains(&t))
}

/// Swaps the contents of two files (through a third name).
fn swap_files(a: &Path, b: &Path) {
    let tmp = a.with_extension("swap");
    std::fs::rename(a, &tmp).expect("renaming");
    std::fs::rename(b, a).expect("renaming");
    std::fs::rename(&tmp, b).expect("renaming");
}
