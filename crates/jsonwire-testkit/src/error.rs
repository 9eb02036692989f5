//! The kit's error type.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

/// What kind of failure an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No directory with the Postgres server binaries was found.
    BinariesNotFound,
    /// A file or directory could not be created, read or written.
    Io,
    /// A program (`initdb`, `pg_ctl`, `psql`, ...) could not be run or exited with an error.
    Command,
    /// The server did not start; the message holds the tail of its log.
    Startup,
    /// `JSONWIRE_TEST_URL` is not a connection string the kit understands.
    InvalidUrl,
}

/// An error from the test kit: which step failed and why, written to be read in a test failure.
///
/// It is cheap to clone, so [`PgServer::shared`](crate::PgServer::shared) can hand the same
/// failure to every test that asks.
#[derive(Clone)]
pub struct Error(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Arc<io::Error>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            source: None,
        }))
    }

    pub(crate) fn io(message: impl Into<String>, source: io::Error) -> Self {
        Error(Box::new(Inner {
            kind: ErrorKind::Io,
            message: message.into(),
            source: Some(Arc::new(source)),
        }))
    }

    /// A program could not be spawned at all (as opposed to failing once running).
    pub(crate) fn spawn(program: &str, source: io::Error) -> Self {
        let hint = if source.kind() == io::ErrorKind::NotFound {
            " (not found; `apt-get install postgresql` provides the Postgres programs, \
             or set PG_BINDIR to a directory that has them)"
        } else {
            ""
        };
        Error(Box::new(Inner {
            kind: ErrorKind::Command,
            message: format!("could not run `{program}`{hint}"),
            source: Some(Arc::new(source)),
        }))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)?;
        if let Some(source) = &self.0.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    // `unwrap()` in a test prints Debug; make that the readable message, not a struct dump.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} error: {self}", self.0.kind)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
