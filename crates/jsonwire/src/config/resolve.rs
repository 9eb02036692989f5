//! Applying the connection service, the environment and libpq's defaults to a [`Config`]
//! (libpq docs 34.15 "Environment Variables" and `conninfo_add_defaults` and
//! `connectOptions2` in libpq's `fe-connect.c`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kv::{parse_hostaddrs, parse_ports, parse_timeout};
use super::pgpass::{self, Lookup};
use super::value::invalid;
use super::{
    service, ChannelBinding, Config, ConnectRetry, GssEncMode, LoadBalanceHosts, PasswordSource,
    ProtocolVersion, Redacted, RequireAuth, SslMode, SslPolicy, TargetSessionAttrs, TlsSettings,
    DEFAULT_PORT, DEFAULT_SOCKET_DIRS,
};
use crate::error::{Error, Result};
use crate::proto::startup::AuthPolicy;

impl Config {
    /// Applies the connection service, the `PG*` environment variables, then libpq's defaults,
    /// in libpq's order of precedence (`conninfo_add_defaults`).
    ///
    /// `env` looks a variable up; passing it in keeps tests off the process environment. The
    /// password file is read later, by [`Resolved::password`].
    pub(crate) fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved> {
        // A variable set to "" counts as unset: it is nearly always an empty shell variable.
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let service = self
            .service
            .clone()
            .or_else(|| var("PGSERVICE"))
            .filter(|s| !s.is_empty());
        let with_service;
        let config = match &service {
            Some(name) => {
                let settings = service::lookup(name, self.servicefile.as_deref(), env)?;
                with_service = self.or_service(settings);
                &with_service
            }
            None => self,
        };
        config.resolve_env(&var, env)
    }

    fn resolve_env(
        &self,
        var: &dyn Fn(&str) -> Option<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Resolved> {
        let hosts = match var("PGHOST") {
            Some(list) if self.hosts.is_empty() => list.split(',').map(String::from).collect(),
            _ => self.hosts.clone(),
        };
        let hostaddrs = match var("PGHOSTADDR") {
            Some(list) if self.hostaddrs.is_empty() => parse_hostaddrs(&list, Some("PGHOSTADDR"))?,
            _ => self.hostaddrs.clone(),
        };
        let ports = match var("PGPORT") {
            Some(list) if self.ports.is_empty() => parse_ports(&list, Some("PGPORT"))?,
            _ => self.ports.clone(),
        };
        let targets = targets(&hosts, &hostaddrs, &ports)?;

        // An explicit empty value skips the environment and takes the default, as in libpq.
        let user = self
            .user
            .clone()
            .or_else(|| var("PGUSER"))
            .filter(|u| !u.is_empty())
            .or_else(|| os_user(env))
            .ok_or_else(|| {
                Error::config(
                    "could not determine the user name to connect as; set `user` or PGUSER",
                )
            })?;
        let dbname = self
            .dbname
            .clone()
            .or_else(|| var("PGDATABASE"))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| user.clone());
        let (password, password_from_env) = match &self.password {
            Some(password) => (Some(password.clone()), false),
            None => (var("PGPASSWORD"), true),
        };
        let password = password.filter(|p| !p.is_empty());
        let application_name = self
            .application_name
            .clone()
            .or_else(|| var("PGAPPNAME"))
            .filter(|a| !a.is_empty())
            .or_else(|| self.fallback_application_name.clone())
            .filter(|a| !a.is_empty());
        let options = self
            .options
            .clone()
            .or_else(|| var("PGOPTIONS"))
            .filter(|o| !o.is_empty());
        let connect_timeout =
            match (self.connect_timeout, var("PGCONNECT_TIMEOUT")) {
                (Some(timeout), _) => Some(timeout),
                (None, Some(v)) => Some(parse_timeout(&v).ok_or_else(|| {
                    invalid("connect_timeout value", &v, Some("PGCONNECT_TIMEOUT"))
                })?),
                (None, None) => None,
            }
            .filter(|t| !t.is_zero());
        let sni = match (self.ssl_sni, var("PGSSLSNI")) {
            (Some(sni), _) => sni,
            (None, Some(v)) => super::tls::parse_sni(&v, Some("PGSSLSNI"))?,
            (None, None) => true,
        };
        let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let tls = TlsSettings::resolve(
            from_env(self.ssl_mode, var, "PGSSLMODE", "sslmode")?,
            self.ssl_root_cert.clone().or_else(|| var("PGSSLROOTCERT")),
            self.ssl_cert.clone().or_else(|| var("PGSSLCERT")),
            self.ssl_key.clone().or_else(|| var("PGSSLKEY")),
            sni,
            from_env(
                self.ssl_negotiation,
                var,
                "PGSSLNEGOTIATION",
                "sslnegotiation",
            )?
            .unwrap_or_default(),
            SslPolicy::resolve(
                &self.ssl,
                var,
                home.as_ref().map(|h| h.join(".postgresql")).as_deref(),
            )?,
            home,
        )?;
        let ssl_mode = tls.configured_mode;
        let target_session_attrs = from_env(
            self.target_session_attrs,
            var,
            "PGTARGETSESSIONATTRS",
            "target_session_attrs",
        )?
        .unwrap_or_default();
        let load_balance_hosts = from_env(
            self.load_balance_hosts,
            var,
            "PGLOADBALANCEHOSTS",
            "load_balance_hosts",
        )?
        .unwrap_or_default();
        let gssencmode = match (self.gssencmode, var("PGGSSENCMODE")) {
            (Some(mode), _) => (mode, None),
            (None, Some(v)) => (
                v.parse()
                    .map_err(|_| invalid("gssencmode value", &v, Some("PGGSSENCMODE")))?,
                Some("PGGSSENCMODE"),
            ),
            (None, None) => (GssEncMode::default(), None),
        };
        if let (GssEncMode::Require, from) = gssencmode {
            return Err(Error::config(format!(
                "gssencmode=require{}: jsonwire has no GSSAPI support, so it cannot make the \
                 GSSAPI-encrypted connection this asks for; use gssencmode=disable (or prefer, \
                 which connects without it) and sslmode for encryption",
                from.map_or(String::new(), |var| format!(" (from {var})"))
            )));
        }
        let requirepeer = self
            .requirepeer
            .clone()
            .or_else(|| var("PGREQUIREPEER"))
            .filter(|r| !r.is_empty());
        let krbsrvname = self
            .krbsrvname
            .clone()
            .or_else(|| var("PGKRBSRVNAME"))
            .filter(|k| !k.is_empty());
        let require_auth = match (&self.require_auth, var("PGREQUIREAUTH")) {
            (Some(r), _) => Some(r.clone()),
            (None, Some(v)) => Some(
                v.parse::<RequireAuth>()
                    .map_err(|_| invalid("require_auth value", &v, Some("PGREQUIREAUTH")))?,
            ),
            (None, None) => None,
        };
        let channel_binding = from_env(
            self.channel_binding,
            var,
            "PGCHANNELBINDING",
            "channel_binding",
        )?
        .unwrap_or_default();
        let min_protocol = from_env(
            self.min_protocol_version,
            var,
            "PGMINPROTOCOLVERSION",
            "min_protocol_version",
        )?
        .unwrap_or_default();
        // libpq 18: 3.0 unless the minimum asks for more.
        let max_protocol = from_env(
            self.max_protocol_version,
            var,
            "PGMAXPROTOCOLVERSION",
            "max_protocol_version",
        )?
        .unwrap_or(min_protocol.max(ProtocolVersion::V3_0));
        if min_protocol > max_protocol {
            return Err(Error::config(format!(
                "min_protocol_version {} is above max_protocol_version {}",
                min_protocol.as_str(),
                max_protocol.as_str()
            )));
        }
        let passfile = self
            .passfile
            .clone()
            .or_else(|| var("PGPASSFILE").map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty())
            .or_else(|| default_passfile(env));

        Ok(Resolved {
            targets,
            user,
            dbname,
            application_name,
            options,
            connect_timeout,
            ssl_mode,
            tls,
            password,
            password_from_env,
            passfile,
            target_session_attrs,
            load_balance_hosts,
            requirepeer,
            gssencmode: gssencmode.0,
            krbsrvname,
            require_auth,
            channel_binding,
            min_protocol,
            max_protocol,
            connect_retry: self.connect_retry.is_on().then_some(self.connect_retry),
        })
    }
}

/// An explicit value, else the environment variable `name` parsed as libpq keyword `key`.
fn from_env<T: std::str::FromStr>(
    explicit: Option<T>,
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
    key: &str,
) -> Result<Option<T>> {
    match (explicit, var(name)) {
        (Some(v), _) => Ok(Some(v)),
        (None, Some(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| invalid(&format!("{key} value"), &v, Some(name))),
        (None, None) => Ok(None),
    }
}

#[cfg(unix)]
fn default_host() -> Host {
    let dir = DEFAULT_SOCKET_DIRS
        .iter()
        .find(|d| Path::new(d).is_dir())
        .unwrap_or(&DEFAULT_SOCKET_DIRS[1]);
    Host::Unix(PathBuf::from(dir))
}

#[cfg(not(unix))]
fn default_host() -> Host {
    Host::Tcp {
        name: "localhost".to_owned(),
        addr: None,
    }
}

/// Pairs hosts, hostaddrs and ports the way libpq's `connectOptions2` does.
fn targets(hosts: &[String], hostaddrs: &[String], ports: &[u16]) -> Result<Vec<Target>> {
    let count = if hostaddrs.is_empty() {
        hosts.len().max(1)
    } else if hosts.is_empty() || hosts.len() == hostaddrs.len() {
        hostaddrs.len()
    } else {
        return Err(Error::config(format!(
            "could not match {} host names to {} hostaddr values",
            hosts.len(),
            hostaddrs.len()
        )));
    };
    if ports.len() > 1 && ports.len() != count {
        return Err(Error::config(format!(
            "could not match {} port numbers to {count} hosts",
            ports.len()
        )));
    }
    (0..count)
        .map(|i| {
            let name = hosts.get(i).map_or("", String::as_str);
            let addr = hostaddrs.get(i).map_or("", String::as_str);
            let port = match ports {
                [] => DEFAULT_PORT,
                [port] => *port,
                ports => ports[i],
            };
            let host = if !addr.is_empty() {
                let ip = addr
                    .parse()
                    .map_err(|_| invalid("hostaddr value", addr, None))?;
                let name = if name.is_empty() { addr } else { name };
                Host::Tcp {
                    name: name.to_owned(),
                    addr: Some(ip),
                }
            } else if name.is_empty() {
                default_host()
            } else if name.starts_with('/') {
                Host::Unix(PathBuf::from(name))
            } else if name.starts_with('@') {
                return Err(Error::config(format!(
                    "host {name:?}: abstract-namespace Unix sockets are not supported"
                )));
            } else {
                Host::Tcp {
                    name: name.to_owned(),
                    addr: None,
                }
            };
            Ok(Target { host, port })
        })
        .collect()
}

/// The OS user name, libpq's default user. libpq asks `getpwuid(geteuid())`; we trust
/// `USER`/`LOGNAME` first (so tests can set them) and then ask the same.
fn os_user(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env("USER")
        .filter(|u| !u.is_empty())
        .or_else(|| env("LOGNAME").filter(|u| !u.is_empty()))
        .or_else(effective_user)
}

#[cfg(unix)]
fn effective_user() -> Option<String> {
    user_name(nix::unistd::geteuid().as_raw())
}

#[cfg(not(unix))]
fn effective_user() -> Option<String> {
    None
}

/// The name of the user with id `uid`, from the system's user database (NSS included).
#[cfg(unix)]
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
    Some(user.name).filter(|name| !name.is_empty())
}

#[cfg(not(windows))]
fn default_passfile(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| Path::new(&home).join(".pgpass"))
}

#[cfg(windows)]
fn default_passfile(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("APPDATA")
        .filter(|a| !a.is_empty())
        .map(|appdata| Path::new(&appdata).join("postgresql").join("pgpass.conf"))
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A host name or IP address, with an optional `hostaddr` that skips name resolution.
    /// `name` is still the name to verify a certificate against and to look up in the password
    /// file; it is the address text when only `hostaddr` was given.
    Tcp { name: String, addr: Option<IpAddr> },
    /// A Unix-domain socket directory; the socket is `{dir}/.s.PGSQL.{port}`.
    Unix(PathBuf),
}

/// One host to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: Host,
    pub(crate) port: u16,
}

/// `host:port`, `[v6addr]:port` or the socket's path, as messages name a target.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Tcp { name, .. } if name.contains(':') => write!(f, "[{name}]:{}", self.port),
            Host::Tcp { name, .. } => write!(f, "{name}:{}", self.port),
            Host::Unix(dir) => write!(f, "{}/.s.PGSQL.{}", dir.display(), self.port),
        }
    }
}

/// A configuration with the environment and the defaults applied.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub(crate) targets: Vec<Target>,
    pub(crate) user: String,
    pub(crate) dbname: String,
    pub(crate) application_name: Option<String>,
    pub(crate) options: Option<String>,
    /// `None` means no timeout.
    pub(crate) connect_timeout: Option<Duration>,
    /// As configured (`tls.mode` is what it amounts to).
    pub(crate) ssl_mode: SslMode,
    pub(crate) tls: TlsSettings,
    /// From the configuration or `PGPASSWORD`, never empty; the password file is consulted
    /// per target.
    pub(crate) password: Option<String>,
    /// Whether `password` came from `PGPASSWORD`.
    pub(crate) password_from_env: bool,
    pub(crate) passfile: Option<PathBuf>,
    pub(crate) target_session_attrs: TargetSessionAttrs,
    pub(crate) load_balance_hosts: LoadBalanceHosts,
    pub(crate) requirepeer: Option<String>,
    /// Never `Require`: that is refused when resolving.
    pub(crate) gssencmode: GssEncMode,
    /// Accepted and shown, never used.
    pub(crate) krbsrvname: Option<String>,
    /// `None`: every method allowed.
    pub(crate) require_auth: Option<RequireAuth>,
    pub(crate) channel_binding: ChannelBinding,
    pub(crate) min_protocol: ProtocolVersion,
    pub(crate) max_protocol: ProtocolVersion,
    /// `None`: no retry.
    pub(crate) connect_retry: Option<ConnectRetry>,
}

impl Resolved {
    /// What `require_auth` allows, as the startup machine checks it.
    pub(crate) fn auth_policy(&self) -> AuthPolicy {
        self.require_auth
            .as_ref()
            .map_or_else(AuthPolicy::any, RequireAuth::policy)
    }

    /// The password to use for `target`: the explicit one, else the first matching line of the
    /// password file (read now, so an edited file takes effect on the next attempt).
    pub(crate) fn password_for(&self, target: &Target) -> Option<String> {
        self.password(target).0
    }

    /// The password for `target` and where it came from (or why there is none).
    pub(crate) fn password(&self, target: &Target) -> (Option<String>, PasswordSource) {
        if let Some(password) = &self.password {
            let source = if self.password_from_env {
                PasswordSource::Environment
            } else {
                PasswordSource::Config
            };
            return (Some(password.clone()), source);
        }
        let Some(path) = self.passfile.as_deref() else {
            return (None, PasswordSource::None);
        };
        match pgpass::lookup(path, target, &self.dbname, &self.user) {
            Lookup::Found(password) => (Some(password), PasswordSource::PasswordFile(path.into())),
            Lookup::NoMatch => (None, PasswordSource::None),
            Lookup::Ignored(reason) => (
                None,
                PasswordSource::PasswordFileIgnored {
                    path: path.into(),
                    reason,
                },
            ),
        }
    }
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("targets", &self.targets)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("ssl_mode", &self.ssl_mode)
            .field("tls", &self.tls)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("passfile", &self.passfile)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("load_balance_hosts", &self.load_balance_hosts)
            .field("requirepeer", &self.requirepeer)
            .field("gssencmode", &self.gssencmode)
            .field("krbsrvname", &self.krbsrvname)
            .field("require_auth", &self.require_auth)
            .field("channel_binding", &self.channel_binding)
            .field("min_protocol", &self.min_protocol)
            .field("max_protocol", &self.max_protocol)
            .field("connect_retry", &self.connect_retry)
            .finish()
    }
}
#[cfg(test)]
mod tests;
