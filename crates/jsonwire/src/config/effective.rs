//! The configuration a connection would use, after the service file, the environment, the
//! password file and the defaults: what a user looks at when a connection goes somewhere
//! unexpected.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::{Config, Host, Resolved, RootCerts, SslKeys};
use crate::error::Result;

/// Where the password for one host comes from, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordSource {
    /// Set in the configuration: the connection string, a setter or the service file.
    Config,
    /// The `PGPASSWORD` environment variable.
    Environment,
    /// The first matching line of this password file.
    PasswordFile(PathBuf),
    /// None: the password file exists but was ignored, as libpq ignores it.
    PasswordFileIgnored {
        /// The password file.
        path: PathBuf,
        /// Why it was ignored, such as "it has group or world access (mode 0644); …".
        reason: String,
    },
    /// None: no password was set and the password file (if any) has no matching line.
    None,
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Config => f.write_str("set in the configuration"),
            PasswordSource::Environment => f.write_str("from PGPASSWORD"),
            PasswordSource::PasswordFile(path) => {
                write!(f, "from the password file {}", path.display())
            }
            PasswordSource::PasswordFileIgnored { path, reason } => write!(
                f,
                "none: the password file {} was ignored because {reason}",
                path.display()
            ),
            PasswordSource::None => f.write_str("none"),
        }
    }
}

/// A configuration as [`Client::connect`](crate::Client::connect) would use it: made by
/// [`Config::effective`].
///
/// `Display` shows every setting as a `key=value` string (the password redacted) followed by
/// where each host's password comes from:
///
/// ```text
/// host=db1,db2 port=5432,5432 user=app dbname=shop connect_timeout=0 sslmode=prefer
/// passfile=/home/app/.pgpass target_session_attrs=any load_balance_hosts=disable
/// gssencmode=disable sslrootcert=/home/app/.postgresql/root.crt sslsni=1
/// sslnegotiation=postgres channel_binding=prefer min_protocol_version=3.0
/// max_protocol_version=3.0 sslcertmode=allow ssl_min_protocol_version=TLSv1.2
/// (password: db1:5432 from the password file /home/app/.pgpass; db2:5432 none)
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EffectiveConfig {
    config: Config,
    hosts: Vec<String>,
    passwords: Vec<PasswordSource>,
}

impl EffectiveConfig {
    /// Every setting made explicit: one host and one port per host tried (the default Unix
    /// socket directory included), the user and database names, `sslmode`,
    /// `target_session_attrs`, `load_balance_hosts`, `gssencmode`, `connect_timeout`
    /// (`0` for none) and the password file; the TLS files the connection would read
    /// (`sslrootcert`, or `system`; `sslcert` and `sslkey`, the defaults under
    /// `~/.postgresql` only when they exist), `sslsni`, `sslnegotiation`, `channel_binding`,
    /// `require_auth` (when set: unset allows every method), the protocol versions,
    /// `sslcertmode`, the revocation lists (`sslcrl`, `sslcrldir`) and the TLS version bounds;
    /// the service, if any, applied. The password is
    /// set only when it comes from the configuration or `PGPASSWORD`: the password file is
    /// read per host, see [`EffectiveConfig::password_sources`].
    ///
    /// Connecting with this configuration in an empty environment reaches the same servers
    /// the same way.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the password for each host comes from, in the order of the hosts.
    pub fn password_sources(&self) -> &[PasswordSource] {
        &self.passwords
    }
}

impl fmt::Display for EffectiveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (password: ", self.config)?;
        match self.passwords.first() {
            Some(first @ (PasswordSource::Config | PasswordSource::Environment)) => {
                write!(f, "{first}")?;
            }
            _ => {
                for (i, (host, source)) in self.hosts.iter().zip(&self.passwords).enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{host} {source}")?;
                }
            }
        }
        f.write_str(")")
    }
}

impl fmt::Debug for EffectiveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EffectiveConfig")
            .field("config", &self.config)
            .field("password_sources", &self.passwords)
            .finish()
    }
}

impl Config {
    /// This configuration after the connection service, the `PG*` environment variables, the
    /// password file and libpq's defaults, as connecting would use it; the password redacted
    /// when displayed. See [`EffectiveConfig`].
    ///
    /// # Errors
    ///
    /// What connecting would report before opening a socket: an invalid environment variable
    /// (named in the message), a service that is not defined or a service file with a bad
    /// line, host and port lists that do not pair up, `gssencmode=require`, or no user name.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = jsonwire::Config::parse("host=db1,db2 user=app password=secret")?;
    /// let effective = config.effective()?;
    /// assert_eq!(effective.config().get_ports(), [5432, 5432]);
    /// assert!(!effective.to_string().contains("secret"));
    /// # Ok::<(), jsonwire::Error>(())
    /// ```
    pub fn effective(&self) -> Result<EffectiveConfig> {
        let resolved = self.resolve(&|key| std::env::var(key).ok())?;
        let mut effective = EffectiveConfig::from_resolved(&resolved);
        effective.config.tuning = self.tuning.clone();
        Ok(effective)
    }
}

impl EffectiveConfig {
    pub(crate) fn from_resolved(r: &Resolved) -> EffectiveConfig {
        let mut config = Config::new();
        let mut hostaddrs = Vec::new();
        for target in &r.targets {
            match &target.host {
                Host::Tcp { name, addr } => {
                    config.hosts.push(name.clone());
                    hostaddrs.push(addr.map_or(String::new(), |a| a.to_string()));
                }
                Host::Unix(dir) => {
                    config.hosts.push(dir.to_string_lossy().into_owned());
                    hostaddrs.push(String::new());
                }
            }
            config.ports.push(target.port);
        }
        if hostaddrs.iter().any(|a| !a.is_empty()) {
            config.hostaddrs = hostaddrs;
        }
        config.user = Some(r.user.clone());
        config.dbname = Some(r.dbname.clone());
        config.password.clone_from(&r.password);
        config.application_name.clone_from(&r.application_name);
        config.options.clone_from(&r.options);
        config.connect_timeout = Some(r.connect_timeout.unwrap_or(Duration::ZERO));
        config.ssl_mode = Some(r.ssl_mode);
        config.passfile.clone_from(&r.passfile);
        config.target_session_attrs = Some(r.target_session_attrs);
        config.load_balance_hosts = Some(r.load_balance_hosts);
        config.requirepeer.clone_from(&r.requirepeer);
        config.gssencmode = Some(r.gssencmode);
        config.krbsrvname.clone_from(&r.krbsrvname);
        config.ssl_root_cert = match &r.tls.roots {
            RootCerts::None => None,
            RootCerts::File(path) => Some(path.to_string_lossy().into_owned()),
            RootCerts::System => Some("system".to_owned()),
        };
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        config.ssl_cert = path(&r.tls.cert);
        config.ssl_key = path(&r.tls.key);
        config.ssl_sni = Some(r.tls.sni);
        config.ssl_negotiation = Some(r.tls.negotiation);
        let policy = &r.tls.policy;
        config.ssl = SslKeys {
            cert_mode: Some(policy.cert_mode),
            crl: path(&policy.crl),
            crl_dir: path(&policy.crl_dir),
            password: policy.password.clone(),
            min_version: Some(policy.min_version),
            max_version: policy.max_version.map(Some),
        };
        config.require_auth.clone_from(&r.require_auth);
        config.channel_binding = Some(r.channel_binding);
        config.min_protocol_version = Some(r.min_protocol);
        config.max_protocol_version = Some(r.max_protocol);
        config.connect_retry = r.connect_retry.unwrap_or_default();
        let hosts = r.targets.iter().map(ToString::to_string).collect();
        let passwords = r.targets.iter().map(|t| r.password(t).1).collect();
        EffectiveConfig {
            config,
            hosts,
            passwords,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effective(config: &str, vars: &[(&str, &str)]) -> EffectiveConfig {
        let resolved = Config::parse(config)
            .unwrap()
            .resolve(&|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap();
        EffectiveConfig::from_resolved(&resolved)
    }

    #[test]
    fn every_setting_is_explicit_and_the_password_is_redacted() {
        let e = effective(
            "host=db1,db2 hostaddr=10.0.0.1, user=app dbname=shop password=hunter2",
            &[("PGPORT", "6000"), ("PGAPPNAME", "env-app")],
        );
        let shown = e.to_string();
        assert_eq!(
            shown,
            "host=db1,db2 hostaddr=10.0.0.1, port=6000,6000 user=app dbname=shop \
             application_name=env-app password=<redacted> connect_timeout=0 sslmode=prefer \
             target_session_attrs=any load_balance_hosts=disable gssencmode=disable sslsni=1 \
             sslnegotiation=postgres channel_binding=prefer min_protocol_version=3.0 \
             max_protocol_version=3.0 sslcertmode=allow ssl_min_protocol_version=TLSv1.2 \
             (password: set in the configuration)"
        );
        let mut again = e.config().clone();
        again.password("hunter2");
        let config_part = shown.split(" (password").next().unwrap();
        let reparsed = Config::parse(&config_part.replace("<redacted>", "hunter2")).unwrap();
        assert_eq!(reparsed, again);
        assert!(!format!("{e:?}").contains("hunter2"));
    }

    #[test]
    fn tls_and_auth_settings_show_as_the_connection_uses_them() {
        let dir = std::env::temp_dir().join(format!("jsonwire-eff-tls-{}", std::process::id()));
        let pg = dir.join(".postgresql");
        std::fs::create_dir_all(&pg).unwrap();
        for file in ["root.crt", "postgresql.crt", "postgresql.key"] {
            std::fs::write(pg.join(file), "").unwrap();
        }
        let home = dir.to_str().unwrap();
        let e = effective(
            "host=h sslmode=require require_auth=!md5,!password max_protocol_version=latest",
            &[
                ("USER", "u"),
                ("HOME", home),
                ("PGCHANNELBINDING", "require"),
            ],
        );
        let shown = e.to_string();
        let pg = pg.display();
        assert!(
            shown.contains(&format!(
                "gssencmode=disable sslrootcert={pg}/root.crt \
                 sslcert={pg}/postgresql.crt sslkey={pg}/postgresql.key sslsni=1 \
                 sslnegotiation=postgres require_auth=!md5,!password channel_binding=require \
                 min_protocol_version=3.0 max_protocol_version=3.2 sslcertmode=allow \
                 ssl_min_protocol_version=TLSv1.2"
            )),
            "{shown}"
        );
        let e = effective(
            "host=h sslrootcert=system sslsni=0 sslnegotiation=direct",
            &[("USER", "u"), ("HOME", home)],
        );
        let c = e.config();
        assert_eq!(c.get_ssl_mode(), Some(crate::SslMode::VerifyFull));
        assert_eq!(c.get_ssl_root_cert(), Some("system"));
        assert_eq!(c.get_ssl_cert(), Some(&*format!("{pg}/postgresql.crt")));
        assert_eq!(c.get_ssl_sni(), Some(false));
        assert_eq!(c.get_ssl_negotiation(), Some(crate::SslNegotiation::Direct));
        assert_eq!(c.get_require_auth(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_password_source_is_named_per_host() {
        let e = effective("host=h", &[("USER", "u"), ("PGPASSWORD", "pw")]);
        assert_eq!(e.password_sources(), [PasswordSource::Environment]);
        assert!(e.to_string().ends_with("(password: from PGPASSWORD)"));

        let dir = std::env::temp_dir().join(format!("jsonwire-effective-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(&file, "h1:5432:*:*:one\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let config = format!("host=h1,h2 passfile={}", file.display());
        let e = effective(&config, &[("USER", "u")]);
        assert_eq!(
            e.password_sources(),
            [
                PasswordSource::PasswordFile(file.clone()),
                PasswordSource::None
            ]
        );
        assert!(
            e.to_string().ends_with(&format!(
                "(password: h1:5432 from the password file {}; h2:5432 none)",
                file.display()
            )),
            "{e}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = effective(&config, &[("USER", "u")]);
            let PasswordSource::PasswordFileIgnored { path, reason } = &e.password_sources()[0]
            else {
                panic!("{:?}", e.password_sources());
            };
            assert_eq!(path, &file);
            assert!(
                reason.contains("group or world access (mode 0644)"),
                "{reason}"
            );
            assert!(
                e.to_string().contains("was ignored because it has group"),
                "{e}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
