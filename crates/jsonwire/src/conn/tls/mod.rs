//! TLS with rustls: the client configuration `sslmode` and friends call for, the handshake,
//! and errors that say which check failed.
//!
//! Certificate checks follow libpq (`fe-secure-openssl.c`): without root certificates nothing
//! is verified (`require`, `prefer`, `allow`), with them the chain is (`verify-ca`, and the
//! weaker modes too, as libpq does whenever a root file exists), and `verify-full` checks the
//! host name as well. The handshake's signatures are always verified, so the certificate the
//! channel binding hashes is one the server holds the key of.

mod config;
mod key;
mod verify;

use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::{SslCertMode, SslMode, TlsSettings};
use crate::error::{Error, ErrorKind, Result};

/// The ALPN protocol name Postgres 17 registered; required for direct TLS.
const ALPN: &[u8] = b"postgresql";

/// What a TLS connection (and its cancel requests) needs: the rustls configuration, the name
/// to verify, and how TLS is started.
#[derive(Clone)]
pub(crate) struct TlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    pub(crate) direct: bool,
    /// The `sslmode` as configured, for messages.
    pub(crate) mode: SslMode,
    cert_mode: SslCertMode,
}

impl std::fmt::Debug for TlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnect")
            .field("name", &self.name)
            .field("direct", &self.direct)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl TlsConnect {
    /// The configuration for `host` (a name or an IP address).
    pub(crate) fn new(settings: &TlsSettings, host: &str) -> Result<TlsConnect> {
        let config = config::client_config(settings)?;
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            Error::config(format!(
                "host {host:?} is neither a DNS name nor an IP address a certificate can name"
            ))
        })?;
        Ok(TlsConnect {
            config,
            name,
            direct: settings.negotiation == crate::SslNegotiation::Direct,
            mode: settings.configured_mode,
            cert_mode: settings.policy.cert_mode,
        })
    }

    /// Performs the handshake over `tcp`; in direct mode the server must pick ALPN
    /// `postgresql`.
    /// With `sslcertmode=require` the server must have asked for a client certificate and
    /// received one.
    pub(crate) async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>> {
        let (config, request) = match self.cert_mode {
            SslCertMode::Require => {
                let (config, request) = verify::CertRequest::watch(&self.config);
                (Arc::new(config), Some(request))
            }
            SslCertMode::Allow | SslCertMode::Disable => (self.config.clone(), None),
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let stream = connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| handshake_error(e, self))?;
        if let Some(request) = request {
            request.check()?;
        }
        if self.direct && stream.get_ref().1.alpn_protocol() != Some(ALPN) {
            return Err(Error::new(
                ErrorKind::Connect,
                "the server did not select ALPN protocol \"postgresql\" in direct TLS; it is \
                 not Postgres 17 or later, or something in between does not pass TLS through \
                 (use sslnegotiation=postgres)",
            ));
        }
        Ok(stream)
    }
}

/// The end-entity certificate the server presented, DER.
pub(crate) fn server_certificate(stream: &TlsStream<TcpStream>) -> Option<&[u8]> {
    let certs = stream.get_ref().1.peer_certificates()?;
    certs.first().map(|c| c.as_ref())
}

/// The handshake failed: say which check.
fn handshake_error(e: io::Error, tls: &TlsConnect) -> Error {
    let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return Error::new(ErrorKind::Connect, "TLS handshake with the server failed")
            .with_source(e);
    };
    let message = describe(inner, tls);
    Error::new(ErrorKind::Connect, message).with_source(e)
}

/// A rustls error as the reader needs it, naming the check that failed.
pub(crate) fn describe(e: &rustls::Error, tls: &TlsConnect) -> String {
    use rustls::AlertDescription as A;
    let name = match &tls.name {
        ServerName::DnsName(n) => n.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    };
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "server certificate verification failed: it was not issued by a CA in the \
                 root certificates (sslmode={}): unknown CA",
                tls.mode.as_str()
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "server certificate verification failed: the certificate is not valid for \
                     host \"{name}\" (sslmode=verify-full checks the host name)"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "server certificate verification failed: the certificate has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "server certificate verification failed: the certificate is not valid yet"
                    .to_owned()
            }
            CertificateError::Revoked => {
                "server certificate verification failed: the certificate is revoked".to_owned()
            }
            CertificateError::UnknownRevocationStatus => {
                "server certificate verification failed: no certificate revocation list from \
                 an issuer in the chain (sslcrl, sslcrldir); with revocation lists every \
                 issuer needs one"
                    .to_owned()
            }
            CertificateError::Other(e) => {
                format!("server certificate verification failed: {e}")
            }
            other => format!("server certificate verification failed: {other:?}"),
        },
        rustls::Error::AlertReceived(
            alert @ (A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::AccessDenied),
        ) => format!("the server rejected the client certificate (TLS alert {alert:?})"),
        rustls::Error::AlertReceived(A::ProtocolVersion)
        | rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
            | rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13,
        ) => format!(
            "the server and ssl_min_protocol_version..ssl_max_protocol_version have no TLS \
             version in common ({e})"
        ),
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the TLS handshake (TLS alert {alert:?})")
        }
        rustls::Error::NoApplicationProtocol => {
            "the server does not speak ALPN protocol \"postgresql\"".to_owned()
        }
        other => format!("TLS handshake with the server failed: {other}"),
    }
}
