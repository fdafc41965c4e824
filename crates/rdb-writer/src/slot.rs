//! Cluster hash slots (format reference §6.1), for grouping keys and slot information:
//! re-exported from [`rdb_format::slot`].

pub use rdb_format::slot::*;
