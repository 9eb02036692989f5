//! A pool of connections (feature `pool`) on [deadpool]: [`Pool`] hands out streams that
//! own a pooled connection, and clients ([`PooledClient`]) for other work.
//!
//! A pooled stream's connection goes back to the pool when the stream ends, or, when the
//! stream is dropped before its end, once the query has been cancelled and the connection
//! drained in the background. A connection is handed out again only if it is idle outside a
//! transaction and the server has not sent anything (such as the FATAL error of a terminated
//! backend) or closed it meanwhile; any other is closed and replaced.
//!
//! [deadpool]: https://docs.rs/deadpool

mod manager;

use std::time::Duration;

use deadpool::managed;

pub use manager::PooledClient;

use crate::client::{Query, Source, Token};
use crate::config::Config;
use crate::conn::Lease;
use crate::error::{Error, ErrorKind, Result};

/// How long a checkout waits for a connection to become free, unless set.
const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A pool of connections to one database, cheap to clone (clones share the connections).
///
/// Connections are opened when needed, up to the pool's size, and kept for reuse.
/// [`Pool::query`] and [`Pool::sql`] give streams that own a pooled connection:
/// `'static + Send`, for an HTTP response body or a spawned task.
///
/// ```no_run
/// # async fn demo() -> jsonwire::Result<()> {
/// use std::time::Duration;
///
/// let config = jsonwire::Config::parse("postgres://app@localhost/shop")?;
/// let pool = jsonwire::Pool::builder(&config)
///     .max_size(10)
///     .wait_timeout(Duration::from_secs(2))
///     .build()?;
///
/// let mut orders = pool.query("v_order").filter("data->>'status' = $1").bind("paid").stream_raw().await?;
/// tokio::spawn(async move {
///     while let Ok(Some(json)) = orders.try_next().await {
///         let _ = json;
///     }
///     // The connection is back in the pool.
/// });
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: managed::Pool<manager::Manager>,
    wait_timeout: Duration,
}

/// Builds a [`Pool`]: [`Pool::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct PoolBuilder {
    config: Config,
    max_size: usize,
    wait_timeout: Duration,
}

/// A snapshot of a pool's connections: [`Pool::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Connections open now, idle or in use.
    pub size: usize,
    /// Idle connections, ready to be handed out.
    pub available: usize,
    /// Checkouts waiting for a connection to become free.
    pub waiting: usize,
}

impl Pool {
    /// A builder for a pool of connections made from `config`: 10 connections at most,
    /// checkouts waiting at most 30 s.
    pub fn builder(config: &Config) -> PoolBuilder {
        PoolBuilder {
            config: config.clone(),
            max_size: 10,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }

    /// Takes an idle connection, or opens one while the pool has room, or waits for one to be
    /// given back.
    ///
    /// # Errors
    /// [`ErrorKind::PoolTimeout`] when no connection became free within the pool's wait
    /// timeout; the errors of [`Client::connect`](crate::Client::connect) when a new connection fails.
    pub async fn get(&self) -> Result<PooledClient> {
        match self.inner.get().await {
            Ok(object) => Ok(PooledClient::new(object)),
            Err(e) => Err(self.checkout_error(e)),
        }
    }

    /// [`Client::query`](crate::Client::query) on a pooled connection: the stream owns the connection
    /// (`RawStream<Pool>`, `'static + Send`) and gives it back to the pool at its end.
    ///
    /// # Errors
    /// Those of [`Pool::get`], then of [`Query::stream_raw`].
    pub fn query(&self, relation: &str) -> Query<&Pool> {
        Query::relation(self, relation)
    }

    /// [`Client::sql`](crate::Client::sql) on a pooled connection; see [`Pool::query`].
    pub fn sql(&self, sql: &str) -> Query<&Pool> {
        Query::sql(self, sql)
    }

    /// How many connections are open, idle and waited for.
    pub fn status(&self) -> PoolStatus {
        let s = self.inner.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }

    fn checkout_error(&self, e: managed::PoolError<Error>) -> Error {
        match e {
            managed::PoolError::Backend(e) => e,
            managed::PoolError::Timeout(_) => Error::new(
                ErrorKind::PoolTimeout,
                format!(
                    "no pooled connection became free within {:?}: all {} are in use",
                    self.wait_timeout,
                    self.inner.status().max_size
                ),
            ),
            managed::PoolError::Closed => Error::new(ErrorKind::Closed, "the pool is closed"),
            other => Error::new(
                ErrorKind::Connect,
                format!("checking out a connection: {other}"),
            ),
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

impl PoolBuilder {
    /// The most connections the pool opens (default 10).
    pub fn max_size(mut self, max_size: usize) -> PoolBuilder {
        self.max_size = max_size;
        self
    }

    /// How long a checkout ([`Pool::get`], [`Pool::query`], [`Pool::sql`]) waits for a
    /// connection when all are in use (default 30 s) before it fails with
    /// [`ErrorKind::PoolTimeout`]; zero fails at once. Opening a new connection is bounded
    /// by the configuration's `connect_timeout`, taking one back from an abandoned stream by
    /// its drain limits.
    pub fn wait_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.wait_timeout = timeout;
        self
    }

    /// The pool; no connection is opened until one is needed.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a size of zero.
    pub fn build(self) -> Result<Pool> {
        if self.max_size == 0 {
            return Err(Error::config("a pool needs a max_size of at least 1"));
        }
        let inner = managed::Pool::builder(manager::Manager::new(self.config))
            .max_size(self.max_size)
            .wait_timeout(Some(self.wait_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::config(format!("building the pool: {e}")))?;
        Ok(Pool {
            inner,
            wait_timeout: self.wait_timeout,
        })
    }
}

impl Source for &Pool {
    type Holder = Pool;

    async fn lease(self, _: Token) -> Result<(Pool, Lease)> {
        let mut client = self.get().await?;
        let lease = client.slot.take().await?;
        // The checkout rides with the lease: the connection goes back to the pool once it is
        // home again, at the stream's end or after its background drain.
        Ok((self.clone(), lease.release_after(client)))
    }
}
