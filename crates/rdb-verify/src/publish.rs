//! The check an export runs on each node file before publishing any
//! ([`rdb_cluster::export::ExportPlan::check`]): the file verified as
//! `rdb-verify --engine TARGET --slots SLOTS` would, so that an export never publishes a file
//! `rdb-verify` rejects (e.g. a value copied unchanged from a source whose bytes are damaged
//! but whose checksum holds), and each node's `CacheSize` is this crate's estimate.
//!
//! `rdb-cluster` cannot call the verifier itself (the verifier depends on it), so a library
//! export sets the check with [`verify_before_publishing`]; `rdbkit export` always does.
//!
//! ```no_run
//! use rdb_cluster::export::{export_keyspace, ExportPlan};
//! use rdb_cluster::topology::Topology;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let keyspace = rdb_model::Keyspace::default();
//! let mut plan = ExportPlan::new(
//!     "backup",
//!     "/tmp/out",
//!     Topology::even(2)?,
//!     rdb_writer::Target::Redis70,
//! );
//! rdb_verify::publish::verify_before_publishing(&mut plan);
//! let result = export_keyspace(&keyspace, &plan)?;
//! # let _ = result;
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use rdb_cluster::export::{DbSelection, ExportPlan, NodeCheck};
use rdb_cluster::slotset::SlotSet;
use rdb_writer::Target;

use crate::{CacheModel, EngineLine, Options, Severity};

/// Warnings of one node file's check that are listed (the rest are counted in one line).
pub const MAX_CHECK_WARNINGS: usize = 10;

/// Checks a written node file as `rdb-verify --engine TARGET --slots SLOTS` would (with the
/// target's memory model, for a server in cluster mode when `clustered`; without the slot
/// check when not clustered, as every database is kept): its `CacheSize`, and the first error
/// finding, which keeps the export from publishing anything. Duplicate-key detection is off:
/// the export has already checked every key for repeats. `now_s` (Unix seconds) decides which
/// keys are already expired.
pub fn check_node_file(
    path: &Path,
    slots: &SlotSet,
    target: Target,
    clustered: bool,
    now_s: i64,
) -> NodeCheck {
    let model = cache_model_for(target);
    let opts = Options {
        duplicate_keys: false,
        cache_model: if clustered { model.clustered() } else { model },
        expected_slots: clustered.then(|| slots.clone()),
        engine: target.name().parse::<EngineLine>().ok(),
        now_ms: now_s.saturating_mul(1000),
        ..Options::default()
    };
    let report = crate::verify_file(path, &opts);
    let mut warnings: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .take(MAX_CHECK_WARNINGS)
        .map(ToString::to_string)
        .collect();
    // Counted beyond the verifier's listing limit too.
    let total = report.warning_count();
    if total > warnings.len() as u64 {
        let more = total - warnings.len() as u64;
        warnings.push(format!(
            "and {more} more warning(s): `rdb-verify --json` on the file lists up to 100 of \
             each code and counts the rest"
        ));
    }
    NodeCheck {
        cache_size_bytes: report.cache_size_bytes,
        already_expired: report.already_expired,
        problem: report.first_error().map(ToString::to_string),
        warnings,
    }
}

/// The memory model of the servers a target line names ([`CacheModel::for_engine`]).
pub fn cache_model_for(target: Target) -> CacheModel {
    match target.name().parse::<EngineLine>() {
        Ok(line) => CacheModel::for_engine(line),
        Err(_) => CacheModel::default(),
    }
}

/// Sets `plan.check` as `rdbkit export` does: every node file verified with
/// [`check_node_file`] (the plan's target line and memory model, cluster mode unless every
/// database is kept, the plan's `now`) before any is published, and each node's `CacheSize`
/// this crate's estimate (without a check it is the writer's rough `used-mem` figure).
pub fn verify_before_publishing(plan: &mut ExportPlan) {
    // A node group's file seeds a cluster-mode node, unless every database is kept (a
    // cluster holds database 0 only).
    let clustered = plan.db != DbSelection::All;
    let (target, now) = (plan.target, plan.now);
    plan.check = Some(Box::new(move |path: &Path, slots: &SlotSet| {
        check_node_file(path, slots, target, clustered, now)
    }));
}
