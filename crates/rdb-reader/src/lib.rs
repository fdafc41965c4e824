//! rdb-reader
