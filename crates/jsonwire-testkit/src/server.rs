//! [`PgServer`], its [`Builder`], and running SQL through `psql`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::binaries::{run, Binaries};
use crate::cluster::{roles_sql, Cluster};
use crate::error::{Error, ErrorKind};
use crate::target::Target;
use crate::Role;

/// The environment variable naming a running server to use instead of starting one.
pub const TEST_URL_VAR: &str = "JSONWIRE_TEST_URL";

/// A Postgres server for tests: a private throw-away cluster, or the server named by
/// `JSONWIRE_TEST_URL`.
///
/// A cluster this kit started is stopped and its directory removed when the `PgServer` is
/// dropped, or, for [`PgServer::shared`], when the process exits.
#[derive(Debug)]
pub struct PgServer {
    /// `None` for an external server.
    cluster: Option<Cluster>,
    bins: Binaries,
    target: Target,
    url: String,
    version_num: u32,
    roles: bool,
}

/// Configures a [`PgServer`] before starting it; made by [`PgServer::builder`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    settings: Vec<(String, String)>,
    init: Vec<Init>,
    bindir: Option<PathBuf>,
    replication: bool,
    tls: Option<bool>,
}

#[derive(Debug, Clone)]
enum Init {
    Sql(String),
    File(PathBuf),
}

impl Builder {
    /// Adds a `postgresql.conf` setting, applied after (and so overriding) the kit's own.
    /// Ignored for an external server.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Runs `sql` as the superuser once the server is up, after the test roles exist and in
    /// the order given with [`sql_file`](Self::sql_file). It runs against an external server
    /// too, so fixtures there should tolerate existing (`CREATE TABLE IF NOT EXISTS`).
    pub fn sql(mut self, sql: impl Into<String>) -> Self {
        self.init.push(Init::Sql(sql.into()));
        self
    }

    /// Runs the SQL file at `path` like [`sql`](Self::sql).
    pub fn sql_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.init.push(Init::File(path.into()));
        self
    }

    /// Turns TLS on (`ssl=on`, with certificates generated for the cluster: see
    /// [`PgServer::tls`]) or off. By default it is on when the server binary was built with
    /// SSL support.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = Some(on);
        self
    }

    /// Uses the binaries in `dir` instead of looking in `PG_BINDIR`, `pg_config --bindir` and
    /// `/usr/lib/postgresql/*/bin`.
    pub fn bindir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bindir = Some(dir.into());
        self
    }

    /// Makes a private cluster that can have standbys ([`PgServer::start_standby`]), even
    /// with `JSONWIRE_TEST_URL` set: its binaries must include `pg_basebackup`, so when the
    /// usual ones lack it (the relocatable npm builds do) the newest
    /// `/usr/lib/postgresql/*/bin` that has it is used.
    pub fn replication(mut self) -> Self {
        self.replication = true;
        self
    }

    /// Starts the cluster (or connects to `JSONWIRE_TEST_URL`), creates the test roles and
    /// runs the builder's SQL.
    ///
    /// # Errors
    ///
    /// No server binaries found ([`ErrorKind::BinariesNotFound`]), `initdb` or `psql` failing
    /// ([`ErrorKind::Command`]), the server not starting ([`ErrorKind::Startup`], with the tail
    /// of its log), or an unreadable `JSONWIRE_TEST_URL` ([`ErrorKind::InvalidUrl`]).
    pub fn start(self) -> Result<PgServer, Error> {
        let external = std::env::var(TEST_URL_VAR)
            .ok()
            .filter(|u| !u.trim().is_empty() && !self.replication);
        let server = match external {
            Some(url) => PgServer::external(url, self.bindir.as_deref())?,
            None if self.replication => PgServer::private(
                &self.settings,
                Binaries::find_having(self.bindir.as_deref(), "pg_basebackup")?,
                self.tls,
            )?,
            None => PgServer::private(
                &self.settings,
                Binaries::find(self.bindir.as_deref())?,
                self.tls,
            )?,
        };
        for init in &self.init {
            match init {
                Init::Sql(sql) => server.run_sql(sql)?,
                Init::File(path) => server.run_sql_file(path)?,
            }
        }
        Ok(server)
    }
}

impl PgServer {
    /// A builder for a server with extra settings, fixtures or a chosen bin directory.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts a private cluster with the default settings (or uses `JSONWIRE_TEST_URL`).
    ///
    /// # Errors
    ///
    /// As [`Builder::start`].
    pub fn start() -> Result<PgServer, Error> {
        Builder::default().start()
    }

    /// The server shared by every test in this process, started by the first call.
    ///
    /// It is never dropped; a watchdog process stops it and removes its directory once this
    /// process has exited, however it exits.
    ///
    /// # Errors
    ///
    /// As [`Builder::start`]; a failed start is reported to every caller, not retried.
    pub fn shared() -> Result<&'static PgServer, Error> {
        static SHARED: OnceLock<Result<PgServer, Error>> = OnceLock::new();
        SHARED
            .get_or_init(PgServer::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn private(
        settings: &[(String, String)],
        bins: Binaries,
        tls: Option<bool>,
    ) -> Result<PgServer, Error> {
        let tls = tls.unwrap_or_else(|| crate::tls::server_has_ssl(&bins.postgres()));
        let cluster = Cluster::start(&bins, settings, tls)?;
        let target = Target {
            host: "127.0.0.1".to_string(),
            port: cluster.port,
            dbname: "postgres".to_string(),
            query: String::new(),
        };
        let mut server = PgServer {
            url: target.url("postgres", None),
            cluster: Some(cluster),
            bins,
            target,
            version_num: 0,
            roles: true,
        };
        server.run_sql(&roles_sql())?;
        if tls {
            server.run_sql(&crate::tls::roles_sql())?;
        }
        server.version_num = server.query_version()?;
        Ok(server)
    }

    /// Starts a streaming standby of this private cluster (`pg_basebackup -R` over its Unix
    /// socket), with its own port, socket directory and directory, removed on drop like any
    /// owned server. It is in hot standby: it accepts read-only sessions, and
    /// `pg_is_in_recovery()` is true. The test roles and fixtures are the primary's.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Startup`] for an external server; [`ErrorKind::BinariesNotFound`] when
    /// this server's binaries lack `pg_basebackup` (start the primary with
    /// [`Builder::replication`]); [`ErrorKind::Command`] if the base backup fails;
    /// [`ErrorKind::Startup`] if the standby does not start.
    pub fn start_standby(&self) -> Result<PgServer, Error> {
        let primary = self.own_cluster()?;
        if !self.bins.has("pg_basebackup") {
            return Err(Error::new(
                ErrorKind::BinariesNotFound,
                "this server's bin directory has no pg_basebackup; start the primary with \
                 PgServer::builder().replication()",
            ));
        }
        let cluster = Cluster::start_standby(&self.bins, primary, &[])?;
        let target = Target {
            host: "127.0.0.1".to_string(),
            port: cluster.port,
            dbname: "postgres".to_string(),
            query: String::new(),
        };
        let mut standby = PgServer {
            url: target.url("postgres", None),
            cluster: Some(cluster),
            bins: self.bins.clone(),
            target,
            version_num: 0,
            roles: self.roles,
        };
        standby.version_num = standby.query_version()?;
        Ok(standby)
    }

    fn external(url: String, bindir: Option<&Path>) -> Result<PgServer, Error> {
        let target = Target::parse(&url)?;
        let bins = Binaries::find(bindir).unwrap_or_else(|_| Binaries::path_psql());
        let mut server = PgServer {
            cluster: None,
            bins,
            target,
            url,
            version_num: 0,
            roles: false,
        };
        server.version_num = server.query_version().map_err(|e| {
            Error::new(
                e.kind(),
                format!("could not query the server named by {TEST_URL_VAR}: {e}"),
            )
        })?;
        let users: Vec<String> = Role::ALL
            .iter()
            .map(|r| format!("'{}'", r.user()))
            .collect();
        let found = server.psql_output(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname IN ({})",
            users.join(", ")
        ))?;
        server.roles = found.trim() == Role::ALL.len().to_string();
        Ok(server)
    }

    fn query_version(&self) -> Result<u32, Error> {
        let out = self.psql_output("SHOW server_version_num")?;
        out.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::Command,
                format!("unexpected server_version_num {out:?} from {}", self.url),
            )
        })
    }

    /// The certificate files of a private cluster started with TLS on; `None` otherwise.
    pub fn tls(&self) -> Option<&crate::TlsFiles> {
        self.cluster.as_ref().and_then(|c| c.tls.as_ref())
    }

    /// The host to connect to: `"127.0.0.1"` for a private cluster.
    pub fn host(&self) -> &str {
        &self.target.host
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.target.port
    }

    /// The directory holding the server's unix socket; `None` for an external server.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.cluster.as_ref().map(|c| c.socket_dir.as_path())
    }

    /// A URL for the superuser over TCP, `postgres://postgres@127.0.0.1:PORT/postgres`, or
    /// `JSONWIRE_TEST_URL` as given.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A TCP URL that logs in as `role` with its password.
    ///
    /// For an external server this is `None` unless all four test roles exist there (with the
    /// kit's passwords and `pg_hba.conf` methods, which the kit cannot check).
    pub fn url_for(&self, role: Role) -> Option<String> {
        self.roles
            .then(|| self.target.url(role.user(), role.password()))
    }

    /// A `key=value` connection string for the superuser over the unix socket, such as
    /// `host=/tmp/jwtk-1-0-ab/s port=5432 user=postgres dbname=postgres`; `None` for an
    /// external server.
    pub fn socket_url(&self) -> Option<String> {
        let dir = self.socket_dir()?;
        Some(format!(
            "host={} port={} user=postgres dbname=postgres",
            dir.display(),
            self.port()
        ))
    }

    /// The operating-system user the private cluster's server runs as (`postgres` when the
    /// kit runs as root, else the current user), as a Unix-socket client sees it; `None` for
    /// an external server.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Command`] if `id -un` fails.
    pub fn os_user(&self) -> Result<Option<String>, Error> {
        if self.cluster.is_none() {
            return Ok(None);
        }
        if self.bins.as_postgres() {
            return Ok(Some("postgres".to_owned()));
        }
        let out = run(Command::new("id").arg("-un"), None)?;
        Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// The server's `server_version_num`, such as `150013` or `170002`.
    pub fn server_version_num(&self) -> u32 {
        self.version_num
    }

    /// Stops a private cluster's server with `pg_ctl stop -m <mode>` (`smart`, `fast` or
    /// `immediate`), keeping its directory for [`PgServer::restart`]. For fault tests: a
    /// shared server must not be stopped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Command`] when `pg_ctl` fails; [`ErrorKind::Startup`] for an external
    /// server, which the kit does not control.
    pub fn stop(&self, mode: &str) -> Result<(), Error> {
        self.own_cluster()?.stop(&self.bins, mode)
    }

    /// Starts a private cluster stopped by [`PgServer::stop`] again, on the same port.
    ///
    /// # Errors
    ///
    /// As [`PgServer::stop`].
    pub fn restart(&self) -> Result<(), Error> {
        self.own_cluster()?.start_again(&self.bins)
    }

    fn own_cluster(&self) -> Result<&Cluster, Error> {
        self.cluster.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Startup,
                "an external server (JSONWIRE_TEST_URL) cannot be stopped or restarted",
            )
        })
    }

    /// Whether this is the server named by `JSONWIRE_TEST_URL` rather than a private cluster.
    pub fn is_external(&self) -> bool {
        self.cluster.is_none()
    }

    /// The server log of a private cluster.
    pub fn log_path(&self) -> Option<&Path> {
        self.cluster.as_ref().map(|c| c.log.as_path())
    }

    /// The private cluster's directory (data directory, socket directory and log), which is
    /// removed when the server is.
    pub fn data_dir(&self) -> Option<&Path> {
        self.cluster.as_ref().map(|c| c.base.as_path())
    }

    /// Runs `sql` (any number of statements, psql meta-commands allowed) as the superuser,
    /// stopping at the first error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Command`] with psql's stderr if a statement fails.
    pub fn run_sql(&self, sql: &str) -> Result<(), Error> {
        run(
            self.psql().args(["-v", "ON_ERROR_STOP=1", "-q", "-f", "-"]),
            Some(sql.as_bytes()),
        )
        .map(drop)
    }

    /// Runs the SQL file at `path` as the superuser, stopping at the first error.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Command`] with psql's stderr if the file cannot be read or a statement
    /// fails.
    pub fn run_sql_file(&self, path: &Path) -> Result<(), Error> {
        run(
            self.psql()
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
                .arg(path),
            None,
        )
        .map(drop)
    }

    /// What `psql -XAt -c SQL` prints, byte for byte, for comparing with a client's output.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Command`] with psql's stderr if the query fails, [`ErrorKind::Io`] if the
    /// output is not UTF-8.
    pub fn psql_output(&self, sql: &str) -> Result<String, Error> {
        let out = run(self.psql().args(["-A", "-t", "-c", sql]), None)?;
        String::from_utf8(out.stdout).map_err(|e| {
            Error::io(
                "psql printed invalid UTF-8",
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })
    }

    /// A `psql` command from the server's bin directory with `-X` and no connection
    /// arguments yet, for connecting some other way (another role, the socket). The caller's
    /// `PG*` environment variables are removed and `PGCLIENTENCODING=UTF8` is set.
    pub fn psql_command(&self) -> Command {
        let mut cmd = self.bins.client("psql");
        cmd.arg("-X");
        cmd
    }

    /// `psql` connected as the superuser.
    fn psql(&self) -> Command {
        let mut cmd = self.psql_command();
        cmd.arg("-d").arg(&self.url);
        cmd
    }
}
