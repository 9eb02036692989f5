//! TLS with rustls: the client configuration `sslmode` and friends call for, the handshake,
//! and errors that say which check failed.
//!
//! Certificate checks follow libpq (`fe-secure-openssl.c`): without root certificates nothing
//! is verified (`require`, `prefer`, `allow`), with them the chain is (`verify-ca`, and the
//! weaker modes too, as libpq does whenever a root file exists), and `verify-full` checks the
//! host name as well. The handshake's signatures are always verified, so the certificate the
//! channel binding hashes is one the server holds the key of.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::{RootCerts, SslMode, TlsSettings};
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

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(what: String) -> Error {
    Error::config(what)
}

impl TlsConnect {
    /// Builds the configuration for `host` (a name or an IP address).
    pub(crate) fn new(settings: &TlsSettings, host: &str) -> Result<TlsConnect> {
        let provider = provider();
        let roots = load_roots(&settings.roots)?;
        let verifier: Arc<dyn ServerCertVerifier> = match roots {
            None => Arc::new(NoCertificateCheck(provider.clone())),
            Some(roots) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| config_error(format!("invalid root certificates: {e}")))?;
                if settings.mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match client_identity(settings)? {
            Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(|e| {
                config_error(format!("the client certificate and key do not fit: {e}"))
            })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.enable_sni = settings.sni;
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            config_error(format!(
                "host {host:?} is neither a DNS name nor an IP address a certificate can name"
            ))
        })?;
        Ok(TlsConnect {
            config: Arc::new(config),
            name,
            direct: settings.negotiation == crate::SslNegotiation::Direct,
            mode: settings.configured_mode,
        })
    }

    /// Performs the handshake over `tcp`; in direct mode the server must pick ALPN
    /// `postgresql`.
    pub(crate) async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>> {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let stream = connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| handshake_error(e, self))?;
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

fn load_roots(roots: &RootCerts) -> Result<Option<RootCertStore>> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::None => return Ok(None),
        RootCerts::File(path) => {
            let certs = read_certs(path, "root certificate")?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(config_error(format!(
                    "root certificate file \"{}\" holds no usable certificate",
                    path.display()
                )));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(config_error(format!(
                    "sslrootcert=system: no trusted root certificates found on this system{}",
                    found
                        .errors
                        .first()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )));
            }
        }
    }
    Ok(Some(store))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            config_error(format!(
                "could not read {what} file \"{}\": {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{what} file \"{}\" holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The client certificate chain and key, when a certificate file exists (libpq skips a
/// missing one silently, whether named or the default).
type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(settings: &TlsSettings) -> Result<Option<Identity>> {
    let Some(cert) = settings.cert.as_deref().filter(|p| p.exists()) else {
        return Ok(None);
    };
    let certs = read_certs(cert, "client certificate")?;
    let Some(key) = settings.key.as_deref().filter(|p| p.exists()) else {
        return Err(config_error(format!(
            "certificate present, but not private key file{}",
            settings
                .key
                .as_deref()
                .map(|p| format!(" \"{}\"", p.display()))
                .unwrap_or_default()
        )));
    };
    check_key_permissions(key)?;
    // PKCS#8, PKCS#1 (RSA) and SEC1 (EC) PEM blocks alike.
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        config_error(format!(
            "could not load private key file \"{}\": {e} (PKCS#8, PKCS#1 or SEC1 PEM, \
             unencrypted)",
            key.display()
        ))
    })?;
    Ok(Some((certs, key)))
}

/// libpq refuses a key others can read: 0600 or less, or 0640 or less when root owns it.
#[cfg(unix)]
fn check_key_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        config_error(format!(
            "could not read private key file \"{}\": {e}",
            path.display()
        ))
    })?;
    let mode = meta.mode() & 0o777;
    let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(config_error(format!(
            "private key file \"{}\" has group or world access; file must have permissions \
             u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) \
             or less if owned by root",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_: &Path) -> Result<()> {
    Ok(())
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
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the TLS handshake (TLS alert {alert:?})")
        }
        rustls::Error::NoApplicationProtocol => {
            "the server does not speak ALPN protocol \"postgresql\"".to_owned()
        }
        other => format!("TLS handshake with the server failed: {other}"),
    }
}

/// No root certificates: the certificate is not checked (libpq's `require` without a root
/// file), but the handshake signatures are, against the certificate's key.
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
