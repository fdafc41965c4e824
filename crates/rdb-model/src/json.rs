//! Canonical JSON form of keys and values (the `rdbkit dump` key-line shape).
