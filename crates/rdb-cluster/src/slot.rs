//! Cluster hash slots (rdb-format.md §6): the slot maths lives in [`rdb_format::slot`] (shared
//! with the writer and the verifier) and is re-exported here.

pub use rdb_format::slot::*;
