//! Shared support code for the jsonwire benchmarks.
//!
//! The integration tier (`benches/integration.rs`, feature `bench-with-postgres`) is built from
//! these modules:
//!
//! - [`server`]: the server measured against, with `setup.sql` loaded and checked;
//! - [`dataset`]: the views, `bench_expected`, and the typed documents;
//! - [`clients`]: one query through jsonwire or tokio-postgres, as their users write it;
//! - [`peers`]: the other clients measured beside them (sqlx), each behind its feature;
//! - [`raw_socket`]: the minimal readers that set the server + socket limit;
//! - [`measure`]: CPU, peak heap and the record of every iteration;
//! - [`sockets`]: what a client read from its TCP socket, counted by the kernel;
//! - [`report`]: `summary.json`, `summary.md`, and the charts and page drawn from them
//!   (`jsonwire-benchreport`).

#[cfg(feature = "bench-with-postgres")]
pub mod clients;
#[cfg(feature = "bench-with-postgres")]
pub mod dataset;
#[cfg(feature = "bench-with-postgres")]
pub mod measure;
#[cfg(feature = "bench-with-postgres")]
pub mod peers;
#[cfg(feature = "bench-with-postgres")]
pub mod raw_socket;
#[cfg(feature = "bench-with-postgres")]
pub mod report;
#[cfg(feature = "bench-with-postgres")]
pub mod server;
#[cfg(feature = "bench-with-postgres")]
pub mod sockets;
