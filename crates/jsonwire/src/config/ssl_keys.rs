//! The TLS keywords of certificate policy: `sslcertmode`, `sslcrl`, `sslcrldir`,
//! `sslpassword`, `ssl_min_protocol_version` and `ssl_max_protocol_version` (libpq docs 34.1.2
//! "Parameter Key Words").

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::value::invalid;
use super::Config;
use crate::error::{Error, Result};

/// libpq 16's `sslcertmode`: whether a client certificate is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslCertMode {
    /// Never send one, even when `sslcert` names a file.
    Disable,
    /// Send the configured certificate when the server asks for one (libpq's default).
    #[default]
    Allow,
    /// Refuse the connection unless the server asked for a client certificate and the client
    /// sent one: proof that the server checks certificates.
    Require,
}

impl SslCertMode {
    /// The libpq keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            SslCertMode::Disable => "disable",
            SslCertMode::Allow => "allow",
            SslCertMode::Require => "require",
        }
    }
}

impl FromStr for SslCertMode {
    type Err = Error;

    /// Parses a libpq `sslcertmode` value.
    ///
    /// # Errors
    /// A config error naming the value when it is not `disable`, `allow` or `require`.
    fn from_str(s: &str) -> Result<SslCertMode> {
        Ok(match s {
            "disable" => SslCertMode::Disable,
            "allow" => SslCertMode::Allow,
            "require" => SslCertMode::Require,
            _ => return Err(invalid("sslcertmode value", s, None)),
        })
    }
}

/// A TLS protocol version, as `ssl_min_protocol_version` and `ssl_max_protocol_version` name
/// it. rustls speaks TLS 1.2 and 1.3 only: a minimum below 1.2 allows 1.2, and a maximum below
/// 1.2 is refused when connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `TLSv1` (TLS 1.0).
    Tls1_0,
    /// `TLSv1.1`.
    Tls1_1,
    /// `TLSv1.2`, libpq's default minimum.
    Tls1_2,
    /// `TLSv1.3`.
    Tls1_3,
}

impl TlsVersion {
    /// The libpq keyword value: `TLSv1`, `TLSv1.1`, `TLSv1.2` or `TLSv1.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls1_0 => "TLSv1",
            TlsVersion::Tls1_1 => "TLSv1.1",
            TlsVersion::Tls1_2 => "TLSv1.2",
            TlsVersion::Tls1_3 => "TLSv1.3",
        }
    }
}

impl FromStr for TlsVersion {
    type Err = Error;

    /// Parses a TLS version as libpq does, ignoring case.
    ///
    /// # Errors
    /// A config error naming the value otherwise.
    fn from_str(s: &str) -> Result<TlsVersion> {
        [
            TlsVersion::Tls1_0,
            TlsVersion::Tls1_1,
            TlsVersion::Tls1_2,
            TlsVersion::Tls1_3,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| invalid("TLS protocol version", s, None))
    }
}

/// The policy keywords as set; unset ones come from the environment or the defaults.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct SslKeys {
    pub(crate) cert_mode: Option<SslCertMode>,
    pub(crate) crl: Option<String>,
    pub(crate) crl_dir: Option<String>,
    pub(crate) password: Option<String>,
    /// `Some(None)`: set to the empty string, no bound (libpq's spelling).
    pub(crate) min_version: Option<Option<TlsVersion>>,
    pub(crate) max_version: Option<Option<TlsVersion>>,
}

impl fmt::Debug for SslKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslKeys")
            .field("cert_mode", &self.cert_mode)
            .field("crl", &self.crl)
            .field("crl_dir", &self.crl_dir)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .finish()
    }
}

/// A protocol version bound: empty for none.
pub(super) fn parse_bound(value: &str, key: &str, var: Option<&str>) -> Result<Option<TlsVersion>> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| invalid(&format!("\"{key}\" value"), value, var))
}

impl SslKeys {
    /// Each keyword not set here taken from a connection service.
    pub(super) fn or_service(&self, service: SslKeys) -> SslKeys {
        SslKeys {
            cert_mode: self.cert_mode.or(service.cert_mode),
            crl: self.crl.clone().or(service.crl),
            crl_dir: self.crl_dir.clone().or(service.crl_dir),
            password: self.password.clone().or(service.password),
            min_version: self.min_version.or(service.min_version),
            max_version: self.max_version.or(service.max_version),
        }
    }

    /// Sets one of these keywords; `false` when `key` is not one of them.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "sslcertmode" => self.cert_mode = Some(value.parse()?),
            "sslcrl" => self.crl = Some(value.to_owned()),
            "sslcrldir" => self.crl_dir = Some(value.to_owned()),
            "sslpassword" => self.password = Some(value.to_owned()),
            "ssl_min_protocol_version" => self.min_version = Some(parse_bound(value, key, None)?),
            "ssl_max_protocol_version" => self.max_version = Some(parse_bound(value, key, None)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Each keyword set, as `set` reads it back; the password as `<redacted>`.
    pub(super) fn fmt_keys(&self, pair: &mut dyn FnMut(&str, &str) -> fmt::Result) -> fmt::Result {
        if let Some(mode) = self.cert_mode {
            pair("sslcertmode", mode.as_str())?;
        }
        if let Some(path) = &self.crl {
            pair("sslcrl", path)?;
        }
        if let Some(path) = &self.crl_dir {
            pair("sslcrldir", path)?;
        }
        if self.password.is_some() {
            pair("sslpassword", "<redacted>")?;
        }
        for (key, bound) in [
            ("ssl_min_protocol_version", self.min_version),
            ("ssl_max_protocol_version", self.max_version),
        ] {
            if let Some(bound) = bound {
                pair(key, bound.map_or("", TlsVersion::as_str))?;
            }
        }
        Ok(())
    }
}

impl Config {
    /// Sets whether a client certificate is sent (libpq 16 `sslcertmode`; default `allow`).
    pub fn ssl_cert_mode(&mut self, mode: SslCertMode) -> &mut Self {
        self.ssl.cert_mode = Some(mode);
        self
    }

    /// Sets a file of certificate revocation lists (PEM) checked with the root certificates;
    /// default `~/.postgresql/root.crl` when it exists. A server certificate an issuer
    /// revoked is refused, and so is a chain with an issuer that has no list here, as
    /// OpenSSL does for libpq.
    pub fn ssl_crl(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.ssl.crl = Some(path.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Sets a directory of certificate revocation lists prepared with `openssl rehash`: the
    /// files named `HASH.rN` are read.
    pub fn ssl_crl_dir(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.ssl.crl_dir = Some(path.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Sets the password that decrypts the client key (`sslkey`) when it is an encrypted
    /// PKCS#8 PEM file (`BEGIN ENCRYPTED PRIVATE KEY`). Never shown by `Display` or `Debug`.
    pub fn ssl_password(&mut self, password: &str) -> &mut Self {
        self.ssl.password = Some(password.to_owned());
        self
    }

    /// Sets the oldest TLS version accepted (default TLS 1.2, as libpq's; `None` for no
    /// bound).
    pub fn ssl_min_protocol_version(&mut self, version: Option<TlsVersion>) -> &mut Self {
        self.ssl.min_version = Some(version);
        self
    }

    /// Sets the newest TLS version offered (default: none, which is TLS 1.3).
    pub fn ssl_max_protocol_version(&mut self, version: Option<TlsVersion>) -> &mut Self {
        self.ssl.max_version = Some(version);
        self
    }

    /// The `sslcertmode` setting, if set.
    pub fn get_ssl_cert_mode(&self) -> Option<SslCertMode> {
        self.ssl.cert_mode
    }

    /// The `sslcrl` setting, if set.
    pub fn get_ssl_crl(&self) -> Option<&str> {
        self.ssl.crl.as_deref()
    }

    /// The `sslcrldir` setting, if set.
    pub fn get_ssl_crl_dir(&self) -> Option<&str> {
        self.ssl.crl_dir.as_deref()
    }

    /// The `sslpassword` setting, if set (`Display` prints it as `<redacted>`).
    pub fn get_ssl_password(&self) -> Option<&str> {
        self.ssl.password.as_deref()
    }

    /// The `ssl_min_protocol_version` setting, if set (`Some(None)`: set to no bound).
    pub fn get_ssl_min_protocol_version(&self) -> Option<Option<TlsVersion>> {
        self.ssl.min_version
    }

    /// The `ssl_max_protocol_version` setting, if set (`Some(None)`: set to no bound).
    pub fn get_ssl_max_protocol_version(&self) -> Option<Option<TlsVersion>> {
        self.ssl.max_version
    }
}

/// What these keywords amount to for one connection, with the environment and the defaults
/// applied.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SslPolicy {
    pub(crate) cert_mode: SslCertMode,
    pub(crate) crl: Option<PathBuf>,
    pub(crate) crl_dir: Option<PathBuf>,
    pub(crate) password: Option<String>,
    pub(crate) min_version: Option<TlsVersion>,
    pub(crate) max_version: Option<TlsVersion>,
}

impl fmt::Debug for SslPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslPolicy")
            .field("cert_mode", &self.cert_mode)
            .field("crl", &self.crl)
            .field("crl_dir", &self.crl_dir)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .finish()
    }
}

impl SslPolicy {
    /// libpq's defaults and environment variables (`PGSSLCERTMODE`, `PGSSLCRL`,
    /// `PGSSLCRLDIR`, `PGSSLMINPROTOCOLVERSION`, `PGSSLMAXPROTOCOLVERSION`); `dot` is
    /// `~/.postgresql`.
    pub(crate) fn resolve(
        keys: &SslKeys,
        var: &dyn Fn(&str) -> Option<String>,
        dot: Option<&Path>,
    ) -> Result<SslPolicy> {
        let cert_mode = match (keys.cert_mode, var("PGSSLCERTMODE")) {
            (Some(mode), _) => mode,
            (None, Some(v)) => v
                .parse()
                .map_err(|_| invalid("sslcertmode value", &v, Some("PGSSLCERTMODE")))?,
            (None, None) => SslCertMode::default(),
        };
        let bound = |set: Option<Option<TlsVersion>>, key: &str, env: &str, default| match (
            set,
            var(env),
        ) {
            (Some(bound), _) => Ok(bound),
            (None, Some(v)) => parse_bound(&v, key, Some(env)),
            (None, None) => Ok(default),
        };
        let min_version = bound(
            keys.min_version,
            "ssl_min_protocol_version",
            "PGSSLMINPROTOCOLVERSION",
            Some(TlsVersion::Tls1_2),
        )?;
        let max_version = bound(
            keys.max_version,
            "ssl_max_protocol_version",
            "PGSSLMAXPROTOCOLVERSION",
            None,
        )?;
        if let (Some(min), Some(max)) = (min_version, max_version) {
            if min > max {
                return Err(Error::config(format!(
                    "invalid SSL protocol version range: ssl_min_protocol_version {} is above \
                     ssl_max_protocol_version {}",
                    min.as_str(),
                    max.as_str()
                )));
            }
        }
        let path = |s: Option<String>| s.filter(|s| !s.is_empty()).map(PathBuf::from);
        let crl_dir = path(keys.crl_dir.clone().or_else(|| var("PGSSLCRLDIR")));
        // libpq reads ~/.postgresql/root.crl only when neither is set.
        let crl = path(keys.crl.clone().or_else(|| var("PGSSLCRL"))).or_else(|| {
            dot.filter(|_| crl_dir.is_none())
                .map(|d| d.join("root.crl"))
                .filter(|p| p.is_file())
        });
        Ok(SslPolicy {
            cert_mode,
            crl,
            crl_dir,
            password: keys.password.clone(),
            min_version,
            max_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(keys: &str, vars: &[(&str, &str)]) -> Result<SslPolicy> {
        let mut set = SslKeys::default();
        for pair in keys.split_whitespace() {
            let (k, v) = pair.split_once('=').unwrap();
            assert!(set.set(k, v)?, "{k}");
        }
        SslPolicy::resolve(
            &set,
            &|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            },
            None,
        )
    }

    #[test]
    fn values_parse_as_libpq_reads_them_and_bad_ones_are_named() {
        let p = resolve("", &[]).unwrap();
        assert_eq!(p.cert_mode, SslCertMode::Allow);
        assert_eq!(
            (p.min_version, p.max_version),
            (Some(TlsVersion::Tls1_2), None)
        );
        let p = resolve(
            "sslcertmode=require ssl_min_protocol_version=tlsv1.3 ssl_max_protocol_version=TLSv1.3",
            &[],
        )
        .unwrap();
        assert_eq!(p.cert_mode, SslCertMode::Require);
        assert_eq!(p.min_version, Some(TlsVersion::Tls1_3));
        // An empty value removes the bound.
        let p = resolve("ssl_min_protocol_version=", &[]).unwrap();
        assert_eq!(p.min_version, None);
        let p = resolve(
            "",
            &[
                ("PGSSLCERTMODE", "disable"),
                ("PGSSLMAXPROTOCOLVERSION", "TLSv1.2"),
                ("PGSSLCRL", "/x/root.crl"),
            ],
        )
        .unwrap();
        assert_eq!(p.cert_mode, SslCertMode::Disable);
        assert_eq!(p.max_version, Some(TlsVersion::Tls1_2));
        assert_eq!(p.crl.as_deref(), Some(Path::new("/x/root.crl")));

        let err = resolve("sslcertmode=always", &[]).unwrap_err();
        assert_eq!(err.to_string(), "invalid sslcertmode value: \"always\"");
        let err = resolve("ssl_min_protocol_version=TLSv1.4", &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid \"ssl_min_protocol_version\" value: \"TLSv1.4\""),
            "{err}"
        );
        let err = resolve("", &[("PGSSLCERTMODE", "on")]).unwrap_err();
        assert!(err.to_string().contains("PGSSLCERTMODE"), "{err}");
        let err = resolve(
            "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid SSL protocol version range"),
            "{err}"
        );
    }

    #[test]
    fn the_password_never_shows() {
        let mut keys = SslKeys::default();
        keys.set("sslpassword", "hunter2").unwrap();
        assert!(!format!("{keys:?}").contains("hunter2"));
        let mut shown = String::new();
        keys.fmt_keys(&mut |k, v| {
            shown.push_str(&format!("{k}={v} "));
            Ok(())
        })
        .unwrap();
        assert_eq!(shown, "sslpassword=<redacted> ");
    }
}
