//! Connection configuration, as libpq accepts it.
//!
//! [`Config`] holds what the caller set: a URL, a `key=value` string or the setters.
//! `Config::resolve` fills the gaps from the `PG*` environment variables and libpq's defaults
//! (libpq docs 34.1 "Database Connection Control Functions" and 34.15 "Environment Variables").

mod attrs;
mod auth;
mod duration;
mod effective;
mod kv;
mod pgpass;
mod resolve;
mod retry;
mod service;
mod ssl_keys;
mod tls;
mod tuning;
mod url;
mod value;

pub use attrs::{GssEncMode, LoadBalanceHosts, TargetSessionAttrs};
pub use effective::{EffectiveConfig, PasswordSource};
#[cfg(unix)]
pub(crate) use resolve::user_name;
pub(crate) use resolve::{Host, Resolved, Target};
pub use retry::ConnectRetry;
pub(crate) use tuning::Tuning;

pub use crate::proto::startup::{AuthMethod, ProtocolVersion};
pub use auth::{ChannelBinding, RequireAuth};
pub use ssl_keys::{SslCertMode, TlsVersion};
pub(crate) use ssl_keys::{SslKeys, SslPolicy};
pub use tls::SslNegotiation;
pub(crate) use tls::{RootCerts, TlsSettings};

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

use value::invalid;

/// libpq's `sslmode`: whether TLS is used and what is verified.
///
/// As in libpq, TLS is never used on a Unix-domain socket, whatever the mode; a root
/// certificate file (`sslrootcert`, default `~/.postgresql/root.crt`) makes every mode that
/// uses TLS verify the certificate chain; and `prefer`/`allow` try the other encryption on a
/// new connection when the first attempt's TLS handshake fails or the server rejects it before
/// authentication completes (a `hostssl`/`hostnossl` line, a wrong password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// Only try a non-TLS connection.
    Disable,
    /// First try a non-TLS connection; if the server rejects it, try TLS.
    Allow,
    /// First try TLS (plaintext on the same connection if the server refuses TLS); if the
    /// handshake fails or the server rejects the connection, try without TLS (libpq's
    /// default). Protects against eavesdropping only when the server insists on TLS.
    #[default]
    Prefer,
    /// Only TLS. Without a root certificate file the server's certificate is not checked, so
    /// this protects against eavesdropping but not against a man in the middle; with one it
    /// behaves as `VerifyCa`.
    Require,
    /// Only TLS, and the certificate chain must lead to a root certificate in `sslrootcert`.
    VerifyCa,
    /// Only TLS, the chain verified and the certificate issued for the host name (or IP
    /// address) connected to: the only mode that stops a man in the middle.
    VerifyFull,
}

impl SslMode {
    /// The libpq keyword value (`"verify-full"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for SslMode {
    type Err = Error;

    /// Parses a libpq `sslmode` value.
    ///
    /// # Errors
    ///
    /// A config error naming the value when it is not one of libpq's six modes.
    fn from_str(s: &str) -> Result<SslMode> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return Err(invalid("sslmode value", s, None)),
        })
    }
}

/// Connection settings. Build one with [`Config::parse`] (a URL or a `key=value` string) or
/// [`Config::new`] and the setters.
///
/// Anything left unset comes from the `PG*` environment variables, then from libpq's defaults,
/// when connecting. `Debug` and `Display` never show the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Empty entries stand for the default host, as in libpq's `host=,other`.
    pub(crate) hosts: Vec<String>,
    /// Validated IP addresses, or empty entries for hosts that need name resolution.
    pub(crate) hostaddrs: Vec<String>,
    pub(crate) ports: Vec<u16>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) dbname: Option<String>,
    pub(crate) application_name: Option<String>,
    pub(crate) fallback_application_name: Option<String>,
    pub(crate) options: Option<String>,
    /// Zero means "no timeout" and, being set, still overrides `PGCONNECT_TIMEOUT`.
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) ssl_mode: Option<SslMode>,
    pub(crate) passfile: Option<PathBuf>,
    pub(crate) target_session_attrs: Option<TargetSessionAttrs>,
    pub(crate) load_balance_hosts: Option<LoadBalanceHosts>,
    pub(crate) service: Option<String>,
    pub(crate) servicefile: Option<PathBuf>,
    pub(crate) requirepeer: Option<String>,
    pub(crate) gssencmode: Option<GssEncMode>,
    pub(crate) krbsrvname: Option<String>,
    pub(crate) ssl_root_cert: Option<String>,
    pub(crate) ssl_cert: Option<String>,
    pub(crate) ssl_key: Option<String>,
    pub(crate) ssl_sni: Option<bool>,
    pub(crate) ssl_negotiation: Option<SslNegotiation>,
    pub(crate) require_auth: Option<RequireAuth>,
    pub(crate) channel_binding: Option<ChannelBinding>,
    pub(crate) min_protocol_version: Option<ProtocolVersion>,
    pub(crate) max_protocol_version: Option<ProtocolVersion>,
    /// `sslcertmode`, `sslcrl`, `sslcrldir`, `sslpassword` and the TLS version bounds.
    pub(crate) ssl: SslKeys,
    /// Not a libpq setting: off (a zero budget) unless set.
    pub(crate) connect_retry: ConnectRetry,
    /// jsonwire's own settings, which have no libpq spelling.
    pub(crate) tuning: Tuning,
}

impl Config {
    /// An empty configuration: everything comes from the environment and libpq's defaults.
    pub fn new() -> Config {
        Config::default()
    }

    /// Parses a `postgres://` / `postgresql://` URL or a libpq `key=value` string.
    ///
    /// Both forms accept libpq's keywords: `host`, `hostaddr`, `port`, `user`, `password`,
    /// `dbname`, `application_name`, `fallback_application_name`, `options`,
    /// `connect_timeout`, `sslmode`, `passfile`, `target_session_attrs`,
    /// `load_balance_hosts`, `service`, `servicefile`, `requirepeer`, `gssencmode`,
    /// `krbsrvname`, `keepalives`, `keepalives_idle`, `keepalives_interval`,
    /// `keepalives_count`, `tcp_user_timeout`, `sslrootcert`, `sslcert`, `sslkey`, `sslsni`,
    /// `sslnegotiation`, `sslcertmode`, `sslcrl`, `sslcrldir`, `sslpassword`,
    /// `ssl_min_protocol_version`, `ssl_max_protocol_version`, `require_auth`, `channel_binding`,
    /// `min_protocol_version`, `max_protocol_version` and `client_encoding` (which must be
    /// `UTF8`).
    /// `host`, `hostaddr` and `port` take comma-separated lists; a host starting with `/` is a
    /// Unix socket directory.
    ///
    /// As in libpq 17, spaces around each part of a URL are ignored
    /// (`postgresql://host?  user = u & port  = 12345 `), and a space inside one is an error
    /// (write `%20`). A URL that lists several hosts without ports sets the default port for
    /// each, so `PGPORT` does not apply to it, as in libpq.
    ///
    /// jsonwire's own settings have keys too, named after their setters: `read_buffer_size`,
    /// `max_message_size`, `max_parameters`, `drain_max_bytes`, `drain_timeout`,
    /// `query_timeout`, `cancel_timeout`, `binary_results` and `read_pacing`. Their durations
    /// are a whole number with an optional unit (`ns`, `us`, `ms`, `s`, `min`, `h`, `d`),
    /// milliseconds when bare, as Postgres writes its own settings; `connect_timeout` and the keepalive keys take a unit
    /// too, and count as libpq does when bare (seconds; `tcp_user_timeout` milliseconds).
    ///
    /// # Errors
    ///
    /// A config error ([`ErrorKind::Config`](crate::ErrorKind::Config)) for an unknown keyword,
    /// an invalid value (the message names both, but never shows a password), a malformed URL
    /// or quoted string, or a port list that does not match the host list.
    ///
    /// # Examples
    ///
    /// ```
    /// use jsonwire::Config;
    ///
    /// let url: Config = "postgresql://app@db1:5433,db2:5433/orders?sslmode=require".parse()?;
    /// assert_eq!(url.get_hosts(), ["db1", "db2"]);
    /// assert_eq!(url.get_ports(), [5433, 5433]);
    ///
    /// let kv = Config::parse("host=/var/run/postgresql dbname='my db' connect_timeout=10")?;
    /// assert_eq!(kv.get_dbname(), Some("my db"));
    /// # Ok::<(), jsonwire::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Config> {
        let config = match url::strip_scheme(s) {
            Some(rest) => url::parse(rest)?,
            None => kv::parse(s)?,
        };
        config.check_counts()?;
        Ok(config)
    }

    /// Checks libpq's list rules on the lists given explicitly; lists from the environment are
    /// checked again by `resolve`.
    fn check_counts(&self) -> Result<()> {
        let hosts = if self.hostaddrs.is_empty() {
            self.hosts.len()
        } else {
            if !self.hosts.is_empty() && self.hosts.len() != self.hostaddrs.len() {
                return Err(Error::config(format!(
                    "could not match {} host names to {} hostaddr values",
                    self.hosts.len(),
                    self.hostaddrs.len()
                )));
            }
            self.hostaddrs.len()
        };
        if hosts > 0 && self.ports.len() > 1 && self.ports.len() != hosts {
            return Err(Error::config(format!(
                "could not match {} port numbers to {} hosts",
                self.ports.len(),
                hosts
            )));
        }
        Ok(())
    }

    /// Adds a host to try, in order: a name, an IP address, or a Unix socket directory (a path
    /// starting with `/`). An empty string stands for the default host. A comma separates
    /// hosts, as in libpq's `host` list: `host("a,b")` adds two.
    pub fn host(&mut self, host: &str) -> &mut Self {
        self.hosts.extend(host.split(',').map(String::from));
        self
    }

    /// Adds an IP address that skips name resolution for the host at the same position (or,
    /// without hosts, is the host).
    pub fn hostaddr(&mut self, addr: IpAddr) -> &mut Self {
        self.hostaddrs.push(addr.to_string());
        self
    }

    /// Adds a port: give one for all hosts, or one per host. Zero stands for the default
    /// port (5432), as an empty entry of libpq's port list does.
    pub fn port(&mut self, port: u16) -> &mut Self {
        self.ports.push(if port == 0 { DEFAULT_PORT } else { port });
        self
    }

    /// Sets the user name to connect as.
    pub fn user(&mut self, user: &str) -> &mut Self {
        self.user = Some(user.to_owned());
        self
    }

    /// Sets the password; `Debug` and `Display` never show it.
    pub fn password(&mut self, password: &str) -> &mut Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Sets the database name (libpq's default is the user name).
    pub fn dbname(&mut self, dbname: &str) -> &mut Self {
        self.dbname = Some(dbname.to_owned());
        self
    }

    /// Sets the `application_name` reported to the server.
    pub fn application_name(&mut self, name: &str) -> &mut Self {
        self.application_name = Some(name.to_owned());
        self
    }

    /// Sets the application name used when neither `application_name` nor `PGAPPNAME` is set.
    pub fn fallback_application_name(&mut self, name: &str) -> &mut Self {
        self.fallback_application_name = Some(name.to_owned());
        self
    }

    /// Sets command-line options sent to the server at startup (for example `-c geqo=off`).
    pub fn options(&mut self, options: &str) -> &mut Self {
        self.options = Some(options.to_owned());
        self
    }

    /// Sets the time allowed for each connection attempt; zero means no timeout.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets whether and how TLS is used.
    pub fn ssl_mode(&mut self, mode: SslMode) -> &mut Self {
        self.ssl_mode = Some(mode);
        self
    }

    /// Sets the password file to use instead of `PGPASSFILE` or `~/.pgpass`.
    pub fn passfile(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.passfile = Some(path.as_ref().to_owned());
        self
    }

    /// Sets which kind of server is acceptable.
    pub fn target_session_attrs(&mut self, attrs: TargetSessionAttrs) -> &mut Self {
        self.target_session_attrs = Some(attrs);
        self
    }

    /// Sets the order in which hosts are tried.
    pub fn load_balance_hosts(&mut self, order: LoadBalanceHosts) -> &mut Self {
        self.load_balance_hosts = Some(order);
        self
    }

    /// Names a service in the connection service file (`~/.pg_service.conf`, `PGSERVICEFILE`,
    /// `pg_service.conf` in `PGSYSCONFDIR`) whose settings fill in what this configuration
    /// leaves unset, before the environment does.
    pub fn service(&mut self, name: &str) -> &mut Self {
        self.service = Some(name.to_owned());
        self
    }

    /// Sets the connection service file to use instead of `PGSERVICEFILE` or
    /// `~/.pg_service.conf` (libpq 18's `servicefile`).
    pub fn servicefile(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.servicefile = Some(path.as_ref().to_owned());
        self
    }

    /// Requires that a server reached over a Unix socket runs as the operating-system user
    /// `user` (checked with the socket's peer credentials); ignored for TCP.
    pub fn requirepeer(&mut self, user: &str) -> &mut Self {
        self.requirepeer = Some(user.to_owned());
        self
    }

    /// Sets `gssencmode`; jsonwire has no GSSAPI support, so `require` fails when connecting
    /// and the others connect without GSSAPI encryption.
    pub fn gssencmode(&mut self, mode: GssEncMode) -> &mut Self {
        self.gssencmode = Some(mode);
        self
    }

    /// Sets the Kerberos service name, accepted for compatibility: jsonwire does not
    /// authenticate with Kerberos or GSSAPI.
    pub fn krbsrvname(&mut self, name: &str) -> &mut Self {
        self.krbsrvname = Some(name.to_owned());
        self
    }

    /// Retries connecting on transient failures; see [`ConnectRetry`]. Off by default.
    pub fn connect_retry(&mut self, retry: ConnectRetry) -> &mut Self {
        self.connect_retry = retry;
        self
    }

    /// The hosts set, in order; empty entries stand for the default host.
    pub fn get_hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The `hostaddr` values set, in order; empty entries mean "resolve the host name".
    pub fn get_hostaddrs(&self) -> &[String] {
        &self.hostaddrs
    }

    /// The ports set, in order.
    pub fn get_ports(&self) -> &[u16] {
        &self.ports
    }

    /// The user name, if set.
    pub fn get_user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, if set.
    pub fn get_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The database name, if set.
    pub fn get_dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The application name, if set.
    pub fn get_application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }

    /// The fallback application name, if set.
    pub fn get_fallback_application_name(&self) -> Option<&str> {
        self.fallback_application_name.as_deref()
    }

    /// The server command-line options, if set.
    pub fn get_options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// The connect timeout, if set; zero means no timeout. A parsed `connect_timeout=1` reads
    /// as two seconds, as in libpq.
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The TLS mode, if set.
    pub fn get_ssl_mode(&self) -> Option<SslMode> {
        self.ssl_mode
    }

    /// The password file, if set.
    pub fn get_passfile(&self) -> Option<&Path> {
        self.passfile.as_deref()
    }

    /// The acceptable kind of server, if set.
    pub fn get_target_session_attrs(&self) -> Option<TargetSessionAttrs> {
        self.target_session_attrs
    }

    /// The order in which hosts are tried, if set.
    pub fn get_load_balance_hosts(&self) -> Option<LoadBalanceHosts> {
        self.load_balance_hosts
    }

    /// The connection service name, if set.
    pub fn get_service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// The connection service file, if set.
    pub fn get_servicefile(&self) -> Option<&Path> {
        self.servicefile.as_deref()
    }

    /// The operating-system user a Unix-socket server must run as, if set.
    pub fn get_requirepeer(&self) -> Option<&str> {
        self.requirepeer.as_deref()
    }

    /// The GSSAPI encryption mode, if set.
    pub fn get_gssencmode(&self) -> Option<GssEncMode> {
        self.gssencmode
    }

    /// The Kerberos service name, if set.
    pub fn get_krbsrvname(&self) -> Option<&str> {
        self.krbsrvname.as_deref()
    }

    /// The connect retry policy, if retrying is on.
    pub fn get_connect_retry(&self) -> Option<&ConnectRetry> {
        self.connect_retry.is_on().then_some(&self.connect_retry)
    }
}

impl FromStr for Config {
    type Err = Error;

    /// Same as [`Config::parse`].
    ///
    /// # Errors
    ///
    /// See [`Config::parse`].
    fn from_str(s: &str) -> Result<Config> {
        Config::parse(s)
    }
}

/// Stands in for a password in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("hosts", &self.hosts)
            .field("hostaddrs", &self.hostaddrs)
            .field("ports", &self.ports)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("fallback_application_name", &self.fallback_application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("ssl_mode", &self.ssl_mode)
            .field("passfile", &self.passfile)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("load_balance_hosts", &self.load_balance_hosts)
            .field("service", &self.service)
            .field("servicefile", &self.servicefile)
            .field("requirepeer", &self.requirepeer)
            .field("gssencmode", &self.gssencmode)
            .field("krbsrvname", &self.krbsrvname)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("ssl_cert", &self.ssl_cert)
            .field("ssl_key", &self.ssl_key)
            .field("ssl_sni", &self.ssl_sni)
            .field("ssl_negotiation", &self.ssl_negotiation)
            .field("require_auth", &self.require_auth)
            .field("channel_binding", &self.channel_binding)
            .field("min_protocol_version", &self.min_protocol_version)
            .field("max_protocol_version", &self.max_protocol_version)
            .field("ssl", &self.ssl)
            .field("connect_retry", &self.connect_retry)
            .field("tuning", &self.tuning)
            .finish()
    }
}

/// libpq's default socket directories in the order we look for them: Debian's libpq is built
/// with `/var/run/postgresql`, upstream's with `/tmp`.
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// The port libpq uses when none is given.
pub(crate) const DEFAULT_PORT: u16 = 5432;
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_build_the_same_config_as_parse() {
        let mut built = Config::new();
        built
            .host("a")
            .host("/tmp")
            .hostaddr("127.0.0.1".parse().unwrap())
            .hostaddr("::1".parse().unwrap())
            .port(1)
            .user("u")
            .password("p")
            .dbname("d")
            .application_name("app")
            .fallback_application_name("fb")
            .options("-cx=1")
            .connect_timeout(Duration::from_secs(5))
            .ssl_mode(SslMode::VerifyFull)
            .passfile("/pp")
            .target_session_attrs(TargetSessionAttrs::ReadWrite)
            .load_balance_hosts(LoadBalanceHosts::Random)
            .service("svc")
            .servicefile("/sf")
            .requirepeer("pg")
            .gssencmode(GssEncMode::Disable)
            .krbsrvname("k");
        let parsed = Config::parse(
            "host=a,/tmp hostaddr=127.0.0.1,::1 port=1 user=u password=p dbname=d application_name=app \
             fallback_application_name=fb options=-cx=1 connect_timeout=5 sslmode=verify-full passfile=/pp \
             target_session_attrs=read-write load_balance_hosts=random service=svc servicefile=/sf \
             requirepeer=pg gssencmode=disable krbsrvname=k",
        )
        .unwrap();
        assert_eq!(built, parsed);
    }

    #[test]
    fn debug_never_prints_the_password() {
        let config = Config::parse("postgresql://u:hunter2@h/d").unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(r#"password: Some("<redacted>")"#), "{shown}");
        assert!(shown.contains(r#"user: Some("u")"#), "{shown}");
        let resolved = config
            .resolve(&|name| (name == "USER").then(|| "u".to_owned()))
            .unwrap();
        let shown = format!("{resolved:?} {resolved:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(format!("{:?}", Config::new()).contains("password: None"));
    }
}
