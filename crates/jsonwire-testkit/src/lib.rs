//! Throw-away Postgres clusters for tests and benchmarks.
//!
//! [`PgServer::shared`] starts one private cluster per test binary the first time a test asks
//! for it (about a second), and every test in the binary gets the same server. A cluster has
//! its own directory under the temp dir, a free port on `127.0.0.1`, a private unix socket
//! directory, settings that trade durability for speed, and one login role per authentication
//! method ([`Role`]), so authentication tests talk to a real server.
//!
//! ```no_run
//! use jsonwire_testkit::{PgServer, Role};
//!
//! let server = PgServer::shared()?;
//! server.run_sql("CREATE TABLE IF NOT EXISTS t (doc jsonb); INSERT INTO t VALUES ('{\"a\": 1}')")?;
//! assert_eq!(server.psql_output("SELECT doc FROM t")?, "{\"a\": 1}\n");
//!
//! // Connect however the client under test does:
//! let superuser = server.url(); // postgres://postgres@127.0.0.1:PORT/postgres
//! let scram = server.url_for(Role::Scram); // Some("postgres://jw_scram:...@127.0.0.1:PORT/postgres")
//! # Ok::<(), jsonwire_testkit::Error>(())
//! ```
//!
//! A test that needs its own settings or fixtures builds an owned server, removed on drop:
//!
//! ```no_run
//! # use jsonwire_testkit::PgServer;
//! let server = PgServer::builder()
//!     .setting("statement_timeout", "5s")
//!     .sql("CREATE TABLE docs (doc json)")
//!     .start()?;
//! # Ok::<(), jsonwire_testkit::Error>(())
//! ```
//!
//! # Finding Postgres
//!
//! The server binaries (`initdb`, `postgres`, `pg_ctl`, `psql`) come from
//! [`Builder::bindir`], else the `PG_BINDIR` environment variable, else `pg_config --bindir`,
//! else the newest `/usr/lib/postgresql/*/bin` (Debian's `apt-get install postgresql`). A
//! relocatable build whose shared libraries sit in `<bindir>/../lib` works too. Postgres
//! refuses to run as root, so under root the server programs run as the `postgres` user via
//! `runuser`, and the cluster directory belongs to that user.
//!
//! With `JSONWIRE_TEST_URL` set, no cluster is started: [`PgServer::start`] and
//! [`PgServer::shared`] use that server, [`PgServer::url`] returns the variable, and SQL runs
//! there through `psql`.
//!
//! # Standbys
//!
//! A primary started with [`Builder::replication`] can have streaming standbys,
//! [`PgServer::start_standby`] (`pg_basebackup -R` over the primary's socket); this needs a
//! bin directory with `pg_basebackup`, which the relocatable npm builds lack, so such a primary
//! falls back to the newest `/usr/lib/postgresql/*/bin` that has it. [`PgServer::stop`] and
//! [`PgServer::restart`] take a server down and back up on the same port.
//!
//! # Cleanup
//!
//! Each cluster gets a watchdog, a small `sh` process that blocks reading a pipe whose only
//! writer is the process that started the cluster. The pipe reaches end-of-file when the
//! [`PgServer`] is dropped or when that process exits in any way (normal exit, panic, abort,
//! `SIGKILL`); the watchdog then stops the server (`pg_ctl stop -m immediate`) and removes the
//! directory. Dropping a `PgServer` waits for that to finish.

mod binaries;
mod cluster;
mod error;
mod server;
mod target;
pub mod tls;

pub use error::{Error, ErrorKind};
pub use server::{Builder, PgServer, TEST_URL_VAR};
pub use tls::TlsFiles;

/// Password of [`Role::Password`] (`jw_password`), sent in cleartext.
pub const PASSWORD_PASSWORD: &str = "jw_password_pw";
/// Password of [`Role::Md5`] (`jw_md5`), stored MD5-hashed.
pub const MD5_PASSWORD: &str = "jw_md5_pw";
/// Password of [`Role::Scram`] (`jw_scram`), stored as a SCRAM-SHA-256 verifier.
pub const SCRAM_PASSWORD: &str = "jw_scram_pw";

/// A login role of a private cluster, one per authentication method. Each role may log in
/// only by its own method, over TCP and the unix socket alike.
///
/// The roles can connect to the `postgres` database and read every table and sequence the
/// superuser creates in schema `public`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `jw_trust`: `trust`, no password asked.
    Trust,
    /// `jw_password`: `password`, the password sent in cleartext.
    Password,
    /// `jw_md5`: `md5` challenge-response.
    Md5,
    /// `jw_scram`: `scram-sha-256`.
    Scram,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 4] = [Role::Trust, Role::Password, Role::Md5, Role::Scram];

    /// The role's name.
    pub fn user(self) -> &'static str {
        match self {
            Role::Trust => "jw_trust",
            Role::Password => "jw_password",
            Role::Md5 => "jw_md5",
            Role::Scram => "jw_scram",
        }
    }

    /// The role's password; `None` for [`Role::Trust`], which has none.
    pub fn password(self) -> Option<&'static str> {
        match self {
            Role::Trust => None,
            Role::Password => Some(PASSWORD_PASSWORD),
            Role::Md5 => Some(MD5_PASSWORD),
            Role::Scram => Some(SCRAM_PASSWORD),
        }
    }

    /// The `pg_hba.conf` method the role must log in with.
    pub fn hba_method(self) -> &'static str {
        match self {
            Role::Trust => "trust",
            Role::Password => "password",
            Role::Md5 => "md5",
            Role::Scram => "scram-sha-256",
        }
    }
}
