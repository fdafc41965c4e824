//! slotset
