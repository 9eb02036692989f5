//! Applying the environment and libpq's defaults to a [`Config`] (libpq docs 34.15
//! "Environment Variables" and `connectOptions2` in libpq's `fe-connect.c`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kv::{invalid, parse_hostaddrs, parse_ports, parse_timeout};
use super::{
    pgpass, Config, Redacted, SslMode, TargetSessionAttrs, DEFAULT_PORT, DEFAULT_SOCKET_DIRS,
};
use crate::error::{Error, Result};

impl Config {
    /// Applies the `PG*` environment variables, then libpq's defaults.
    ///
    /// `env` looks a variable up; passing it in keeps tests off the process environment. The
    /// password file is read later, by [`Resolved::password_for`].
    pub(crate) fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved> {
        // A variable set to "" counts as unset: it is nearly always an empty shell variable.
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
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
        let password = self
            .password
            .clone()
            .or_else(|| var("PGPASSWORD"))
            .filter(|p| !p.is_empty());
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
        let ssl_mode = match (self.ssl_mode, var("PGSSLMODE")) {
            (Some(mode), _) => mode,
            (None, Some(v)) => v
                .parse()
                .map_err(|_| invalid("sslmode value", &v, Some("PGSSLMODE")))?,
            (None, None) => SslMode::default(),
        };
        let target_session_attrs = match (self.target_session_attrs, var("PGTARGETSESSIONATTRS")) {
            (Some(attrs), _) => attrs,
            (None, Some(v)) => v.parse().map_err(|_| {
                invalid(
                    "target_session_attrs value",
                    &v,
                    Some("PGTARGETSESSIONATTRS"),
                )
            })?,
            (None, None) => TargetSessionAttrs::default(),
        };
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
            password,
            passfile,
            target_session_attrs,
        })
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

/// The OS user name, libpq's default user. libpq asks `getpwuid`; without `unsafe` we trust
/// `USER`/`LOGNAME` and fall back to looking up our uid in `/etc/passwd` (containers often
/// leave `USER` unset).
fn os_user(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env("USER")
        .filter(|u| !u.is_empty())
        .or_else(|| env("LOGNAME").filter(|u| !u.is_empty()))
        .or_else(passwd_user)
}

#[cfg(target_os = "linux")]
fn passwd_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self is owned by the process's effective uid.
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(not(target_os = "linux"))]
fn passwd_user() -> Option<String> {
    None
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
    pub(crate) ssl_mode: SslMode,
    /// From the configuration or `PGPASSWORD`, never empty; the password file is consulted
    /// per target.
    pub(crate) password: Option<String>,
    pub(crate) passfile: Option<PathBuf>,
    pub(crate) target_session_attrs: TargetSessionAttrs,
}

impl Resolved {
    /// The password to use for `target`: the explicit one, else the first matching line of the
    /// password file (read now, so an edited file takes effect on the next attempt).
    pub(crate) fn password_for(&self, target: &Target) -> Option<String> {
        if let Some(password) = &self.password {
            return Some(password.clone());
        }
        pgpass::lookup(self.passfile.as_deref()?, target, &self.dbname, &self.user)
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
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("passfile", &self.passfile)
            .field("target_session_attrs", &self.target_session_attrs)
            .finish()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    /// A fake environment: `PG*` variables and `USER`/`HOME` from a list, nothing else.
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn resolve(config: &str, vars: &[(&str, &str)]) -> Result<Resolved> {
        Config::parse(config).unwrap().resolve(&env(vars))
    }

    fn tcp(name: &str, port: u16) -> Target {
        Target {
            host: Host::Tcp {
                name: name.to_owned(),
                addr: None,
            },
            port,
        }
    }

    const FULL_ENV: &[(&str, &str)] = &[
        ("USER", "osuser"),
        ("HOME", "/home/osuser"),
        ("PGHOST", "envhost"),
        ("PGPORT", "6000"),
        ("PGUSER", "envuser"),
        ("PGPASSWORD", "envpw"),
        ("PGDATABASE", "envdb"),
        ("PGAPPNAME", "envapp"),
        ("PGCONNECT_TIMEOUT", "7"),
        ("PGSSLMODE", "disable"),
        ("PGOPTIONS", "-cenv=1"),
        ("PGPASSFILE", "/env/pgpass"),
        ("PGTARGETSESSIONATTRS", "standby"),
    ];

    #[test]
    fn explicit_values_beat_the_environment() {
        let r = resolve(
            "host=h port=1 user=u password=p dbname=d application_name=a connect_timeout=3 \
             sslmode=require options=-cx=1 passfile=/cfg/pgpass target_session_attrs=primary",
            FULL_ENV,
        )
        .unwrap();
        assert_eq!(r.targets, [tcp("h", 1)]);
        assert_eq!((r.user.as_str(), r.dbname.as_str()), ("u", "d"));
        assert_eq!(r.password.as_deref(), Some("p"));
        assert_eq!(r.application_name.as_deref(), Some("a"));
        assert_eq!(r.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(r.ssl_mode, SslMode::Require);
        assert_eq!(r.options.as_deref(), Some("-cx=1"));
        assert_eq!(r.passfile, Some(PathBuf::from("/cfg/pgpass")));
        assert_eq!(r.target_session_attrs, TargetSessionAttrs::Primary);
    }

    #[test]
    fn environment_fills_what_the_config_leaves_unset() {
        let r = resolve("", FULL_ENV).unwrap();
        assert_eq!(r.targets, [tcp("envhost", 6000)]);
        assert_eq!((r.user.as_str(), r.dbname.as_str()), ("envuser", "envdb"));
        assert_eq!(r.password.as_deref(), Some("envpw"));
        assert_eq!(r.application_name.as_deref(), Some("envapp"));
        assert_eq!(r.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(r.ssl_mode, SslMode::Disable);
        assert_eq!(r.options.as_deref(), Some("-cenv=1"));
        assert_eq!(r.passfile, Some(PathBuf::from("/env/pgpass")));
        assert_eq!(r.target_session_attrs, TargetSessionAttrs::Standby);
    }

    #[test]
    fn defaults_apply_when_neither_config_nor_environment_sets_a_value() {
        let r = resolve(
            "fallback_application_name=fb",
            &[("USER", "osuser"), ("HOME", "/home/o")],
        )
        .unwrap();
        assert_eq!((r.user.as_str(), r.dbname.as_str()), ("osuser", "osuser"));
        assert_eq!(r.password, None);
        assert_eq!(r.application_name.as_deref(), Some("fb"));
        assert_eq!((r.connect_timeout, r.ssl_mode), (None, SslMode::Prefer));
        assert_eq!(r.target_session_attrs, TargetSessionAttrs::Any);
        assert_eq!(r.passfile, Some(PathBuf::from("/home/o/.pgpass")));
        assert_eq!(r.targets.len(), 1);
        assert_eq!(r.targets[0].port, 5432);
        #[cfg(unix)]
        match &r.targets[0].host {
            Host::Unix(dir) => assert!(
                DEFAULT_SOCKET_DIRS.iter().any(|d| dir == Path::new(d)),
                "{dir:?}"
            ),
            other => panic!("expected the default socket directory, got {other:?}"),
        }
        let r = resolve("", &[("LOGNAME", "logname")]).unwrap();
        assert_eq!((r.user.as_str(), r.passfile.as_deref()), ("logname", None));
    }

    #[test]
    fn explicit_empty_values_skip_the_environment_and_take_the_default() {
        let vars = [
            ("USER", "osuser"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGHOST", "envhost"),
        ];
        let r = resolve("user='' dbname='' host=''", &vars).unwrap();
        assert_eq!((r.user.as_str(), r.dbname.as_str()), ("osuser", "osuser"));
        assert!(!matches!(&r.targets[0].host, Host::Tcp { name, .. } if name == "envhost"));
        let r = resolve(
            "application_name=''",
            &[("USER", "u"), ("PGAPPNAME", "env")],
        )
        .unwrap();
        assert_eq!(r.application_name, None);
    }

    #[test]
    fn environment_host_and_port_lists_pair_like_libpq() {
        let r = resolve(
            "",
            &[("USER", "u"), ("PGHOST", "a,/tmp,"), ("PGPORT", "1,2,")],
        )
        .unwrap();
        assert_eq!(r.targets[0], tcp("a", 1));
        assert_eq!(
            r.targets[1],
            Target {
                host: Host::Unix(PathBuf::from("/tmp")),
                port: 2
            }
        );
        assert_eq!(r.targets[2].port, 5432);
        let r = resolve("host=a,b", &[("USER", "u"), ("PGPORT", "7")]).unwrap();
        assert_eq!(r.targets, [tcp("a", 7), tcp("b", 7)]);
        let err = resolve("host=a,b,c", &[("USER", "u"), ("PGPORT", "1,2")]).unwrap_err();
        assert_eq!(err.to_string(), "could not match 2 port numbers to 3 hosts");
    }

    #[test]
    fn hostaddr_pairs_with_hosts_and_names_the_target_when_alone() {
        let r = resolve("host=db,other hostaddr=10.0.0.5,", &[("USER", "u")]).unwrap();
        let addr = "10.0.0.5".parse().ok();
        assert_eq!(
            r.targets[0].host,
            Host::Tcp {
                name: "db".to_owned(),
                addr
            }
        );
        assert_eq!(r.targets[1], tcp("other", 5432));
        let r = resolve("", &[("USER", "u"), ("PGHOSTADDR", "::1")]).unwrap();
        assert_eq!(
            r.targets[0].host,
            Host::Tcp {
                name: "::1".to_owned(),
                addr: "::1".parse().ok()
            }
        );
    }

    #[test]
    fn connect_timeout_zero_means_none_and_still_overrides_the_environment() {
        let r = resolve(
            "connect_timeout=0",
            &[("USER", "u"), ("PGCONNECT_TIMEOUT", "9")],
        )
        .unwrap();
        assert_eq!(r.connect_timeout, None);
        let r = resolve("", &[("USER", "u"), ("PGCONNECT_TIMEOUT", "1")]).unwrap();
        assert_eq!(r.connect_timeout, Some(Duration::from_secs(2)));
    }

    #[test]
    fn invalid_environment_values_name_the_variable() {
        let cases: &[(&str, &str)] = &[
            ("PGPORT", "abc"),
            ("PGSSLMODE", "sometimes"),
            ("PGCONNECT_TIMEOUT", "soon"),
            ("PGTARGETSESSIONATTRS", "master"),
            ("PGHOSTADDR", "db.example"),
        ];
        for &(var, value) in cases {
            let err = resolve("", &[("USER", "u"), (var, value)]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            let message = err.to_string();
            assert!(
                message.contains(var) && message.contains(&format!("{value:?}")),
                "{message}"
            );
        }
    }

    #[test]
    fn abstract_namespace_sockets_are_rejected() {
        let err = resolve("host=@pg", &[("USER", "u")]).unwrap_err();
        assert!(err.to_string().contains("\"@pg\""), "{err}");
    }

    #[test]
    fn empty_environment_variables_count_as_unset() {
        let r = resolve(
            "",
            &[
                ("USER", "u"),
                ("PGPORT", ""),
                ("PGSSLMODE", ""),
                ("PGUSER", ""),
            ],
        )
        .unwrap();
        assert_eq!(
            (r.targets[0].port, r.ssl_mode, r.user.as_str()),
            (5432, SslMode::Prefer, "u")
        );
    }
}
