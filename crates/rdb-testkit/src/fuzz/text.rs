//! Oracle of the `text_inputs` target: the parsers of what operators and scripts hand over as
//! text — slot ranges (`--slots`, `Slots`), `--topology` files, manifests (ours and the
//! service's `Snapshot` shape) and JSONL keyspaces (`rdbkit export --from keys.jsonl`).
//!
//! Every parser sees the whole input. None may panic; what one accepts must survive its own
//! printing (the printed form parses back to the same value and prints the same), a topology
//! it accepts must cover every slot exactly once, and a JSONL keyspace the writer accepts must
//! read back from the written file as the same keyspace, with no verifier error in that file.

use rdb_cluster::manifest::Manifest;
use rdb_cluster::slot::SLOTS;
use rdb_cluster::slotset::SlotSet;
use rdb_cluster::topology::Topology;
use rdb_model::json::{entry_from_json, entry_to_json};
use rdb_model::Keyspace;
use rdb_verify::multi::ManifestInput;
use rdb_writer::{write_keyspace, Target, WriterBuilder};

use crate::readback::{assert_same_keyspace, expected, sort_entries, CTIME};

/// Runs every text parser on `data` (see the module docs).
pub fn text_inputs(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        slot_set(text);
        topology(text);
        manifest(text);
        // The verifier's manifest reader (ours or the service's shape): no panic is all.
        let _ = ManifestInput::from_json(text);
    }
    jsonl_keyspace(data);
}

/// A slot set parses back from its printed form, which is canonical.
fn slot_set(text: &str) {
    let Ok(set) = SlotSet::parse(text) else {
        return;
    };
    let printed = set.to_string();
    let again = SlotSet::parse(&printed)
        .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
    assert!(
        again == set,
        "{text:?} -> {printed:?} parses to another set"
    );
    assert_eq!(again.to_string(), printed, "printed form not canonical");
    let in_ranges: usize = set.ranges().map(|r| r.len()).sum();
    assert_eq!(in_ranges, set.len(), "ranges of {printed:?} miss slots");
}

/// An accepted topology gives every slot to exactly one group of 4-digit id, and its groups'
/// slot texts parse back to the same sets.
fn topology(text: &str) {
    let Ok(t) = Topology::from_json(text) else {
        return;
    };
    let mut owners = vec![0u32; usize::from(SLOTS)];
    for g in &t.groups {
        assert!(
            g.id.len() == 4 && g.id.bytes().all(|b| b.is_ascii_digit()),
            "node group id {:?} accepted",
            g.id
        );
        for r in g.slots.ranges() {
            for s in r {
                if let Some(o) = owners.get_mut(usize::from(s)) {
                    *o += 1;
                }
            }
        }
        slot_set(&g.slots.to_string());
    }
    assert!(
        owners.iter().all(|&o| o == 1),
        "accepted topology does not own every slot exactly once: {text:?}"
    );
}

/// An accepted manifest survives its own pretty printing.
fn manifest(text: &str) {
    let Ok(m) = Manifest::from_json(text) else {
        return;
    };
    let printed = m.to_json_pretty();
    let again = Manifest::from_json(&printed)
        .unwrap_or_else(|e| panic!("printed manifest does not parse: {e}\n{printed}"));
    assert_eq!(again, m, "manifest changed through printing");
}

/// A JSONL keyspace: every key line survives `entry_to_json` → text → `entry_from_json`
/// (compared as JSON text, so scores are compared bit for bit and NaN cannot hide); when the
/// writer accepts the keyspace (Redis 7.4, the line that holds every type and field TTLs), the
/// file reads back as the same keyspace and verifies without errors.
fn jsonl_keyspace(data: &[u8]) {
    let Ok(ks) = rdb_cluster::export::read_jsonl_keyspace(data) else {
        return;
    };
    for (&db, d) in &ks.dbs {
        for e in &d.entries {
            let line = entry_to_json(db, e, 0).to_string();
            let parsed: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("printed key line is not JSON: {err}\n{line}"));
            let (db2, e2) = entry_from_json(&parsed)
                .unwrap_or_else(|err| panic!("printed key line does not parse: {err}\n{line}"));
            assert_eq!(db2, db, "db changed through printing");
            assert_eq!(
                entry_to_json(db2, &e2, 0).to_string(),
                line,
                "key line changed through printing"
            );
        }
    }
    write_and_read_back(&ks, Target::Redis74);
}

/// Writes `ks` for `target`; if the writer accepts it, the file reads back as `ks` would be
/// expected to (canonical order) and has no verifier error.
fn write_and_read_back(ks: &Keyspace, target: Target) {
    let b = WriterBuilder::new(target).ctime(CTIME).compression(true);
    let Ok((bytes, _)) = write_keyspace(ks, Vec::new(), &b) else {
        return;
    };
    let back =
        rdb_reader::read_keyspace(&bytes).unwrap_or_else(|e| panic!("{target}: reading back: {e}"));
    let mut want = expected(ks, target);
    let mut got = crate::readback::canonical(back);
    sort_entries(&mut want);
    sort_entries(&mut got);
    assert_same_keyspace(&got, &want, target);
    super::assert_verifies(&bytes, target);
}
