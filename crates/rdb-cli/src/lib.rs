//! rdb-cli
