//! The TLS keywords besides `sslmode`: `sslrootcert`, `sslcert`, `sslkey`, `sslsni` and
//! `sslnegotiation` (libpq docs 34.1.2 "Parameter Key Words", 34.19 "SSL Support").

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::value::invalid;
use super::{Config, SslMode, SslPolicy};
use crate::error::{Error, Result};

/// libpq 17's `sslnegotiation`: how TLS is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslNegotiation {
    /// Send an SSLRequest first and start TLS when the server agrees (every server version).
    #[default]
    Postgres,
    /// Start the TLS handshake at once, with ALPN `postgresql` (Postgres 17 and later; saves a
    /// round trip). Only with `sslmode` `require` or stricter, as in libpq.
    Direct,
}

impl SslNegotiation {
    /// The libpq keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            SslNegotiation::Postgres => "postgres",
            SslNegotiation::Direct => "direct",
        }
    }
}

impl FromStr for SslNegotiation {
    type Err = Error;

    /// Parses a libpq `sslnegotiation` value.
    ///
    /// # Errors
    /// A config error naming the value when it is not `postgres` or `direct`.
    fn from_str(s: &str) -> Result<SslNegotiation> {
        Ok(match s {
            "postgres" => SslNegotiation::Postgres,
            "direct" => SslNegotiation::Direct,
            _ => return Err(invalid("sslnegotiation value", s, None)),
        })
    }
}

/// Where trusted root certificates come from, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCerts {
    /// None configured and `~/.postgresql/root.crt` absent: the chain cannot be verified.
    None,
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// The TLS settings a connection needs, with the environment and libpq's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// The effective mode: `require` with a root certificate file behaves as `verify-ca`.
    pub(crate) mode: SslMode,
    /// The mode as configured, for messages.
    pub(crate) configured_mode: SslMode,
    pub(crate) roots: RootCerts,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) sni: bool,
    pub(crate) negotiation: SslNegotiation,
    /// `sslcertmode`, the revocation lists, `sslpassword` and the TLS versions.
    pub(crate) policy: SslPolicy,
}

impl TlsSettings {
    /// Applies libpq's rules (`connectOptions2`, `initialize_SSL`): default file locations
    /// under `~/.postgresql`, `sslrootcert=system` implying `verify-full`, `require` with a root
    /// file verifying the chain, and direct negotiation only with `require` or stricter.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn resolve(
        mode: Option<SslMode>,
        rootcert: Option<String>,
        cert: Option<String>,
        key: Option<String>,
        sni: bool,
        negotiation: SslNegotiation,
        policy: SslPolicy,
        home: Option<PathBuf>,
    ) -> Result<TlsSettings> {
        let dot = home.map(|h| h.join(".postgresql"));
        let default_file = |name: &str| dot.as_ref().map(|d| d.join(name));
        let system = rootcert.as_deref() == Some("system");
        let configured_mode = match mode {
            Some(mode) => mode,
            None if system => SslMode::VerifyFull,
            None => SslMode::default(),
        };
        if system && configured_mode != SslMode::VerifyFull {
            return Err(Error::config(format!(
                "weak sslmode \"{}\" may not be used with sslrootcert=system (use \"verify-full\")",
                configured_mode.as_str()
            )));
        }
        if negotiation == SslNegotiation::Direct
            && matches!(
                configured_mode,
                SslMode::Disable | SslMode::Allow | SslMode::Prefer
            )
        {
            return Err(Error::config(format!(
                "weak sslmode \"{}\" may not be used with sslnegotiation=direct (use \"require\", \
                 \"verify-ca\", or \"verify-full\")",
                configured_mode.as_str()
            )));
        }
        let roots = if system {
            RootCerts::System
        } else {
            let explicit = rootcert.is_some();
            let path = rootcert
                .map(PathBuf::from)
                .or_else(|| default_file("root.crt"));
            match path {
                Some(path) if path.is_file() => RootCerts::File(path),
                path if matches!(configured_mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                    let shown = path.map_or_else(
                        || "~/.postgresql/root.crt".to_owned(),
                        |p| p.display().to_string(),
                    );
                    return Err(Error::config(format!(
                        "root certificate file \"{shown}\" does not exist; either provide the \
                         file, use the system's trusted roots with sslrootcert=system, or change \
                         sslmode to disable server certificate verification{}",
                        if explicit {
                            ""
                        } else {
                            " (sslrootcert was not set)"
                        }
                    )));
                }
                _ => RootCerts::None,
            }
        };
        // libpq: with a root certificate available, `require` verifies the chain.
        let mode = match (configured_mode, &roots) {
            (SslMode::Require, RootCerts::File(_)) => SslMode::VerifyCa,
            (mode, _) => mode,
        };
        let existing = |explicit: Option<String>, name: &str| -> Option<PathBuf> {
            match explicit {
                Some(path) => Some(PathBuf::from(path)),
                None => default_file(name).filter(|p| p.is_file()),
            }
        };
        let cert = existing(cert, "postgresql.crt");
        let key = match &cert {
            Some(_) => existing(key, "postgresql.key"),
            None => key.map(PathBuf::from),
        };
        Ok(TlsSettings {
            mode,
            configured_mode,
            roots,
            cert,
            key,
            sni,
            negotiation,
            policy,
        })
    }
}

impl Config {
    /// Sets the file of trusted root (CA) certificates, PEM; `"system"` uses the operating
    /// system's trust store and implies `sslmode=verify-full`. Default
    /// `~/.postgresql/root.crt` when it exists.
    pub fn ssl_root_cert(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.ssl_root_cert = Some(path.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Sets the client certificate file (PEM; the chain may follow the certificate). Default
    /// `~/.postgresql/postgresql.crt` when it exists.
    pub fn ssl_cert(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.ssl_cert = Some(path.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Sets the client certificate's private key file (PEM: PKCS#8, PKCS#1 or SEC1, or an
    /// encrypted PKCS#8 key with [`Config::ssl_password`]). Default
    /// `~/.postgresql/postgresql.key`.
    pub fn ssl_key(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.ssl_key = Some(path.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Sets whether the host name is sent in the TLS handshake (SNI; default `true`). Never
    /// sent for an IP address.
    pub fn ssl_sni(&mut self, sni: bool) -> &mut Self {
        self.ssl_sni = Some(sni);
        self
    }

    /// Sets how TLS is started.
    pub fn ssl_negotiation(&mut self, negotiation: SslNegotiation) -> &mut Self {
        self.ssl_negotiation = Some(negotiation);
        self
    }

    /// The `sslrootcert` setting, if set.
    pub fn get_ssl_root_cert(&self) -> Option<&str> {
        self.ssl_root_cert.as_deref()
    }

    /// The `sslcert` setting, if set.
    pub fn get_ssl_cert(&self) -> Option<&str> {
        self.ssl_cert.as_deref()
    }

    /// The `sslkey` setting, if set.
    pub fn get_ssl_key(&self) -> Option<&str> {
        self.ssl_key.as_deref()
    }

    /// The `sslsni` setting, if set.
    pub fn get_ssl_sni(&self) -> Option<bool> {
        self.ssl_sni
    }

    /// The `sslnegotiation` setting, if set.
    pub fn get_ssl_negotiation(&self) -> Option<SslNegotiation> {
        self.ssl_negotiation
    }
}

/// libpq's boolean `sslsni`: `0` or `1`.
pub(super) fn parse_sni(value: &str, var: Option<&str>) -> Result<bool> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(invalid("sslsni value", value, var)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        mode: Option<SslMode>,
        root: Option<&str>,
        neg: SslNegotiation,
    ) -> Result<TlsSettings> {
        let policy = SslPolicy::resolve(&Default::default(), &|_| None, None)?;
        TlsSettings::resolve(
            mode,
            root.map(String::from),
            None,
            None,
            true,
            neg,
            policy,
            None,
        )
    }

    #[test]
    fn libpq_rules_for_modes_and_roots() {
        let dir = std::env::temp_dir().join(format!("jw-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.join("root.crt");
        std::fs::write(&root, "").unwrap();
        let root = root.to_str().unwrap();
        let p = SslNegotiation::Postgres;
        // require with a root file is verify-ca; without one it stays require.
        assert_eq!(
            resolve(Some(SslMode::Require), Some(root), p).unwrap().mode,
            SslMode::VerifyCa
        );
        assert_eq!(
            resolve(Some(SslMode::Require), None, p).unwrap().mode,
            SslMode::Require
        );
        // verify-* without a root file is refused before connecting.
        let err = resolve(Some(SslMode::VerifyFull), Some("/nonexistent/root.crt"), p).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        // system implies verify-full and refuses weaker modes.
        let s = resolve(None, Some("system"), p).unwrap();
        assert_eq!((s.mode, s.roots), (SslMode::VerifyFull, RootCerts::System));
        assert!(resolve(Some(SslMode::Require), Some("system"), p).is_err());
        // direct negotiation needs require or stricter.
        let d = SslNegotiation::Direct;
        assert!(resolve(Some(SslMode::Prefer), None, d).is_err());
        assert!(resolve(None, None, d).is_err());
        resolve(Some(SslMode::Require), None, d).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sslnegotiation_and_sslsni_values() {
        assert_eq!(
            "direct".parse::<SslNegotiation>().unwrap(),
            SslNegotiation::Direct
        );
        assert!("tls".parse::<SslNegotiation>().is_err());
        assert!(parse_sni("1", None).unwrap());
        assert!(parse_sni("yes", None).is_err());
    }
}
