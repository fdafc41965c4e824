//! rdb-writer
