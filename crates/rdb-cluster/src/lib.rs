//! Cluster maths and export: hash slots, slot sets, topologies, manifests.
//!
//! - [`slot`]: `key_slot` (CRC-16/XMODEM of the hash tag, `& 0x3FFF`) and `hash_tag`.
//! - [`slotset`]: `SlotSet`, a 16384-bit slot bitmap with the service's text form `"0-3999,5000-5100"`.
//! - [`topology`]: node groups and their slots (`--shards N`, `--topology FILE`), validation, slot → group lookup.
//! - [`export`]: the export engine (`rdbkit export`): one `.rdb` file per node group and a manifest.
//! - [`manifest`]: the export manifest (`NAME-manifest.json`) and its `CacheSize` / timestamp helpers.
//!
//! ```
//! use rdb_cluster::export::{export_keyspace, ExportPlan};
//! use rdb_cluster::topology::Topology;
//! use rdb_model::{Entry, Keyspace, Value};
//! use rdb_writer::Target;
//!
//! let mut ks = Keyspace::default();
//! for i in 0..100 {
//!     let mut e = Entry::new(format!("user:{i}"), Value::String(format!("v{i}").into()));
//!     if i % 10 == 0 {
//!         e.expire_at_ms = Some(4_102_444_800_000); // 2100-01-01
//!     }
//!     ks.db_mut(0).entries.push(e);
//! }
//! let dir = tempfile::tempdir().unwrap();
//! // Three node groups (slots 0-5461, 5462-10922, 10923-16383), files for Valkey 8.1.
//! let plan = ExportPlan::new("backup", dir.path(), Topology::even(3).unwrap(), Target::Valkey81);
//! // Without a check the files are published unverified, and the manifest's CacheSize is
//! // the writer's rough `used-mem` figure. `rdbkit export` sets one: every file verified
//! // before any is published, the CacheSize from the verifier's model. A library export
//! // gets the same with `rdb_verify::publish::verify_before_publishing(&mut plan)`.
//! let res = export_keyspace(&ks, &plan).unwrap();
//! assert_eq!(res.nodes.len(), 3);
//! assert_eq!(res.nodes.iter().map(|n| n.keys).sum::<u64>(), 100);
//! assert!(dir.path().join("backup-0002.rdb").exists());
//! assert!(res.manifest_path.ends_with("backup-manifest.json"));
//! // Never overwrites: a second export of the name fails and changes nothing.
//! assert!(export_keyspace(&ks, &plan).is_err());
//! ```

pub mod export;
pub mod manifest;
pub mod slot;
pub mod slotset;
pub mod topology;
