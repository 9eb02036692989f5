//! jsonwire: a Postgres client that speaks the wire protocol itself and streams the rows of
//! single-JSON-column queries with bounded memory.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;

pub use config::{Config, SslMode};
pub use error::{DbError, Error, ErrorKind, Result};
