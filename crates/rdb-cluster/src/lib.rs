//! Cluster maths and export: hash slots, slot sets, topologies, manifests.
//!
//! - [`slot`]: `key_slot` (CRC-16/XMODEM of the hash tag, `& 0x3FFF`) and `hash_tag`.
//! - [`slotset`]: `SlotSet`, a 16384-bit slot bitmap with the service's text form `"0-3999,5000-5100"`.
//! - [`topology`]: node groups and their slots (`--shards N`, `--topology FILE`), validation, slot → group lookup.
//! - [`export`]: the export engine (`rdbkit export`): one `.rdb` file per node group and a manifest.
//! - [`manifest`]: the export manifest (`NAME-manifest.json`) and its `CacheSize` / timestamp helpers.

pub mod export;
pub mod manifest;
pub mod slot;
pub mod slotset;
pub mod topology;
