//! Certificates for `ssl=on` clusters, generated at test time with rcgen, and the roles whose
//! `pg_hba.conf` lines depend on TLS.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};

use crate::error::{Error, ErrorKind};

/// `jw_cert`: logs in with a client certificate alone (`hostssl ... cert`).
pub const CERT_USER: &str = "jw_cert";
/// `jw_sslonly`: only over TLS (`hostssl ... trust`).
pub const SSL_ONLY_USER: &str = "jw_sslonly";
/// `jw_nossl`: only without TLS (`hostnossl ... trust`).
pub const NO_SSL_USER: &str = "jw_nossl";
/// The host name the server certificate names besides `localhost` and `127.0.0.1`.
pub const SERVER_NAME: &str = "localhost";
/// The host name of [`TlsFiles::other_host_cert`].
pub const OTHER_HOST: &str = "other.jsonwire.test";

/// The PEM files of a TLS-enabled cluster. Keys are unencrypted, mode 0600.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The test CA, which signed the server and client certificates: use as `sslrootcert`.
    pub ca_cert: PathBuf,
    /// The test CA's key, for tests that sign certificates of their own.
    pub ca_key: PathBuf,
    /// A CA that signed nothing the server uses: as `sslrootcert` it makes verification fail.
    pub unknown_ca_cert: PathBuf,
    /// The server's certificate (for `localhost` and `127.0.0.1`) and key.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// A certificate from the test CA for [`OTHER_HOST`] only, and its key: for TLS endpoints
    /// a test runs itself.
    pub other_host_cert: PathBuf,
    /// The key of [`TlsFiles::other_host_cert`].
    pub other_host_key: PathBuf,
    /// A certificate for 127.0.0.1 from [`TlsFiles::unknown_ca_cert`]'s CA, and its key.
    pub unknown_ca_server_cert: PathBuf,
    /// The key of [`TlsFiles::unknown_ca_server_cert`].
    pub unknown_ca_server_key: PathBuf,
    /// A client certificate for [`CERT_USER`] (its common name), from the test CA.
    pub client_cert: PathBuf,
    /// The client certificate's key, PKCS#8.
    pub client_key: PathBuf,
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Command, format!("generating {what}: {e}"))
}

fn write_private(path: &Path, pem: &str) -> Result<(), Error> {
    fs::write(path, pem)
        .map_err(|e| Error::io(format!("could not write {}", path.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(format!("could not chmod {}", path.display()), e))?;
    }
    Ok(())
}

fn ca(name: &str) -> Result<(CertificateParams, KeyPair, String), Error> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_error(name, e))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    let key = KeyPair::generate().map_err(|e| tls_error(name, e))?;
    let cert = params.self_signed(&key).map_err(|e| tls_error(name, e))?;
    Ok((params, key, cert.pem()))
}

fn leaf(
    names: &[&str],
    common_name: &str,
    issuer: &Issuer<'_, &KeyPair>,
) -> Result<(String, String), Error> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).map_err(|e| tls_error(common_name, e))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let key = KeyPair::generate().map_err(|e| tls_error(common_name, e))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|e| tls_error(common_name, e))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a CA, server, other-host, unknown-CA and client certificates into `dir`.
pub(crate) fn generate(dir: &Path) -> Result<TlsFiles, Error> {
    fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("could not create {}", dir.display()), e))?;
    let path = |name: &str| dir.join(name);
    let files = TlsFiles {
        ca_cert: path("ca.crt"),
        ca_key: path("ca.key"),
        unknown_ca_cert: path("unknown-ca.crt"),
        server_cert: path("server.crt"),
        server_key: path("server.key"),
        other_host_cert: path("other.crt"),
        other_host_key: path("other.key"),
        unknown_ca_server_cert: path("unknown-server.crt"),
        unknown_ca_server_key: path("unknown-server.key"),
        client_cert: path("client.crt"),
        client_key: path("client.key"),
    };
    let (ca_params, ca_key, ca_pem) = ca("jsonwire test CA")?;
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let (unknown_params, unknown_key, unknown_pem) = ca("jsonwire unknown CA")?;
    let unknown = Issuer::from_params(&unknown_params, &unknown_key);
    let write = |p: &Path, s: &str| {
        fs::write(p, s).map_err(|e| Error::io(format!("could not write {}", p.display()), e))
    };
    write(&files.ca_cert, &ca_pem)?;
    write_private(&files.ca_key, &ca_key.serialize_pem())?;
    write(&files.unknown_ca_cert, &unknown_pem)?;
    for (names, cn, issuer, cert, key) in [
        (
            &[SERVER_NAME, "127.0.0.1", "::1"][..],
            SERVER_NAME,
            &issuer,
            &files.server_cert,
            &files.server_key,
        ),
        (
            &[OTHER_HOST][..],
            OTHER_HOST,
            &issuer,
            &files.other_host_cert,
            &files.other_host_key,
        ),
        (
            &[SERVER_NAME, "127.0.0.1"][..],
            SERVER_NAME,
            &unknown,
            &files.unknown_ca_server_cert,
            &files.unknown_ca_server_key,
        ),
        (
            &[][..],
            CERT_USER,
            &issuer,
            &files.client_cert,
            &files.client_key,
        ),
    ] {
        let (cert_pem, key_pem) = leaf(names, cn, issuer)?;
        write(cert, &cert_pem)?;
        write_private(key, &key_pem)?;
    }
    Ok(files)
}

/// Whether the server binary was built with SSL support (OpenSSL linked or compiled in).
pub(crate) fn server_has_ssl(postgres: &Path) -> bool {
    fs::read(postgres)
        .map(|bin| bin.windows(11).any(|w| w == b"SSL_CTX_new"))
        .unwrap_or(false)
}

/// The `postgresql.conf` settings that turn TLS on with `files`.
pub(crate) fn settings(files: &TlsFiles) -> Vec<(String, String)> {
    let s = |p: &Path| p.display().to_string();
    vec![
        ("ssl".into(), "on".into()),
        ("ssl_cert_file".into(), s(&files.server_cert)),
        ("ssl_key_file".into(), s(&files.server_key)),
        ("ssl_ca_file".into(), s(&files.ca_cert)),
    ]
}

/// `pg_hba.conf` lines for the TLS roles, before the catch-all.
pub(crate) fn hba_lines() -> String {
    let mut hba = String::new();
    for addr in ["127.0.0.1/32", "::1/128"] {
        let _ = writeln!(hba, "hostssl all {CERT_USER} {addr} cert");
        let _ = writeln!(hba, "hostssl all {SSL_ONLY_USER} {addr} trust");
        let _ = writeln!(hba, "hostnossl all {NO_SSL_USER} {addr} trust");
        let _ = writeln!(
            hba,
            "host all {CERT_USER},{SSL_ONLY_USER},{NO_SSL_USER} {addr} reject"
        );
    }
    let _ = writeln!(hba, "local all {CERT_USER},{SSL_ONLY_USER} reject");
    hba
}

/// SQL that creates the TLS roles.
pub(crate) fn roles_sql() -> String {
    let users = [CERT_USER, SSL_ONLY_USER, NO_SSL_USER];
    let mut sql = String::new();
    for user in users {
        let _ = writeln!(sql, "CREATE ROLE {user} LOGIN;");
    }
    let _ = writeln!(
        sql,
        "GRANT CONNECT ON DATABASE postgres TO {};",
        users.join(", ")
    );
    sql
}
