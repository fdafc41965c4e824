//! Test-only helpers for rdbkit: golden-file comparison against `expected.json`, a
//! writer-independent byte builder, chunked readers, keyspace generators and a real-server
//! harness, what a keyspace reads back as after a write, the JSON contract of a verify
//! report, and the paths of the repository's test data.

pub mod builder;
pub mod chunked;
pub mod events;
pub mod expected;
pub mod fuzz;
pub mod gen;
pub mod readback;
pub mod report_json;
pub mod resp;
pub mod server;
pub mod testdata;
