//! Cluster maths and export: hash slots, slot sets, topologies, manifests.

pub mod slot;
pub mod slotset;
pub mod topology;
