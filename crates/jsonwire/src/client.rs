//! The public entry point: [`Client`] and the [`Query`] builder.

use std::future::Future;
use std::time::Duration;

use crate::config::Config;
use crate::conn::{self, CancelToken, Lease, Slot};
use crate::error::{DbError, Error, Result};
use crate::param::Param;
use crate::proto::backend::Notification;
use crate::sql::Select;
use crate::stream::{self, JsonStream, RawStream};

/// A connection to Postgres that streams JSON rows.
///
/// One query runs at a time. A stream from [`Client::query`] or [`Client::sql`] borrows the
/// client mutably until it ends or is dropped; [`Client::into_query`] and
/// [`Client::into_sql`] give a stream that owns the client instead (`'static`, for returning
/// from a function or spawning), and hand it back with [`RawStream::into_client`]. Dropping a
/// stream early cancels the query on the server and drains the connection in the background;
/// the next query waits for that to finish.
///
/// ```no_run
/// # async fn demo() -> jsonwire::Result<()> {
/// let mut client = jsonwire::Client::connect("postgres://app@localhost/shop").await?;
/// let mut orders = client
///     .query("v_order")
///     .filter("data->>'status' = $1")
///     .bind("paid")
///     .limit(100)
///     .stream::<serde_json::Value>()
///     .await?;
/// while let Some(order) = orders.try_next().await? {
///     println!("{order}");
/// }
/// # Ok(()) }
/// ```
pub struct Client {
    pub(crate) slot: Slot,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.slot.state_name())
            .field("backend_pid", &self.backend_pid())
            .finish()
    }
}

impl Client {
    /// Connects using a `postgres://` URL or a libpq `key=value` string; the `PG*`
    /// environment variables and the password file fill in what the string leaves out.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a bad string,
    /// [`ErrorKind::Connect`](crate::ErrorKind::Connect) when no host accepts,
    /// [`ErrorKind::Auth`](crate::ErrorKind::Auth) when authentication fails (a wrong
    /// password carries SQLSTATE `28P01`), [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
    /// when `connect_timeout` expires.
    pub async fn connect(conninfo: &str) -> Result<Client> {
        Client::connect_with(&Config::parse(conninfo)?).await
    }

    /// Connects using a [`Config`].
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with(config: &Config) -> Result<Client> {
        let conn = conn::connect(config, config.tuning.clone()).await?;
        Ok(Client {
            slot: Slot::new(conn),
        })
    }

    /// Starts a query of the JSON column `data` of `relation` (a table or view, optionally
    /// schema-qualified; quoted as an identifier, see [`sql::quote_relation`](crate::sql::quote_relation)).
    /// The stream borrows the client.
    pub fn query(&mut self, relation: &str) -> Query<&mut Client> {
        Query::relation(self, relation)
    }

    /// [`Client::query`] with a stream that owns the client: `'static + Send`, for returning
    /// from a function (an HTTP handler's body) or moving into a task. The stream hands the
    /// client back with [`RawStream::into_client`]; if the query fails to start, the client
    /// is dropped with the error (use [`Client::query`] to keep it).
    pub fn into_query(self, relation: &str) -> Query<Client> {
        Query::relation(self, relation)
    }

    /// Starts a query of any SQL that returns one `json` or `jsonb` column; bind its
    /// parameters `$1`, `$2`, … with [`Query::bind`] or [`Query::bind_all`] (they are sent
    /// separately from the text, in text format). The stream borrows the client.
    ///
    /// The statement runs in the same round trip that describes its result: a statement that
    /// does not return one JSON column is cancelled and reported, but may have started.
    ///
    /// ```no_run
    /// # async fn demo(client: &mut jsonwire::Client) -> jsonwire::Result<()> {
    /// let mut rows = client
    ///     .sql("SELECT data FROM v_order WHERE data->>'status' = $1 AND (data->>'total')::numeric > $2")
    ///     .bind("paid")
    ///     .bind(100)
    ///     .stream_raw()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn sql(&mut self, sql: &str) -> Query<&mut Client> {
        Query::sql(self, sql)
    }

    /// [`Client::sql`] with a stream that owns the client; see [`Client::into_query`].
    pub fn into_sql(self, sql: &str) -> Query<Client> {
        Query::sql(self, sql)
    }

    /// Runs SQL whose rows, if any, are not wanted (`SET`, `BEGIN`, DDL, `LISTEN` …) with
    /// the simple query protocol: several statements separated by semicolons are allowed,
    /// none takes parameters. Named after tokio-postgres's method that does the same.
    ///
    /// # Errors
    /// The first server error, or [`ErrorKind::Closed`](crate::ErrorKind::Closed) when the
    /// connection is gone.
    pub async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        stream::batch(&mut self.slot, sql).await
    }

    /// A token that cancels whatever this connection runs, usable from another task.
    ///
    /// `None` when the server sent no cancel key (RDS Proxy and some other poolers send
    /// none). Such a connection cannot cancel a query: dropping a stream before its end
    /// closes the connection instead (the next query returns [`ErrorKind::Closed`](crate::ErrorKind::Closed)), so an
    /// abandoned query never keeps the client reading.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        self.slot.cancel_token().cloned()
    }

    /// The backend's process id, when the server sent a cancel key.
    pub fn backend_pid(&self) -> Option<i32> {
        self.slot.cancel_token().map(CancelToken::backend_pid)
    }

    /// The value of a server parameter reported at startup or since (`server_version`,
    /// `TimeZone`, `application_name`, …).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.slot.parameter(name)
    }

    /// Whether the connection is known to be closed. A client recovering from a dropped
    /// stream is not closed; the next query tells whether the recovery succeeded.
    pub fn is_closed(&self) -> bool {
        self.slot.is_closed()
    }

    /// Calls `f` for every notice (warnings and informational messages) the server sends,
    /// instead of logging it through `tracing`.
    pub fn on_notice(&mut self, f: impl Fn(&DbError) + Send + Sync + 'static) {
        self.slot.on_notice(f);
    }

    /// Calls `f` for every `NOTIFY` delivered to this session (they arrive while a query
    /// runs; without a callback they are logged through `tracing` at debug level).
    pub fn on_notification(&mut self, f: impl Fn(&Notification) + Send + Sync + 'static) {
        self.slot.on_notification(f);
    }

    /// Closes the connection politely (Terminate), waiting for any recovery first.
    pub async fn close(self) {
        self.slot.terminate().await;
    }
}

impl RawStream<Client> {
    /// The client, with its connection: ready for the next query if the stream ended, else
    /// being cancelled and drained in the background (the next query waits for it).
    pub fn into_client(self) -> Client {
        self.into_holder()
    }
}

impl<T: serde::de::DeserializeOwned> JsonStream<Client, T> {
    /// The client; see [`RawStream::into_client`].
    pub fn into_client(self) -> Client {
        self.into_raw().into_client()
    }
}

/// Where a [`Query`] gets its connection, and what its stream then holds
/// ([`Source::Holder`]): a borrowed client (`&mut Client`, whose streams are
/// `RawStream<&mut Client>`), an owned one (`Client`, whose streams are
/// `RawStream<Client>`) or, with the `pool` feature, a pool (`&Pool`, whose streams are
/// `RawStream<Pool>` and own a pooled connection). The trait is sealed.
pub trait Source: Sized + Send {
    /// What the query's stream holds for its length: the borrow or the owned client.
    type Holder;

    /// Takes the connection for one query.
    #[doc(hidden)]
    fn lease(self, _: Token) -> impl Future<Output = Result<(Self::Holder, Lease)>> + Send;
}

/// Keeps [`Source::lease`] to the crate: nobody else can make one.
#[doc(hidden)]
#[derive(Debug)]
pub struct Token(());

impl<'a> Source for &'a mut Client {
    type Holder = &'a mut Client;

    async fn lease(self, _: Token) -> Result<(&'a mut Client, Lease)> {
        let lease = self.slot.take().await?;
        Ok((self, lease))
    }
}

impl Source for Client {
    type Holder = Client;

    async fn lease(mut self, _: Token) -> Result<(Client, Lease)> {
        let lease = self.slot.take().await?;
        Ok((self, lease))
    }
}

enum QueryKind {
    Select(Select),
    Sql(String),
}

/// A query being built; finish it with [`Query::stream_raw`] or [`Query::stream`].
///
/// `S` is where it gets its connection ([`Source`]): `Query<&mut Client>` gives a stream
/// borrowing the client, `Query<Client>` one that owns it.
#[must_use = "a query does nothing until it is streamed"]
pub struct Query<S> {
    source: S,
    kind: QueryKind,
    params: Vec<Param>,
    error: Option<Error>,
    timeout: Option<Duration>,
}

impl<S> Query<S> {
    pub(crate) fn relation(source: S, relation: &str) -> Query<S> {
        Query {
            source,
            kind: QueryKind::Select(Select::new(relation)),
            params: Vec::new(),
            error: None,
            timeout: None,
        }
    }

    pub(crate) fn sql(source: S, text: &str) -> Query<S> {
        Query {
            source,
            kind: QueryKind::Sql(text.to_owned()),
            params: Vec::new(),
            error: None,
            timeout: None,
        }
    }

    fn builder(&mut self, method: &str) -> Option<&mut Select> {
        match &mut self.kind {
            QueryKind::Select(s) => Some(s),
            QueryKind::Sql(_) => {
                self.error.get_or_insert_with(|| {
                    Error::config(format!(
                        "{method}() applies to client.query(relation), not to client.sql(text)"
                    ))
                });
                None
            }
        }
    }

    /// Adds a SQL predicate, combined with earlier ones by `AND`; bind the values of its
    /// placeholders with [`Query::bind`] (number them across the whole query: `$1`, `$2`, …).
    ///
    /// The predicate is trusted SQL, pasted into the statement: write it in the program, never
    /// from user input, and pass values only through bound parameters. It is kept to itself
    /// (in parentheses, on lines of its own); one that leaves a quote, a comment or a
    /// parenthesis open, or holds a `;`, makes [`Query::stream_raw`] fail with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config).
    ///
    /// ```no_run
    /// # async fn demo(client: &mut jsonwire::Client) -> jsonwire::Result<()> {
    /// let rows = client
    ///     .query("v_order")
    ///     .filter("data->>'status' = $1")
    ///     .bind("paid")
    ///     .filter("(data->>'total')::numeric > $2")
    ///     .bind(100)
    ///     .stream_raw()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn filter(mut self, predicate: &str) -> Query<S> {
        if let Some(s) = self.builder("filter") {
            s.filter(predicate);
        }
        self
    }

    /// Binds one more parameter: the next of `$1`, `$2`, ….
    pub fn bind(mut self, value: impl Into<Param>) -> Query<S> {
        self.params.push(value.into());
        self
    }

    /// Binds each of `params` after the parameters bound so far:
    /// `client.sql("… $1 … $2").bind_all(["a", "b"])`.
    pub fn bind_all<P>(mut self, params: P) -> Query<S>
    where
        P: IntoIterator,
        P::Item: Into<Param>,
    {
        self.params.extend(params.into_iter().map(Into::into));
        self
    }

    /// Adds an `ORDER BY` expression (SQL, e.g. `data->>'created_at' DESC`). Trusted SQL,
    /// kept to itself and checked as [`Query::filter`]'s predicate is: a trailing `--`
    /// comment cannot swallow the `LIMIT` that follows.
    pub fn order_by(mut self, expr: &str) -> Query<S> {
        if let Some(s) = self.builder("order_by") {
            s.order_by(expr);
        }
        self
    }

    /// Returns at most `n` rows.
    pub fn limit(mut self, n: u64) -> Query<S> {
        if let Some(s) = self.builder("limit") {
            s.limit(n);
        }
        self
    }

    /// Limits the time this query may take, from sending it to the end of its rows
    /// (overriding [`Config::query_timeout`](crate::Config::query_timeout); zero means no
    /// limit). Past it the query is cancelled on the server, the stream (or
    /// [`Query::stream_raw`] itself, while it waits for the result description) returns
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout), and the connection is drained in
    /// the background for the next query.
    ///
    /// ```no_run
    /// # async fn demo(client: &mut jsonwire::Client) -> jsonwire::Result<()> {
    /// use std::time::Duration;
    /// let mut rows = client
    ///     .query("v_order")
    ///     .timeout(Duration::from_secs(2))
    ///     .stream_raw()
    ///     .await?;
    /// while let Some(row) = rows.try_next().await? {
    ///     let _ = row;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, limit: Duration) -> Query<S> {
        // Zero turns the connection's default off for this query.
        self.timeout = Some(limit);
        self
    }

    /// Reads the JSON from `column` instead of `data`.
    pub fn column(mut self, column: &str) -> Query<S> {
        if let Some(s) = self.builder("column") {
            s.column(column);
        }
        self
    }

    /// The SQL text this query sends.
    ///
    /// # Errors
    /// A config error for an invalid relation name or builder misuse.
    pub fn to_sql(&self) -> Result<String> {
        if let Some(e) = &self.error {
            return Err(Error::config(e.to_string()));
        }
        match &self.kind {
            QueryKind::Select(s) => s.to_sql(),
            QueryKind::Sql(text) => Ok(text.clone()),
        }
    }
}

impl<S: Source> Query<S> {
    /// Sends the query and waits for its result description; rows come from the stream as
    /// the raw JSON text of each row (`bytes::Bytes`, a zero-copy slice of the read buffer;
    /// SQL NULL is `null`).
    ///
    /// # Errors
    /// A server error (syntax, missing relation, permission …), [`ErrorKind::Column`](crate::ErrorKind::Column) when
    /// the result is not exactly one `json` or `jsonb` column, [`ErrorKind::Closed`](crate::ErrorKind::Closed) or
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when the connection fails.
    pub async fn stream_raw(self) -> Result<RawStream<S::Holder>> {
        let sql = self.to_sql()?;
        let (holder, lease) = self.source.lease(Token(())).await?;
        stream::open(holder, lease, &sql, &self.params, self.timeout).await
    }

    /// Like [`Query::stream_raw`], with each row deserialized into `T`
    /// (`serde_json::Value` or any `DeserializeOwned` type).
    ///
    /// # Errors
    /// As [`Query::stream_raw`]. A row that does not decode is an error item naming its
    /// ordinal; the stream goes on with the next row.
    pub async fn stream<T: serde::de::DeserializeOwned>(self) -> Result<JsonStream<S::Holder, T>> {
        Ok(JsonStream::new(self.stream_raw().await?))
    }
}
