//! Connection configuration, as libpq accepts it.
//!
//! CONTRACT (being filled in): the connection layer relies on `Config::parse`, the setters and
//! `Config::resolve` / `Resolved` / `Target` / `Host` exactly as declared here.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Only try a non-TLS connection.
    Disable,
    /// First try a non-TLS connection; if that fails, try TLS.
    Allow,
    /// First try TLS; if that fails, try a non-TLS connection (libpq's default).
    #[default]
    Prefer,
    /// Only try TLS, without verifying the certificate.
    Require,
    /// Only try TLS, verifying the certificate chain.
    VerifyCa,
    /// Only try TLS, verifying the chain and the host name.
    VerifyFull,
}

/// Connection settings. Build one with [`Config::parse`] (a URL or a `key=value` string) or
/// [`Config::new`] and the setters.
#[derive(Clone, Default)]
pub struct Config {
    pub(crate) hosts: Vec<String>,
    pub(crate) hostaddrs: Vec<String>,
    pub(crate) ports: Vec<u16>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) dbname: Option<String>,
    pub(crate) application_name: Option<String>,
    pub(crate) options: Option<String>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) ssl_mode: Option<SslMode>,
    pub(crate) passfile: Option<PathBuf>,
}

impl Config {
    /// An empty configuration: everything comes from the environment and libpq's defaults.
    pub fn new() -> Config {
        Config::default()
    }

    /// Parses a `postgres://` / `postgresql://` URL or a libpq `key=value` string.
    pub fn parse(_s: &str) -> Result<Config> {
        Err(Error::config("not yet implemented"))
    }

    /// Applies the `PG*` environment variables, the password file and libpq's defaults.
    pub(crate) fn resolve(&self, _env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved> {
        Err(Error::config("not yet implemented"))
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").finish_non_exhaustive()
    }
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A host name or IP address, with an optional `hostaddr` that skips name resolution.
    Tcp { name: String, addr: Option<std::net::IpAddr> },
    /// A Unix-domain socket directory; the socket is `{dir}/.s.PGSQL.{port}`.
    Unix(PathBuf),
}

/// One host to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: Host,
    pub(crate) port: u16,
}

/// A configuration with the environment and the defaults applied.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub(crate) targets: Vec<Target>,
    pub(crate) user: String,
    pub(crate) dbname: String,
    pub(crate) application_name: Option<String>,
    pub(crate) options: Option<String>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) ssl_mode: SslMode,
    /// From the configuration or `PGPASSWORD`; the password file is consulted per target.
    pub(crate) password: Option<String>,
    pub(crate) passfile: Option<PathBuf>,
}

impl Resolved {
    /// The password to use for `target`: the explicit one, else a matching password-file line.
    pub(crate) fn password_for(&self, _target: &Target) -> Option<String> {
        self.password.clone()
    }
}
