//! Finding the Postgres binaries and running them.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, ErrorKind};

/// The programs a cluster needs; a directory lacking one of them is not used. `psql` may come
/// from `PATH` instead (some relocatable builds ship only the server).
const REQUIRED: [&str; 3] = ["initdb", "postgres", "pg_ctl"];

/// A directory of Postgres binaries and how to run them on this machine.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    /// `None` means "whatever `psql` is on `PATH`", used only for an external server.
    dir: Option<PathBuf>,
    /// `<bindir>/../lib`, for relocatable builds whose libraries are not installed system-wide.
    lib: Option<PathBuf>,
    as_postgres: bool,
}

impl Binaries {
    /// Finds the server binaries: `explicit`, else `PG_BINDIR`, else `pg_config --bindir`,
    /// else the newest `/usr/lib/postgresql/*/bin`.
    pub(crate) fn find(explicit: Option<&Path>) -> Result<Self, Error> {
        let dir = match explicit {
            Some(dir) => checked(dir, "the builder's bindir")?,
            None => match std::env::var_os("PG_BINDIR").filter(|v| !v.is_empty()) {
                Some(dir) => checked(Path::new(&dir), "PG_BINDIR")?,
                None => search()?,
            },
        };
        Ok(Self::in_dir(Some(dir)))
    }

    /// Like [`Binaries::find`], but the directory must also hold `program` (such as
    /// `pg_basebackup`, which some relocatable builds lack): when the usual choice does not,
    /// the newest `/usr/lib/postgresql/*/bin` that does.
    pub(crate) fn find_having(explicit: Option<&Path>, program: &str) -> Result<Self, Error> {
        let usual = Self::find(explicit);
        if let Ok(bins) = &usual {
            if bins.has(program) {
                return usual;
            }
        }
        let mut versions = debian_bindirs();
        versions.retain(|(_, dir)| checked(dir, "").is_ok() && dir.join(program).is_file());
        if let Some((_, dir)) = versions.into_iter().next() {
            return Ok(Self::in_dir(Some(dir)));
        }
        let usual = match usual {
            Ok(bins) => format!("{} has none", bins.path(program).display()),
            Err(e) => e.to_string(),
        };
        Err(Error::new(
            ErrorKind::BinariesNotFound,
            format!(
                "no Postgres bin directory with {program} found ({usual}; none in \
                 /usr/lib/postgresql/*/bin either); `apt-get install postgresql` provides one"
            ),
        ))
    }

    /// Whether the bin directory holds `program`.
    pub(crate) fn has(&self, program: &str) -> bool {
        self.dir
            .as_deref()
            .is_some_and(|dir| dir.join(program).is_file())
    }

    /// Only `psql`, from `PATH`; enough to talk to an external server.
    pub(crate) fn path_psql() -> Self {
        Self::in_dir(None)
    }

    fn in_dir(dir: Option<PathBuf>) -> Self {
        let lib = dir
            .as_deref()
            .and_then(Path::parent)
            .map(|p| p.join("lib"))
            .filter(|p| p.is_dir());
        Binaries {
            dir,
            lib,
            as_postgres: running_as_root(),
        }
    }

    /// Whether the server programs run as the `postgres` user through `runuser`.
    pub(crate) fn as_postgres(&self) -> bool {
        self.as_postgres
    }

    /// The `postgres` server binary.
    pub(crate) fn postgres(&self) -> PathBuf {
        self.path("postgres")
    }

    fn path(&self, name: &str) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// A command for a server program (`initdb`, `pg_ctl`): Postgres refuses to run as root,
    /// so under root it goes through `runuser -u postgres`.
    pub(crate) fn server(&self, name: &str) -> Command {
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(self.path(name));
            cmd
        } else {
            Command::new(self.path(name))
        };
        self.prepare(&mut cmd);
        cmd
    }

    /// A command for a client program (`psql`), run as the current user so it can read the
    /// caller's SQL files. Without one in the bin directory, the one on `PATH` is used.
    pub(crate) fn client(&self, name: &str) -> Command {
        let path = self.path(name);
        if path.is_file() {
            let mut cmd = Command::new(path);
            self.prepare(&mut cmd);
            cmd
        } else {
            // Not with our library path: the bin directory's libpq and OpenSSL may not suit a
            // program built elsewhere.
            let mut cmd = Command::new(name);
            Binaries::path_psql().prepare(&mut cmd);
            cmd
        }
    }

    fn prepare(&self, cmd: &mut Command) {
        // The caller's PGHOST, PGUSER, PGPASSWORD, ... would silently redirect or break our
        // connections; everything the programs need is passed explicitly.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        // Fixed so psql output is UTF-8 whatever the locale, for byte-exact comparisons.
        cmd.env("PGCLIENTENCODING", "UTF8");
        if let Some(lib) = &self.lib {
            let mut value = lib.clone().into_os_string();
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
                value.push(":");
                value.push(old);
            }
            cmd.env("LD_LIBRARY_PATH", value);
        }
    }
}

fn checked(dir: &Path, from: &str) -> Result<PathBuf, Error> {
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(dir.to_path_buf());
    }
    Err(Error::new(
        ErrorKind::BinariesNotFound,
        format!(
            "{from} is {}, which has no {}; point it at a Postgres bin directory \
             (one with {}; `apt-get install postgresql` puts one in /usr/lib/postgresql/*/bin), \
             or set JSONWIRE_TEST_URL to use a running server",
            dir.display(),
            missing.join(", "),
            REQUIRED.join(", "),
        ),
    ))
}

fn search() -> Result<PathBuf, Error> {
    let mut tried = vec!["PG_BINDIR (not set)".to_string()];
    match Command::new("pg_config").arg("--bindir").output() {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if checked(&dir, "").is_ok() {
                return Ok(dir);
            }
            tried.push(format!("pg_config --bindir ({})", dir.display()));
        }
        _ => tried.push("pg_config (not on PATH)".to_string()),
    }
    if let Some((_, dir)) = debian_bindirs()
        .into_iter()
        .find(|(_, d)| checked(d, "").is_ok())
    {
        return Ok(dir);
    }
    tried.push("/usr/lib/postgresql/*/bin".to_string());
    Err(Error::new(
        ErrorKind::BinariesNotFound,
        format!(
            "no Postgres server binaries ({}) found; looked at {}. Install them \
             (`apt-get install postgresql`), set PG_BINDIR to a directory that has them, \
             or set JSONWIRE_TEST_URL to a running server's connection URL",
            REQUIRED.join(", "),
            tried.join(", "),
        ),
    ))
}

/// `/usr/lib/postgresql/<major>/bin` directories, newest first.
fn debian_bindirs() -> Vec<(u32, PathBuf)> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions
}

/// Whether this process runs as root, asked once of `id -u` (`geteuid` would need `unsafe`).
pub(crate) fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
            .unwrap_or(false)
    })
}

/// Runs `cmd` to completion, feeding it `input`; a non-zero exit becomes an error carrying
/// the program's stderr.
pub(crate) fn run(cmd: &mut Command, input: Option<&[u8]>) -> Result<Output, Error> {
    let program = describe(cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| Error::spawn(&program, e))?;
    // Written from a thread: the program may fill its stdout pipe before reading all input.
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => {
            let input = input.to_vec();
            Some(std::thread::spawn(move || stdin.write_all(&input)))
        }
        _ => None,
    };
    let out = child
        .wait_with_output()
        .map_err(|e| Error::spawn(&program, e))?;
    let written = writer.map(|w| w.join());
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::new(
            ErrorKind::Command,
            format!("`{program}` failed ({}): {}", out.status, stderr.trim_end()),
        ));
    }
    if let Some(Ok(Err(e))) = written {
        return Err(Error::io(format!("could not write to `{program}`"), e));
    }
    Ok(out)
}

/// The program and its first arguments, enough to tell which step failed.
fn describe(cmd: &Command) -> String {
    let mut parts: Vec<&OsStr> = vec![cmd.get_program()];
    parts.extend(cmd.get_args().take(6));
    let parts: Vec<String> = parts
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    parts.join(" ")
}
