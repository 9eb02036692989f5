//! Row streams: one row engine ([`engine`]) behind every handle (a borrowed client, an owned
//! client), read as raw JSON bytes ([`RawStream`]) or deserialized with serde
//! ([`JsonStream`]).

mod engine;
mod json;
mod raw;

pub(crate) use engine::batch;
pub use engine::Stats;
pub use json::JsonStream;
pub(crate) use raw::open;
pub use raw::RawStream;
