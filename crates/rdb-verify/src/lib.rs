//! rdb-verify
