//! The server certificate checks of the modes webpki alone does not express: no check of the
//! certificate at all (but of the handshake's signatures) and the chain without the host name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, ErrorKind, Result};

/// `sslcertmode=require`: records whether the server asked for a client certificate during
/// one handshake, and whether one was sent.
#[derive(Debug, Default)]
pub(super) struct CertRequest {
    requested: AtomicBool,
    sent: AtomicBool,
}

/// The configured certificate resolver, with a [`CertRequest`] watching it.
#[derive(Debug)]
struct Watched {
    inner: Arc<dyn ResolvesClientCert>,
    request: Arc<CertRequest>,
}

impl ResolvesClientCert for Watched {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.request.requested.store(true, Ordering::Relaxed);
        let key = self.inner.resolve(root_hint_subjects, sigschemes);
        self.request.sent.store(key.is_some(), Ordering::Relaxed);
        key
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

impl CertRequest {
    /// A copy of `config` whose certificate resolver reports to the returned request.
    pub(super) fn watch(config: &ClientConfig) -> (ClientConfig, Arc<CertRequest>) {
        let request = Arc::new(CertRequest::default());
        let mut config = config.clone();
        config.client_auth_cert_resolver = Arc::new(Watched {
            inner: config.client_auth_cert_resolver.clone(),
            request: request.clone(),
        });
        (config, request)
    }

    /// libpq's `sslcertmode=require` checks, after the handshake.
    pub(super) fn check(&self) -> Result<()> {
        if !self.requested.load(Ordering::Relaxed) {
            return Err(Error::new(
                ErrorKind::Connect,
                "server did not request an SSL certificate (sslcertmode=require)",
            ));
        }
        if !self.sent.load(Ordering::Relaxed) {
            return Err(Error::new(
                ErrorKind::Connect,
                "the server requested an SSL certificate but none is configured (sslcert, \
                 sslkey) (sslcertmode=require)",
            ));
        }
        Ok(())
    }
}

/// No root certificates: the certificate is not checked (libpq's `require` without a root
/// file), but the handshake signatures are, against the certificate's key.
#[derive(Debug)]
pub(super) struct NoCertificateCheck(pub(super) Arc<CryptoProvider>);

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

/// The chain must lead to a trusted root (webpki); the host name is checked only for
/// `verify-full` (`check_host`). A certificate that names no host in a subjectAltName (only
/// in its common name, which libpq also reads and webpki does not) fails the host check with
/// an error that says so.
#[derive(Debug)]
pub(super) struct Chain {
    pub(super) webpki: Arc<WebPkiServerVerifier>,
    pub(super) check_host: bool,
}

/// A certificate without a subjectAltName, checked for a host name.
#[derive(Debug)]
pub(super) struct NoSubjectAltName;

impl std::fmt::Display for NoSubjectAltName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the certificate has no subjectAltName extension, only a common name (CN); \
             jsonwire (rustls, webpki) matches the host name against subjectAltName only, \
             where libpq also accepts the CN: reissue the certificate with \
             subjectAltName=DNS:<host> (or IP:<address>), or use sslmode=verify-ca",
        )
    }
}

impl std::error::Error for NoSubjectAltName {}

/// Whether a DER certificate has the subjectAltName extension (2.5.29.17).
fn has_subject_alt_name(der: &[u8]) -> bool {
    use x509_cert::der::Decode;
    const SAN: &str = "2.5.29.17";
    x509_cert::Certificate::from_der(der).is_ok_and(|cert| {
        cert.tbs_certificate
            .extensions
            .iter()
            .flatten()
            .any(|e| e.extn_id.to_string() == SAN)
    })
}

impl ServerCertVerifier for Chain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_host => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !has_subject_alt_name(end_entity) => Err(rustls::Error::InvalidCertificate(
                CertificateError::Other(rustls::OtherError(Arc::new(NoSubjectAltName))),
            )),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
