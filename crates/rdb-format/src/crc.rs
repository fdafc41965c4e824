//! CRC-64/REDIS (Jones).
