//! jsonwire: a Postgres client that speaks the wire protocol itself and streams the rows of
//! single-JSON-column queries (`SELECT data FROM view WHERE …`) with bounded memory.
//!
//! ```no_run
//! use futures_util::TryStreamExt as _;
//! # #[derive(serde::Deserialize)] struct Order { id: i64 }
//! # async fn demo() -> jsonwire::Result<()> {
//! let mut client = jsonwire::Client::connect("postgres://app@localhost/shop").await?;
//!
//! // Typed rows, a predicate with bound parameters, ordering and a limit.
//! let mut orders = client
//!     .query("v_order")
//!     .filter("data->>'status' = $1")
//!     .bind("paid")
//!     .order_by("data->>'created_at' DESC")
//!     .limit(10_000)
//!     .stream::<Order>()
//!     .await?;
//! while let Some(order) = orders.try_next().await? {
//!     let _ = order.id;
//! }
//! drop(orders);
//!
//! // Zero-copy: each row's JSON text as `bytes::Bytes`.
//! let mut raw = client.sql("SELECT data FROM v_order WHERE id = ANY($1)").bind("{1,2,3}").stream_raw().await?;
//! while let Some(json) = raw.try_next().await? {
//!     let _ = json.len();
//! }
//! # Ok(()) }
//! ```
//!
//! Memory stays bounded by the read buffer (plus whatever rows the caller keeps): the
//! client reads the socket only when the stream is polled and its buffered rows are used up.
//!
//! The [`proto`] module is the sans-IO protocol layer (bytes in, messages out) that the
//! client is built on; it is public for fuzzing and benchmarks.

mod client;
mod config;
mod conn;
mod error;
mod param;
pub mod proto;
pub mod sql;
mod stream;

pub use client::{Client, Query, Source};
pub use config::{
    AuthMethod, ChannelBinding, Config, ConnectRetry, EffectiveConfig, GssEncMode,
    LoadBalanceHosts, PasswordSource, ProtocolVersion, RequireAuth, SslMode, SslNegotiation,
    TargetSessionAttrs,
};
pub use conn::CancelToken;
pub use error::{DbError, Error, ErrorKind, Result};
pub use param::Param;
pub use proto::backend::Notification;
pub use stream::{JsonStream, RawStream, Stats};

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>() {}
    fn send_static<T: Send + 'static>() {}
    fn send_sync<T: Send + Sync + 'static>() {}

    /// Streams and clients move between tasks; owned streams leave the function that made
    /// them (an HTTP body); errors go into `anyhow` and friends.
    #[test]
    fn public_types_are_send_and_errors_are_sync() {
        send_static::<Client>();
        send::<RawStream<&mut Client>>();
        send::<JsonStream<&mut Client, serde_json::Value>>();
        send::<Query<&mut Client>>();
        send_static::<RawStream<Client>>();
        send_static::<JsonStream<Client, serde_json::Value>>();
        send_static::<Query<Client>>();
        send_sync::<Error>();
        send_sync::<CancelToken>();
        send_sync::<Config>();
    }
}
