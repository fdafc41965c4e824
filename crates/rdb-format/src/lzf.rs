//! LZF.
