//! A private cluster's life: directory, `initdb`, configuration, start, and removal.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::binaries::{run, Binaries};
use crate::error::{Error, ErrorKind};
use crate::tls::{self, TlsFiles};
use crate::Role;

/// Settings suited to throw-away test servers: durability off, room for many connections.
const SETTINGS: [(&str, &str); 6] = [
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("listen_addresses", "127.0.0.1"),
    ("max_connections", "200"),
    ("shared_buffers", "256MB"),
];

/// How many times a start is retried when the chosen port was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// `sun_path` holds 108 bytes with the terminating NUL; the socket file adds `/.s.PGSQL.NNNNN`.
const MAX_SOCKET_DIR: usize = 107 - "/.s.PGSQL.65535".len();

/// Waits until its stdin reaches end-of-file, which happens when the [`Cluster`] is dropped or
/// the process that started it exits in any way (the kernel closes the pipe's write end), then
/// stops the server and removes the directory. `$1` is the directory, `$2` the data directory,
/// the rest the stop command.
const WATCHDOG: &str = r#"
read _ignored
base=$1 data=$2
shift 2
pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
if ! "$@" >/dev/null 2>&1 && [ -n "$pid" ]; then
    kill -QUIT "$pid" 2>/dev/null
    sleep 1
fi
rm -rf "$base"
"#;

/// A running (or being set up) private cluster. Dropping it stops the server and removes
/// its directory.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) base: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) socket_dir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) port: u16,
    pub(crate) tls: Option<TlsFiles>,
    watchdog: Option<Child>,
}

impl Cluster {
    /// Creates, initialises and starts a cluster with the kit's settings plus `extra`.
    /// With `with_tls`, the server runs with `ssl=on` and certificates made for it.
    pub(crate) fn start(
        bins: &Binaries,
        extra: &[(String, String)],
        with_tls: bool,
    ) -> Result<Cluster, Error> {
        let mut cluster = Cluster::prepare(bins, with_tls)?;
        run(
            bins.server("initdb")
                .current_dir(&cluster.base)
                .arg("-D")
                .arg(&cluster.data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]),
            None,
        )?;
        cluster.configure(extra)?;
        cluster.launch(bins)?;
        Ok(cluster)
    }

    /// Creates and starts a streaming standby of `primary`: a base backup taken over the
    /// primary's Unix socket with `pg_basebackup -R` (which writes `primary_conninfo` and
    /// `standby.signal`), the kit's settings plus `extra`, its own port and socket directory.
    pub(crate) fn start_standby(
        bins: &Binaries,
        primary: &Cluster,
        extra: &[(String, String)],
    ) -> Result<Cluster, Error> {
        let mut cluster = Cluster::prepare(bins, false)?;
        run(
            bins.server("pg_basebackup")
                .current_dir(&cluster.base)
                .arg("-D")
                .arg(&cluster.data)
                .arg("-h")
                .arg(&primary.socket_dir)
                .arg("-p")
                .arg(primary.port.to_string())
                .args([
                    "-U",
                    "postgres",
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ]),
            None,
        )?;
        cluster.configure(extra)?;
        cluster.launch(bins)?;
        Ok(cluster)
    }

    /// A new cluster directory with its socket directory and watchdog, owned by the user the
    /// server runs as.
    fn prepare(bins: &Binaries, with_tls: bool) -> Result<Cluster, Error> {
        let base = create_unique_dir()?;
        let mut cluster = Cluster {
            data: base.join("data"),
            socket_dir: base.join("s"),
            log: base.join("server.log"),
            base,
            port: 0,
            tls: None,
            watchdog: None,
        };
        // Spawned first, so whatever fails from here on (or however the process dies) the
        // directory and any server in it go away.
        cluster.watchdog = Some(cluster.spawn_watchdog(bins)?);
        fs::create_dir(&cluster.socket_dir).map_err(|e| {
            Error::io(
                format!("could not create {}", cluster.socket_dir.display()),
                e,
            )
        })?;
        if with_tls {
            cluster.tls = Some(tls::generate(&cluster.base.join("tls"))?);
        }
        if bins.as_postgres() {
            run(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:")
                    .arg(&cluster.base),
                None,
            )
            .map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("{e} (running as root needs a `postgres` user to own the cluster)"),
                )
            })?;
        }
        Ok(cluster)
    }

    fn spawn_watchdog(&self, bins: &Binaries) -> Result<Child, Error> {
        let mut stop = bins.server("pg_ctl");
        stop.arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", "10"]);
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("jsonwire-testkit-watchdog")
            .arg(&self.base)
            .arg(&self.data)
            .arg(stop.get_program())
            .args(stop.get_args())
            .envs(stop.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so a Ctrl-C aimed at the tests does not kill it first.
            .process_group(0);
        for (key, value) in stop.get_envs() {
            if value.is_none() {
                cmd.env_remove(key);
            }
        }
        cmd.spawn().map_err(|e| Error::spawn("sh", e))
    }

    fn configure(&self, extra: &[(String, String)]) -> Result<(), Error> {
        let mut conf = String::from("\n# jsonwire-testkit\n");
        let socket_dir = self.socket_dir.to_string_lossy();
        let tls_settings = self.tls.as_ref().map(tls::settings).unwrap_or_default();
        let ours = SETTINGS
            .iter()
            .map(|&(k, v)| (k, v))
            .chain([("unix_socket_directories", &*socket_dir)])
            .chain(tls_settings.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (name, value) in ours.chain(extra.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            let _ = writeln!(conf, "{name} = '{}'", value.replace('\'', "''"));
        }
        let path = self.data.join("postgresql.conf");
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| Error::io(format!("could not write {}", path.display()), e))?;
        let path = self.data.join("pg_hba.conf");
        fs::write(&path, hba_conf(self.tls.is_some()))
            .map_err(|e| Error::io(format!("could not write {}", path.display()), e))
    }

    /// Stops the server with `pg_ctl stop -m <mode>`, keeping its directory.
    pub(crate) fn stop(&self, bins: &Binaries, mode: &str) -> Result<(), Error> {
        run(
            bins.server("pg_ctl")
                .current_dir(&self.base)
                .args(["-w", "-t", "30", "-m", mode, "-D"])
                .arg(&self.data)
                .arg("stop"),
            None,
        )
        .map(drop)
    }

    /// Starts the server on the port it had.
    pub(crate) fn start_again(&self, bins: &Binaries) -> Result<(), Error> {
        self.pg_ctl_start(bins).map(drop)
    }

    fn pg_ctl_start(&self, bins: &Binaries) -> Result<std::process::Output, Error> {
        run(
            bins.server("pg_ctl")
                .current_dir(&self.base)
                .args(["-w", "-t", "30", "-D"])
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .arg("-o")
                .arg(format!("-p {}", self.port))
                .arg("start"),
            None,
        )
    }

    fn launch(&mut self, bins: &Binaries) -> Result<(), Error> {
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            let started = self.pg_ctl_start(bins);
            let Err(err) = started else { return Ok(()) };
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            if attempt < PORT_ATTEMPTS && log.contains("Address already in use") {
                attempt += 1;
                continue;
            }
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Error::new(
                ErrorKind::Startup,
                format!(
                    "the Postgres server in {} did not start on port {}: {err}\n\
                     --- last lines of {} ---\n{}",
                    self.data.display(),
                    self.port,
                    self.log.display(),
                    tail.join("\n"),
                ),
            ));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
        // Only if the watchdog could not do its job (it was killed, or never spawned).
        if self.base.exists() {
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}

/// `pg_hba.conf`: each test role only by its own method, the TLS roles by theirs, then
/// everyone else (the superuser `postgres`, roles a test creates) by trust. Rules match
/// top-down, so order matters. Replication connections (a standby's base backup and WAL
/// stream) are trusted.
fn hba_conf(with_tls: bool) -> String {
    let mut hba = String::from("# TYPE  DATABASE  USER  ADDRESS  METHOD\n");
    hba.push_str("local replication all trust\nhost replication all 127.0.0.1/32 trust\n");
    let line = |hba: &mut String, user: &str, method: &str| {
        let _ = writeln!(hba, "local all {user} {method}");
        let _ = writeln!(hba, "host all {user} 127.0.0.1/32 {method}");
        let _ = writeln!(hba, "host all {user} ::1/128 {method}");
    };
    for role in Role::ALL {
        line(&mut hba, role.user(), role.hba_method());
    }
    if with_tls {
        hba.push_str(&tls::hba_lines());
    }
    line(&mut hba, "all", "trust");
    hba
}

/// SQL that creates the test roles and lets them read what the superuser creates in `public`.
pub(crate) fn roles_sql() -> String {
    let mut sql = String::new();
    for role in Role::ALL {
        let encryption = match role {
            Role::Md5 => "md5",
            _ => "scram-sha-256",
        };
        let _ = write!(
            sql,
            "SET password_encryption = '{encryption}'; CREATE ROLE {} LOGIN",
            role.user()
        );
        if let Some(password) = role.password() {
            let _ = write!(sql, " PASSWORD '{password}'");
        }
        sql.push_str(";\n");
    }
    sql.push_str("RESET password_encryption;\n");
    let users: Vec<&str> = Role::ALL.iter().map(|r| r.user()).collect();
    let users = users.join(", ");
    let _ = write!(
        sql,
        "GRANT CONNECT ON DATABASE postgres TO {users};\n\
         GRANT USAGE ON SCHEMA public TO {users};\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {users};\n\
         GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {users};\n\
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {users};\n\
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO {users};\n"
    );
    sql
}

/// A port nobody listens on right now. Another process may take it before the server binds
/// it; [`Cluster::launch`] retries then.
fn free_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::io("could not find a free port on 127.0.0.1", e))
}

/// A new directory unique to this process and call, under the temp dir unless that path is too
/// long for a unix socket inside it.
fn create_unique_dir() -> Result<PathBuf, Error> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "jwtk-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut parent = std::env::temp_dir();
    if parent.join(&name).join("s").as_os_str().len() > MAX_SOCKET_DIR {
        parent = PathBuf::from("/tmp");
    }
    let dir = parent.join(name);
    fs::create_dir(&dir)
        .map_err(|e| Error::io(format!("could not create {}", dir.display()), e))?;
    // The server may run as `postgres`, and clients as anyone, so others may traverse it.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("could not set permissions on {}", dir.display()), e))?;
    Ok(dir)
}
