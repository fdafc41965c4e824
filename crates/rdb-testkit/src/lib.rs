//! Test-only helpers for rdbkit: golden-file comparison against `expected.json`, a
//! writer-independent byte builder, CRC-preserving byte changes, chunked readers, keyspace
//! generators and a real-server harness, what a keyspace reads back as after a write or a
//! conversion, the JSON contract of a verify report, and the paths of the repository's test
//! data.

pub mod builder;
pub mod chunked;
pub mod dump_model;
pub mod events;
pub mod expected;
pub mod fuzz;
pub mod gen;
pub mod mutate;
pub mod readback;
pub mod report_json;
pub mod resp;
pub mod server;
pub mod streamed;
pub mod testdata;
