//! The public entry point: [`Client`] and the [`Query`] builder.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::config::Config;
use crate::conn::{self, CancelToken, Conn, NoticeHandler, NotificationHandler, Params};
use crate::error::{DbError, Error, ErrorKind, Result};
use crate::proto::backend::{Message, Notification};
use crate::proto::frontend;
use crate::sql::Select;
use crate::stream::{self, JsonStream, RawStream};

/// Where a client's connection is.
pub(crate) enum Slot {
    /// Idle and ready for a query.
    Ready(Box<Conn>),
    /// Owned by a query or stream in progress.
    InUse,
    /// A dropped stream's connection, being cancelled and drained in the background.
    Recovering(oneshot::Receiver<Option<Box<Conn>>>),
    /// Gone.
    Closed,
}

/// A connection to Postgres that streams JSON rows.
///
/// One query runs at a time: a stream borrows the client mutably until it ends or is
/// dropped. Dropping a stream early cancels the query on the server and drains the
/// connection in the background; the next query waits for that to finish.
///
/// ```no_run
/// # async fn demo() -> jsonwire::Result<()> {
/// let mut client = jsonwire::Client::connect("postgres://app@localhost/shop").await?;
/// let mut orders = client
///     .query("v_order")
///     .filter("data->>'status' = $1", ["paid"])
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
    on_notice: Option<NoticeHandler>,
    on_notification: Option<NotificationHandler>,
    cancel: Option<CancelToken>,
    params: Params,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.slot {
            Slot::Ready(_) => "ready",
            Slot::InUse => "in use",
            Slot::Recovering(_) => "recovering",
            Slot::Closed => "closed",
        };
        f.debug_struct("Client")
            .field("state", &state)
            .field("backend_pid", &self.backend_pid())
            .finish()
    }
}

impl Client {
    /// Connects using a `postgres://` URL or a libpq `key=value` string; the `PG*`
    /// environment variables and the password file fill in what the string leaves out.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a bad string, [`ErrorKind::Connect`] when no host accepts,
    /// [`ErrorKind::Auth`] when authentication fails (a wrong password carries SQLSTATE
    /// `28P01`), [`ErrorKind::Timeout`] when `connect_timeout` expires.
    pub async fn connect(conninfo: &str) -> Result<Client> {
        Client::connect_with(&Config::parse(conninfo)?).await
    }

    /// Connects using a [`Config`].
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_with(config: &Config) -> Result<Client> {
        let conn = conn::connect(config, config.tuning.clone()).await?;
        let cancel = conn.cancel.clone();
        let params = conn.params.clone();
        Ok(Client {
            params,
            slot: Slot::Ready(conn),
            on_notice: None,
            on_notification: None,
            cancel,
        })
    }

    /// Starts a query of the JSON column `data` of `relation` (a table or view, optionally
    /// schema-qualified; quoted as an identifier, see [`sql::quote_relation`](crate::sql::quote_relation)).
    pub fn query(&mut self, relation: &str) -> Query<'_> {
        Query {
            client: self,
            kind: QueryKind::Select(Select::new(relation)),
            params: Vec::new(),
            error: None,
        }
    }

    /// Starts a query of any SQL that returns one `json` or `jsonb` column, with parameters
    /// `$1`, `$2`, … bound to `params` (sent separately from the text, in text format).
    ///
    /// The statement runs in the same round trip that describes its result: a statement that
    /// does not return one JSON column is cancelled and reported, but may have started.
    pub fn sql<P>(&mut self, sql: &str, params: P) -> Query<'_>
    where
        P: IntoIterator,
        P::Item: Into<Param>,
    {
        Query {
            client: self,
            kind: QueryKind::Sql(sql.to_owned()),
            params: params.into_iter().map(Into::into).collect(),
            error: None,
        }
    }

    /// Runs SQL that returns no rows to keep (`SET`, `BEGIN`, DDL …), with the simple query
    /// protocol; several statements separated by semicolons are allowed.
    ///
    /// # Errors
    /// The first server error, or [`ErrorKind::Closed`] when the connection is gone.
    pub async fn execute(&mut self, sql: &str) -> Result<()> {
        let mut conn = self.take_ready().await?;
        if let Err(e) = frontend::query(&mut conn.wbuf, sql) {
            conn.wbuf.clear();
            self.slot = Slot::Ready(conn);
            return Err(e);
        }
        if let Err(e) = conn.flush().await {
            self.slot = Slot::Closed;
            return Err(e);
        }
        let mut error = None;
        loop {
            match conn.next_sync_message().await {
                Ok(Message::ReadyForQuery(status)) => {
                    conn.tx_status = status;
                    self.slot = Slot::Ready(conn);
                    return error.map_or(Ok(()), Err);
                }
                Ok(Message::ErrorResponse(db)) => error = Some(Error::db(db)),
                Ok(_) => {}
                Err(e) => {
                    self.slot = Slot::Closed;
                    return Err(e);
                }
            }
        }
    }

    /// A token that cancels whatever this connection runs, usable from another task.
    ///
    /// `None` when the server sent no cancel key (RDS Proxy and some other poolers send
    /// none). Such a connection cannot cancel a query: dropping a stream before its end
    /// closes the connection instead (the next query returns [`ErrorKind::Closed`]), so an
    /// abandoned query never keeps the client reading.
    pub fn cancel_token(&self) -> Option<CancelToken> {
        self.cancel.clone()
    }

    /// The backend's process id, when the server sent a cancel key.
    pub fn backend_pid(&self) -> Option<i32> {
        self.cancel.as_ref().map(CancelToken::backend_pid)
    }

    /// The value of a server parameter reported at startup or since (`server_version`,
    /// `TimeZone`, `application_name`, …).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.params
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Whether the connection is known to be closed. A client recovering from a dropped
    /// stream is not closed; the next query tells whether the recovery succeeded.
    pub fn is_closed(&self) -> bool {
        matches!(self.slot, Slot::Closed)
    }

    /// Calls `f` for every notice (warnings and informational messages) the server sends,
    /// instead of logging it through `tracing`.
    pub fn on_notice(&mut self, f: impl Fn(&DbError) + Send + Sync + 'static) {
        self.on_notice = Some(Arc::new(f));
    }

    /// Calls `f` for every `NOTIFY` delivered to this session (they arrive while a query
    /// runs; without a callback they are logged through `tracing` at debug level).
    pub fn on_notification(&mut self, f: impl Fn(&Notification) + Send + Sync + 'static) {
        self.on_notification = Some(Arc::new(f));
    }

    /// Closes the connection politely (Terminate), waiting for any recovery first.
    pub async fn close(mut self) {
        if let Ok(conn) = self.take_ready().await {
            conn.terminate().await;
        }
    }

    /// Takes the connection out of its slot for a query, waiting for a recovery to end.
    pub(crate) async fn take_ready(&mut self) -> Result<Box<Conn>> {
        if let Slot::Recovering(rx) = &mut self.slot {
            self.slot = match rx.await {
                Ok(Some(conn)) => Slot::Ready(conn),
                _ => Slot::Closed,
            };
        }
        match std::mem::replace(&mut self.slot, Slot::InUse) {
            Slot::Ready(mut conn) => {
                conn.on_notice.clone_from(&self.on_notice);
                conn.on_notification.clone_from(&self.on_notification);
                Ok(conn)
            }
            Slot::InUse => {
                self.slot = Slot::Closed;
                Err(Error::new(
                    ErrorKind::Closed,
                    "the connection was closed because an earlier query was abandoned mid-flight",
                ))
            }
            _ => {
                self.slot = Slot::Closed;
                Err(Error::closed())
            }
        }
    }
}

/// A query parameter, sent in text format; `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param(pub(crate) Option<String>);

impl Param {
    /// SQL NULL.
    pub const NULL: Param = Param(None);
}

macro_rules! param_from_display {
    ($($t:ty),*) => {$(
        impl From<$t> for Param {
            fn from(v: $t) -> Param {
                Param(Some(v.to_string()))
            }
        }
    )*};
}
param_from_display!(&str, String, &String, i8, i16, i32, i64, u8, u16, u32, u64, bool, char);

impl From<f32> for Param {
    fn from(v: f32) -> Param {
        Param::from(f64::from(v))
    }
}

impl From<f64> for Param {
    /// Postgres spells the special values `NaN`, `Infinity` and `-Infinity`.
    fn from(v: f64) -> Param {
        Param(Some(if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
        } else {
            v.to_string()
        }))
    }
}

impl From<serde_json::Value> for Param {
    fn from(v: serde_json::Value) -> Param {
        Param(Some(v.to_string()))
    }
}

impl From<&serde_json::Value> for Param {
    fn from(v: &serde_json::Value) -> Param {
        Param(Some(v.to_string()))
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Param {
        v.map_or(Param::NULL, Into::into)
    }
}

/// No parameters, for [`Client::sql`]: `client.sql("SELECT …", jsonwire::NO_PARAMS)`.
pub const NO_PARAMS: [Param; 0] = [];

enum QueryKind {
    Select(Select),
    Sql(String),
}

/// A query being built; finish it with [`Query::stream_raw`] or [`Query::stream`].
#[must_use = "a query does nothing until it is streamed"]
pub struct Query<'a> {
    client: &'a mut Client,
    kind: QueryKind,
    params: Vec<Param>,
    error: Option<Error>,
}

impl<'a> Query<'a> {
    fn select(&mut self, method: &str) -> Option<&mut Select> {
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

    /// Adds a SQL predicate (combined with earlier ones by `AND`) and binds `params` after
    /// the parameters bound so far; number placeholders accordingly (`$1`, `$2`, …).
    pub fn filter<P>(mut self, predicate: &str, params: P) -> Query<'a>
    where
        P: IntoIterator,
        P::Item: Into<Param>,
    {
        if let Some(s) = self.select("filter") {
            s.filter(predicate);
        }
        self.params.extend(params.into_iter().map(Into::into));
        self
    }

    /// Binds one more parameter.
    pub fn bind(mut self, value: impl Into<Param>) -> Query<'a> {
        self.params.push(value.into());
        self
    }

    /// Adds an `ORDER BY` expression (SQL, e.g. `data->>'created_at' DESC`).
    pub fn order_by(mut self, expr: &str) -> Query<'a> {
        if let Some(s) = self.select("order_by") {
            s.order_by(expr);
        }
        self
    }

    /// Returns at most `n` rows.
    pub fn limit(mut self, n: u64) -> Query<'a> {
        if let Some(s) = self.select("limit") {
            s.limit(n);
        }
        self
    }

    /// Reads the JSON from `column` instead of `data`.
    pub fn column(mut self, column: &str) -> Query<'a> {
        if let Some(s) = self.select("column") {
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

    /// Sends the query and waits for its result description; rows come from the stream as
    /// the raw JSON text of each row (`bytes::Bytes`, a zero-copy slice of the read buffer;
    /// SQL NULL is `null`).
    ///
    /// # Errors
    /// A server error (syntax, missing relation, permission …), [`ErrorKind::Column`] when
    /// the result is not exactly one `json` or `jsonb` column, [`ErrorKind::Closed`] or
    /// [`ErrorKind::Io`] when the connection fails.
    pub async fn stream_raw(self) -> Result<RawStream<'a>> {
        let sql = self.to_sql()?;
        stream::start(self.client, &sql, &self.params).await
    }

    /// Like [`Query::stream_raw`], with each row deserialized into `T`
    /// (`serde_json::Value` or any `DeserializeOwned` type).
    ///
    /// # Errors
    /// As [`Query::stream_raw`]. A row that does not decode is an error item naming its
    /// ordinal; the stream goes on with the next row.
    pub async fn stream<T: serde::de::DeserializeOwned>(self) -> Result<JsonStream<'a, T>> {
        Ok(JsonStream::new(self.stream_raw().await?))
    }
}
