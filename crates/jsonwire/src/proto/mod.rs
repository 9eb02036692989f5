//! The wire protocol (versions 3.0 and 3.2), sans-IO: bytes in, messages out.
//!
//! Nothing here touches a socket, a clock or a random number generator, so every function can
//! be unit-tested on recorded bytes, fuzzed and micro-benchmarked. The rules come from the
//! PostgreSQL documentation, chapter "Frontend/Backend Protocol" (55 in the version 17 docs).
//!
//! This module is public for fuzzing and benchmarks; it is not a stable API.

pub mod auth;
pub mod backend;
pub mod frontend;
pub mod rows;
pub mod startup;

/// Type OID of `json`.
pub const JSON_OID: u32 = 114;
/// Type OID of `jsonb`.
pub const JSONB_OID: u32 = 3802;
/// The only jsonb binary format version the server has ever sent.
pub const JSONB_VERSION: u8 = 1;
