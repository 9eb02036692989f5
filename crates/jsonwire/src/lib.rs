//! jsonwire: a Postgres client that speaks the wire protocol itself and streams the rows of
//! single-JSON-column queries (`SELECT data FROM view WHERE …`) with bounded memory.
//!
//! ```no_run
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
//! // Zero-copy: each row's JSON text as `bytes::Bytes`, here a batch at a time.
//! let mut raw = client
//!     .sql("SELECT data FROM v_order WHERE id = ANY($1)")
//!     .bind("{1,2,3}")
//!     .stream_raw()
//!     .await?;
//! while let Some(rows) = raw.next_chunk(1024, 1 << 20).await? {
//!     let _ = rows.len();
//! }
//! println!("{:?}", raw.stats());
//! # Ok(()) }
//! ```
//!
//! # Connecting
//!
//! [`Client::connect`] takes a `postgres://` URL or a libpq `key=value` string;
//! [`Client::connect_with`] takes a [`Config`], built with its setters or parsed
//! ([`Config::parse`]). Connecting fills in what the configuration leaves out as libpq does:
//! a connection service file (`service=`), the `PG*` environment variables, the password
//! file (`~/.pgpass`) and libpq's defaults. [`Config::effective`] shows the result without
//! connecting (the password redacted when displayed). Several hosts, `target_session_attrs`,
//! `load_balance_hosts` and a retry with backoff ([`ConnectRetry`]) are supported.
//!
//! # Three modes
//!
//! A [`Query`] (from [`Client::query`] for a relation's `data` column, or [`Client::sql`] for
//! any statement returning one `json` or `jsonb` column) becomes a stream in one of three
//! modes:
//!
//! - [`Query::stream_raw`]: a [`RawStream`] of each row's JSON text as [`bytes::Bytes`], a
//!   zero-copy slice of the read buffer;
//! - [`Query::stream`] with [`serde_json::Value`]: parsed but untyped;
//! - [`Query::stream`] with your `T: DeserializeOwned`: typed; a row that does not decode is
//!   an [`ErrorKind::Decode`] error naming its ordinal, and the stream goes on.
//!
//! Streams have their own `try_next()` (and implement `futures_core::Stream`, for those who
//! use stream combinators). [`RawStream::next_chunk`] hands out every row already received,
//! up to a row and byte limit, in one call. [`RawStream::stats`] and [`JsonStream::stats`]
//! report rows, bytes, wire bytes, time to first row, elapsed time, round trips and the read
//! buffer's high-water mark ([`Stats`]).
//!
//! A stream borrows its client (`client.query(..)`, `client.sql(..)`), or owns it
//! ([`Client::into_query`], [`Client::into_sql`]): an owned stream is `'static + Send`, so a
//! function can return it or move it into a task, and [`RawStream::into_client`] hands the
//! client back.
//!
//! # Errors
//!
//! Every fallible call returns [`Error`]: match on [`Error::kind`] ([`ErrorKind`]); a server
//! error carries its SQLSTATE ([`Error::code`], such as `"28P01"` for a wrong password) and
//! every field the server sent ([`Error::db_error`]). [`Error::is_fatal`] says whether the
//! connection can run another query: after a server error mid-stream it can. `Display` says
//! what failed once; the cause (an `io::Error`, a TLS or JSON error) is the error's `source()`,
//! and `{:#}` prints the whole chain.
//!
//! # Cancelling and timeouts
//!
//! Dropping a stream before its end, or any jsonwire future at any await point, cancels the
//! query on the server (CancelRequest) and drains the connection in the background; the
//! client's next query waits for that. [`RawStream::cancel`] does the same and waits, and
//! [`Client::cancel_token`] cancels from another task. A deadline for the whole query,
//! [`Query::timeout`] or [`Config::query_timeout`] for every query, ends the stream with
//! [`ErrorKind::Timeout`] and cancels the query. `connect_timeout`, `cancel_timeout`, the
//! drain limits and TCP keepalives bound the other waits on the network.
//!
//! # TLS
//!
//! TLS uses rustls and follows libpq's `sslmode` (default `prefer`: TLS when the server
//! offers it, without checking the server's identity; use `verify-full` for that),
//! `sslrootcert`, client certificates (`sslcert`/`sslkey`, `sslpassword`, `sslcertmode`),
//! revocation lists (`sslcrl`/`sslcrldir`), the TLS version bounds, `sslnegotiation=direct`,
//! `require_auth` and `channel_binding`. The README's Security section tells what each mode
//! protects against.
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
#[cfg(feature = "pool")]
mod pool;
pub mod proto;
pub mod sql;
mod stream;

pub use client::{Client, Query, Source};
pub use config::{
    AuthMethod, ChannelBinding, Config, ConnectRetry, EffectiveConfig, GssEncMode,
    LoadBalanceHosts, PasswordSource, ProtocolVersion, RequireAuth, SslCertMode, SslMode,
    SslNegotiation, TargetSessionAttrs, TlsVersion,
};
pub use conn::CancelToken;
pub use error::{DbError, Error, ErrorKind, Result};
pub use param::Param;
#[cfg(feature = "pool")]
pub use pool::{Pool, PoolBuilder, PoolStatus, PooledClient};
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
        #[cfg(feature = "pool")]
        {
            send_static::<RawStream<Pool>>();
            send_static::<JsonStream<Pool, serde_json::Value>>();
            send_sync::<Pool>();
            send_static::<PooledClient>();
        }
    }
}
