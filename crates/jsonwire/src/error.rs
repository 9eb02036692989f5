//! The one error type of the crate.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// What went wrong, in a form a caller can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection string, URL, environment or password file was invalid.
    Config,
    /// No connection could be established (resolution, TCP or Unix socket, startup).
    Connect,
    /// Authentication failed or asked for a method this client does not support.
    Auth,
    /// The server reported an error; see [`Error::code`] and [`Error::db_error`].
    Server,
    /// The server sent bytes that do not follow the wire protocol, or a message too large.
    Protocol,
    /// A row's JSON could not be decoded into the requested type; see [`Error::row`].
    Decode,
    /// The query's result does not have exactly one `json` or `jsonb` column.
    Column,
    /// An operation ran out of time (for example `connect_timeout`).
    Timeout,
    /// No connection of a pool became free within the pool's wait timeout: every one was in
    /// use (feature `pool`; see `Pool`). Nothing was sent; the pool stays usable.
    PoolTimeout,
    /// The query was cancelled by this client.
    Cancelled,
    /// The connection is closed and can no longer be used.
    Closed,
    /// An I/O error on an established connection.
    Io,
}

/// The error type of every fallible operation in jsonwire.
///
/// Match on [`Error::kind`]; server errors also carry their SQLSTATE ([`Error::code`]) and
/// every field the server sent ([`Error::db_error`]).
///
/// `Display` says what failed once (`could not connect to db.example:5432`); the cause, when
/// there is one (the `io::Error`, the TLS or JSON error), is [`source`](StdError::source) only,
/// so error reporters that print the chain (`anyhow`'s `{:#}`, `tracing`'s error values) show
/// each part once. The alternate form `{:#}` of an `Error` prints the whole chain itself,
/// joined by `": "`:
///
/// ```no_run
/// # async fn demo() {
/// // Nothing listens on port 1.
/// let err = jsonwire::Client::connect("host=127.0.0.1 port=1").await.unwrap_err();
/// assert_eq!(err.to_string(), "could not connect to 127.0.0.1:1");
/// assert_eq!(
///     format!("{err:#}"),
///     "could not connect to 127.0.0.1:1: Connection refused (os error 111)"
/// );
/// # }
/// ```
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    message: String,
    db: Option<DbError>,
    row: Option<u64>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            db: None,
            row: None,
            source: None,
        }))
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Error {
        self.0.source = Some(source.into());
        self
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.0.kind = kind;
        self
    }

    /// Adds a line to what `Display` shows (after the server's fields for a server error).
    pub(crate) fn with_note(mut self, note: &str) -> Error {
        if !self.0.message.is_empty() {
            self.0.message.push('\n');
        }
        self.0.message.push_str(note);
        self
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
    }

    pub(crate) fn closed() -> Error {
        Error::new(ErrorKind::Closed, "the connection is closed")
    }

    /// An I/O error while doing `context` ("reading from the server"); the error itself is the
    /// source, not part of the message.
    pub(crate) fn io(context: &str, err: io::Error) -> Error {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return Error::new(
                ErrorKind::Closed,
                format!("{context}: the server closed the connection"),
            )
            .with_source(err);
        }
        Error::new(ErrorKind::Io, context).with_source(err)
    }

    /// A server error; authentication failures (class 28) are reported with kind `Auth`.
    pub(crate) fn db(db: Box<DbError>) -> Error {
        let kind = if db.code.starts_with("28") {
            ErrorKind::Auth
        } else {
            ErrorKind::Server
        };
        Error(Box::new(Inner {
            kind,
            message: String::new(),
            db: Some(*db),
            row: None,
            source: None,
        }))
    }

    pub(crate) fn decode(row: u64, err: serde_json::Error) -> Error {
        let mut e = Error::new(
            ErrorKind::Decode,
            format!("row {row}: invalid JSON for the requested type"),
        )
        .with_source(err);
        e.0.row = Some(row);
        e
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The SQLSTATE code when the server reported the error (for example `"28P01"`).
    pub fn code(&self) -> Option<&str> {
        self.0.db.as_ref().map(|db| db.code.as_str())
    }

    /// Every field of the server's ErrorResponse, when the server reported the error.
    pub fn db_error(&self) -> Option<&DbError> {
        self.0.db.as_ref()
    }

    /// The 1-based ordinal of the row that failed to decode, for [`ErrorKind::Decode`].
    pub fn row(&self) -> Option<u64> {
        self.0.row
    }

    /// Whether the connection that produced this error can still run queries.
    ///
    /// Server errors and decode errors leave the connection usable; protocol, I/O and
    /// closed errors do not.
    pub fn is_fatal(&self) -> bool {
        match self.0.kind {
            ErrorKind::Server
            | ErrorKind::Decode
            | ErrorKind::Column
            | ErrorKind::Config
            | ErrorKind::PoolTimeout => self
                .0
                .db
                .as_ref()
                .is_some_and(|db| db.severity == "FATAL" || db.severity == "PANIC"),
            _ => true,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind);
        if !self.0.message.is_empty() {
            d.field("message", &self.0.message);
        }
        if let Some(db) = &self.0.db {
            d.field("db", db);
        }
        if let Some(row) = self.0.row {
            d.field("row", &row);
        }
        if let Some(source) = &self.0.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.db {
            Some(db) if self.0.message.is_empty() => fmt::Display::fmt(db, f)?,
            Some(db) => write!(f, "{db}\n{}", self.0.message)?,
            None => f.write_str(&self.0.message)?,
        }
        if f.alternate() {
            let mut source = StdError::source(self);
            while let Some(s) = source {
                write!(f, ": {s}")?;
                source = s.source();
            }
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

/// The fields of a server ErrorResponse or NoticeResponse.
///
/// See the protocol documentation, "Error and Notice Message Fields".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbError {
    pub(crate) severity: String,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
    pub(crate) position: Option<u32>,
    pub(crate) internal_position: Option<u32>,
    pub(crate) internal_query: Option<String>,
    pub(crate) where_: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) column: Option<String>,
    pub(crate) datatype: Option<String>,
    pub(crate) constraint: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) routine: Option<String>,
}

impl DbError {
    /// Severity, untranslated (`ERROR`, `FATAL`, `PANIC`, `WARNING`, `NOTICE`, …).
    pub fn severity(&self) -> &str {
        &self.severity
    }
    /// The SQLSTATE code.
    pub fn code(&self) -> &str {
        &self.code
    }
    /// The primary human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// An optional secondary message with more detail.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    /// An optional suggestion what to do about the problem.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    /// 1-based character position in the query string where the error was found.
    pub fn position(&self) -> Option<u32> {
        self.position
    }
    /// Position in an internally generated query (see [`DbError::internal_query`]).
    pub fn internal_position(&self) -> Option<u32> {
        self.internal_position
    }
    /// The text of an internally generated query that failed.
    pub fn internal_query(&self) -> Option<&str> {
        self.internal_query.as_deref()
    }
    /// The context (call stack) in which the error occurred.
    pub fn where_(&self) -> Option<&str> {
        self.where_.as_deref()
    }
    /// Schema of the object the error is associated with.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
    /// Table of the object the error is associated with.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }
    /// Column of the object the error is associated with.
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }
    /// Data type the error is associated with.
    pub fn datatype(&self) -> Option<&str> {
        self.datatype.as_deref()
    }
    /// Constraint the error is associated with.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }
    /// Server source file where the error was reported.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }
    /// Server source line where the error was reported.
    pub fn line(&self) -> Option<u32> {
        self.line
    }
    /// Server source routine that reported the error.
    pub fn routine(&self) -> Option<&str> {
        self.routine.as_deref()
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        Ok(())
    }
}

/// The result type of jsonwire operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_give_the_context_and_keep_the_io_error_as_the_source_only() {
        let err = Error::io(
            "reading from the server",
            io::Error::from(io::ErrorKind::ConnectionReset),
        );
        assert_eq!(
            (err.kind(), err.to_string().as_str()),
            (ErrorKind::Io, "reading from the server")
        );
        let source = err.source().unwrap().to_string();
        assert_eq!(
            format!("{err:#}"),
            format!("reading from the server: {source}")
        );

        let eof = Error::io(
            "reading from the server",
            io::Error::from(io::ErrorKind::UnexpectedEof),
        );
        assert_eq!(eof.kind(), ErrorKind::Closed);
        assert_eq!(
            eof.to_string(),
            "reading from the server: the server closed the connection"
        );
    }

    #[test]
    fn the_alternate_form_follows_every_source_and_a_server_error_keeps_its_fields() {
        let inner = Error::io("writing to the server", io::Error::other("broken pipe"));
        let outer = Error::new(ErrorKind::Connect, "cancel request").with_source(inner);
        assert_eq!(outer.to_string(), "cancel request");
        assert_eq!(
            format!("{outer:#}"),
            "cancel request: writing to the server: broken pipe"
        );

        let db = Error::db(Box::new(DbError {
            severity: "ERROR".into(),
            code: "22012".into(),
            message: "division by zero".into(),
            detail: Some("d".into()),
            hint: Some("h".into()),
            ..DbError::default()
        }))
        .with_note("while streaming");
        let shown = "ERROR 22012: division by zero\nDETAIL: d\nHINT: h\nwhile streaming";
        assert_eq!(
            (db.to_string(), format!("{db:#}")),
            (shown.to_owned(), shown.to_owned())
        );
    }
}
