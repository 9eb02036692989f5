//! The server the integration tier measures against, with the dataset loaded and checked.
//!
//! Without `JSONWIRE_BENCH_URL` a throw-away cluster is started with the testkit (settings
//! below), `setup.sql` is loaded into it, and it is removed when the run ends. With
//! `JSONWIRE_BENCH_URL` that server is used, and `setup.sql` is loaded there only when a view
//! is missing. Either way every view's `count(*)` is compared with `bench_expected` before
//! anything is measured.

use std::path::{Path, PathBuf};
use std::time::Instant;

use jsonwire_testkit::{PgServer, Role};

use crate::clients::{BenchError, TokioClient};
use crate::dataset::{Expected, ExpectedTable, VIEWS};

/// The environment variable naming a server to measure instead of a throw-away one.
pub const BENCH_URL_VAR: &str = "JSONWIRE_BENCH_URL";

/// The environment variable naming the unix socket directory of the `JSONWIRE_BENCH_URL`
/// server (set by `.ci/bench-postgres`), for the connection group's unix-socket cases.
pub const BENCH_SOCKET_DIR_VAR: &str = "JSONWIRE_BENCH_SOCKET_DIR";

/// Reads the benchmark server settings (`benches/postgres.conf`, postgresql.conf syntax:
/// `name = value`, optionally single-quoted, `#` comments), which the throw-away cluster gets on
/// top of the testkit's own and `.ci/bench-postgres` appends to its cluster's configuration.
///
/// # Errors
/// An unreadable file, or a line that is not `name = value`, named by its line number.
pub fn read_settings(path: &Path) -> Result<Vec<(String, String)>, BenchError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the server settings {}: {e}", path.display()))?;
    let mut settings = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line.split_once('=').and_then(|(name, value)| {
            let name = name.trim();
            let value = value.trim();
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(value);
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
            (!name.is_empty() && name.chars().all(plain) && !value.is_empty())
                .then(|| (name.to_owned(), value.to_owned()))
        });
        match parsed {
            Some(setting) => settings.push(setting),
            None => {
                return Err(format!(
                    "{}:{}: expected `name = value`, found {line:?}",
                    path.display(),
                    n + 1
                )
                .into())
            }
        }
    }
    Ok(settings)
}

/// The server, its URLs and the expected results.
#[derive(Debug)]
pub struct BenchServer {
    server: PgServer,
    url: String,
    socket_dir: Option<PathBuf>,
    /// The settings given to the throw-away cluster (none for `JSONWIRE_BENCH_URL`).
    pub settings: Vec<(String, String)>,
    /// `SELECT version()`.
    pub version: String,
    /// `bench_expected`, checked against the views' real row counts.
    pub expected: ExpectedTable,
}

impl BenchServer {
    /// Starts (or finds) the server, loads the dataset if needed and checks it.
    ///
    /// Call this before any other thread is started: it sets the testkit's environment.
    /// `settings` is `benches/postgres.conf`, for a throw-away cluster.
    ///
    /// # Errors
    /// Why the benchmarks cannot run: no Postgres binaries, unreadable settings, a server that
    /// does not start, a failed load, or a dataset that does not match `bench_expected`.
    pub fn start(setup_sql: &Path, settings: &Path) -> Result<BenchServer, BenchError> {
        let t0 = Instant::now();
        let external = std::env::var(BENCH_URL_VAR)
            .ok()
            .filter(|u| !u.trim().is_empty());
        // The testkit reads JSONWIRE_TEST_URL; the benchmarks answer to their own variable only.
        match &external {
            Some(url) => std::env::set_var(jsonwire_testkit::TEST_URL_VAR, url),
            None => std::env::remove_var(jsonwire_testkit::TEST_URL_VAR),
        }
        let settings = match &external {
            Some(_) => Vec::new(),
            None => read_settings(settings)?,
        };
        let mut builder = PgServer::builder();
        for (name, value) in &settings {
            builder = builder.setting(name, value);
        }
        let server = builder.start().map_err(|e| match &external {
            Some(url) => format!("cannot use {BENCH_URL_VAR}={url}: {e}"),
            None => format!(
                "cannot start a throw-away Postgres (install Postgres, or set PG_BINDIR, or \
                 point {BENCH_URL_VAR} at a server): {e}"
            ),
        })?;
        let url = without_tls(&server.url());
        eprintln!(
            "bench server: {} ({:.1} s)",
            if server.is_external() {
                format!("{BENCH_URL_VAR}={url}")
            } else {
                format!("throw-away cluster at {url}")
            },
            t0.elapsed().as_secs_f64()
        );

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (version, expected) = rt.block_on(check_dataset(&server, &url, setup_sql))?;
        let socket_dir = match server.socket_dir() {
            Some(dir) => Some(dir.to_owned()),
            None => std::env::var_os(BENCH_SOCKET_DIR_VAR)
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        };
        Ok(BenchServer {
            server,
            url,
            socket_dir,
            settings,
            version,
            expected,
        })
    }
}

/// `conninfo` with `sslmode=disable` unless it names an sslmode: the throw-away cluster has TLS
/// on, and jsonwire's default `prefer` would use it (or, against a server without TLS, spend
/// a round trip on the SSLRequest) where tokio-postgres with `NoTls` and the raw-socket reader
/// speak plaintext. TLS has rows of its own.
pub fn without_tls(conninfo: &str) -> String {
    if conninfo.contains("sslmode=") {
        conninfo.to_owned()
    } else if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        let sep = if conninfo.contains('?') { '&' } else { '?' };
        format!("{conninfo}{sep}sslmode=disable")
    } else {
        format!("{conninfo} sslmode=disable")
    }
}

/// Loads `setup.sql` when a view or `bench_expected` is missing, then compares every view's
/// `count(*)` with `bench_expected`. Returns the server version and the table.
async fn check_dataset(
    server: &PgServer,
    url: &str,
    setup_sql: &Path,
) -> Result<(String, ExpectedTable), BenchError> {
    let admin = TokioClient::connect(url).await?;
    let present: i64 = admin
        .client
        .query_one(
            "SELECT count(*) FROM pg_views WHERE viewname = ANY($1)",
            &[&VIEWS.to_vec()],
        )
        .await?
        .get(0);
    let has_expected = admin
        .client
        .query_one("SELECT to_regclass('bench_expected') IS NOT NULL", &[])
        .await?
        .get::<_, bool>(0);
    if present != VIEWS.len() as i64 || !has_expected {
        let t = Instant::now();
        eprintln!("bench server: loading {} ...", setup_sql.display());
        server
            .run_sql_file(setup_sql)
            .map_err(|e| format!("loading {} failed: {e}", setup_sql.display()))?;
        eprintln!(
            "bench server: dataset loaded in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("bench server: dataset present, not reloaded");
    }

    let version: String = admin
        .client
        .query_one("SELECT version()", &[])
        .await?
        .get(0);
    let t = Instant::now();
    let mut views = Vec::new();
    for row in admin
        .client
        .query(
            "SELECT view, row_count, text_bytes FROM bench_expected ORDER BY view",
            &[],
        )
        .await?
    {
        let view: String = row.get(0);
        let rows: i64 = row.get(1);
        let bytes: i64 = row.get(2);
        let count: i64 = admin
            .client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}",
                    jsonwire::sql::quote_identifier(&view)
                ),
                &[],
            )
            .await?
            .get(0);
        if count != rows {
            return Err(format!(
                "the dataset is not what setup.sql makes: {view} has {count} rows, \
                     bench_expected says {rows}; reload setup.sql"
            )
            .into());
        }
        views.push((
            view,
            Expected {
                rows: rows as u64,
                bytes: bytes as u64,
            },
        ));
    }
    let expected = ExpectedTable::new(views);
    for view in VIEWS {
        expected.get(view);
    }
    eprintln!(
        "bench server: {} views checked against bench_expected ({:.1} s); {version}",
        VIEWS.len(),
        t.elapsed().as_secs_f64()
    );
    admin.close().await;
    Ok((version, expected))
}

impl BenchServer {
    /// The superuser (or `JSONWIRE_BENCH_URL`) over TCP.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The superuser over the unix socket: the throw-away cluster's, or the one in
    /// `JSONWIRE_BENCH_SOCKET_DIR` for `JSONWIRE_BENCH_URL` (same port, database `postgres`).
    pub fn socket_url(&self) -> Option<String> {
        Some(format!(
            "host={} port={} user=postgres dbname=postgres",
            self.socket_dir.as_ref()?.display(),
            self.server.port()
        ))
    }

    /// The SCRAM role over TCP (throw-away cluster, or a server with the testkit's roles).
    pub fn scram_url(&self) -> Option<String> {
        self.server.url_for(Role::Scram).map(|u| without_tls(&u))
    }

    /// `role` over TLS with the throw-away cluster's CA as root: jsonwire's URL
    /// (`sslmode=verify-full&sslrootcert=...`), tokio-postgres's (`sslmode=require`; it takes
    /// the root in its TLS connector, which checks the name too) and the CA file. `None` for a
    /// server without the kit's certificates.
    pub fn tls_url(&self, role: Role) -> Option<(String, String, PathBuf)> {
        self.over_tls(self.server.url_for(role)?)
    }

    /// The superuser over TLS, as [`tls_url`](Self::tls_url) gives a role.
    pub fn superuser_tls_url(&self) -> Option<(String, String, PathBuf)> {
        self.over_tls(self.server.url())
    }

    fn over_tls(&self, url: String) -> Option<(String, String, PathBuf)> {
        let ca = self.server.tls()?.ca_cert.clone();
        Some((
            format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display()),
            format!("{url}?sslmode=require"),
            ca,
        ))
    }

    /// The trust role over TCP.
    pub fn trust_url(&self) -> Option<String> {
        self.server.url_for(Role::Trust).map(|u| without_tls(&u))
    }

    /// The SCRAM role over the unix socket.
    pub fn scram_socket_url(&self) -> Option<String> {
        let role = Role::Scram;
        Some(format!(
            "{} user={} password={}",
            self.socket_url()?.replace(" user=postgres", ""),
            role.user(),
            role.password()?
        ))
    }

    /// The trust role over the unix socket.
    pub fn trust_socket_url(&self) -> Option<String> {
        Some(
            self.socket_url()?
                .replace(" user=postgres", &format!(" user={}", Role::Trust.user())),
        )
    }

    /// Whether this is `JSONWIRE_BENCH_URL` rather than a throw-away cluster.
    pub fn is_external(&self) -> bool {
        self.server.is_external()
    }
}

/// Where the report goes: `$CARGO_TARGET_DIR/jsonwire-bench`, else `target/jsonwire-bench` in
/// the workspace.
pub fn report_dir(workspace: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace.join(t)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    target.join("jsonwire-bench")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
        let dir = std::env::temp_dir().join(format!("jw-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.conf", text.len() * 31 + text.lines().count()));
        std::fs::write(&path, text).unwrap();
        let got = read_settings(&path).map_err(|e| e.to_string());
        std::fs::remove_file(&path).unwrap();
        got
    }

    #[test]
    fn the_benchmark_settings_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/postgres.conf");
        let settings = read_settings(&path).unwrap();
        let get = |name: &str| {
            settings
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("shared_buffers"), Some("1GB"));
        assert_eq!(get("max_connections"), Some("250"));
        assert_eq!(get("jit"), Some("off"));
    }

    #[test]
    fn quotes_and_comments_are_stripped_and_bad_lines_are_named() {
        assert_eq!(
            parse("# a comment\n\nwork_mem = '64MB'   # trailing\nfsync=off\n").unwrap(),
            [
                ("work_mem".to_owned(), "64MB".to_owned()),
                ("fsync".to_owned(), "off".to_owned())
            ]
        );
        let err = parse("fsync = off\nshared buffers = 1GB\n").unwrap_err();
        assert!(err.contains(":2: expected `name = value`"), "{err}");
        let err = parse("jit =\n").unwrap_err();
        assert!(err.contains(":1:"), "{err}");
    }
}
