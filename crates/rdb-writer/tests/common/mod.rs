//! Helpers shared by the writer's integration tests: what a keyspace must read back as after
//! a trip through a file for a target, and a canonical order for comparing. They live in
//! `rdb_testkit::readback`, which the `roundtrip` fuzz oracle uses too.

// Each test binary uses its own subset.
#![allow(unused_imports)]

pub use rdb_testkit::readback::{
    assert_same_keyspace, canonical, distinct, expected, CTIME, TRICKY,
};
