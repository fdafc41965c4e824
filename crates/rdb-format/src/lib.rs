//! Wire primitives of the RDB format, each encoder beside its decoder, with no I/O.
//!
//! - [`consts`]: object types, opcodes, magic/version and the (magic, version) type table.
//! - [`length`], [`string`], [`double`], [`int`]: the primitive encodings of §2.
//! - [`listpack`], [`ziplist`], [`intset`], [`zipmap`], [`stream_lp`]: inner encodings with
//!   the integrity checks a server runs (and a few it does not).
//! - [`crc`]: CRC-64/REDIS (Jones) via `crc-fast`; [`lzf`]: LZF decoder, validator and encoder;
//!   [`lzf_validate`]: incremental LZF validation without output.
//! - [`slot`]: cluster hash slots (CRC-16/XMODEM of the hash tag), shared by the writer, the
//!   cluster export and the verifier.
//!
//! Every decoder works on a byte slice, checks every length against what remains before
//! touching bytes, and reports failures as [`CodecError`] with an offset and a stable code.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod consts;
pub mod crc;
pub mod double;
pub mod element;
pub mod error;
pub mod function;
mod grisu2;
pub mod int;
pub mod intset;
pub mod length;
pub mod listpack;
pub mod lzf;
pub mod lzf_validate;
pub mod module;
pub mod slot;
pub mod stream_lp;
pub mod string;
pub mod thresholds;
pub mod ziplist;
pub mod zipmap;

pub use consts::{Header, Magic, Opcode, RdbType, TypeKind};
pub use element::Element;
pub use error::{CodecError, CodecResult};
pub use int::IntText;

/// Renders up to `max` bytes of `b` for messages: printable ASCII as is, the rest as `\xNN`;
/// an ellipsis marks truncation.
pub fn escape_bytes(b: &[u8], max: usize) -> String {
    let mut s = String::from("\"");
    for &c in b.iter().take(max) {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    if b.len() > max {
        s.push_str(&format!("... ({} bytes)", b.len()));
    }
    s
}
