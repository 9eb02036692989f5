//! The rustls client configuration: built from the files TLS reads (root certificates, the
//! client certificate and key) and kept while those files are unchanged, so that repeated
//! connects with the same settings share one.
//!
//! Building one costs about a millisecond of CPU with a root file (parsing the certificates,
//! the verifier's trust anchors); reading the files to compare them costs microseconds. The
//! files are read on every connect, so an edited root file or a renewed client certificate
//! takes effect on the next connect, as in libpq. `sslrootcert=system` is read when its entry
//! is built: a change to the system's trust store reaches new connections once the entry has
//! left the cache (it holds the last [`CACHED`] configurations).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};

use super::key;
use super::verify::{Chain, NoCertificateCheck};
use super::ALPN;
use crate::config::{RootCerts, SslCertMode, SslMode, TlsSettings, TlsVersion};
use crate::error::{Error, Result};

/// How many configurations are kept: one per distinct set of TLS settings in use.
const CACHED: usize = 16;

static CACHE: Mutex<Vec<(Material, Arc<ClientConfig>)>> = Mutex::new(Vec::new());

/// Everything a client configuration is built from: the settings and the bytes of each file
/// as read for this connect.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Material {
    roots: Roots,
    /// `verify-full`: the host name is checked too (only with roots).
    full: bool,
    /// Revocation lists, read only with roots (libpq checks them with the chain).
    crls: Vec<File>,
    /// `None` without a certificate file or with `sslcertmode=disable`.
    identity: Option<IdentityFiles>,
    sni: bool,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    None,
    System,
    File(File),
}

#[derive(Clone, PartialEq, Eq)]
struct IdentityFiles {
    cert: File,
    key: File,
    /// `sslpassword`, for an encrypted key.
    password: Option<String>,
}

impl std::fmt::Debug for IdentityFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityFiles")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A file's path and contents.
#[derive(Clone, PartialEq, Eq)]
struct File {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes)", self.path.display(), self.bytes.len())
    }
}

impl File {
    fn read(path: &Path, what: &str) -> Result<File> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::config(format!(
                "could not read {what} file \"{}\": {e}",
                path.display()
            ))
        })?;
        Ok(File {
            path: path.to_owned(),
            bytes,
        })
    }
}

/// The client configuration for `settings`: the cached one when the settings and the files'
/// contents are those it was built from, a new one otherwise.
pub(super) fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>> {
    let material = Material::read(settings)?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, config)) = cache.iter().find(|(m, _)| *m == material) {
        return Ok(config.clone());
    }
    drop(cache);
    let config = Arc::new(material.build()?);
    cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() == CACHED {
        cache.remove(0);
    }
    cache.push((material, config.clone()));
    Ok(config)
}

impl Material {
    fn read(settings: &TlsSettings) -> Result<Material> {
        let roots = match &settings.roots {
            RootCerts::None => Roots::None,
            RootCerts::System => Roots::System,
            RootCerts::File(path) => Roots::File(File::read(path, "root certificate")?),
        };
        let policy = &settings.policy;
        let crls = match roots {
            Roots::None => Vec::new(),
            _ => crl_files(policy.crl.as_deref(), policy.crl_dir.as_deref())?,
        };
        let identity = match policy.cert_mode {
            SslCertMode::Disable => None,
            SslCertMode::Allow | SslCertMode::Require => identity_files(settings)?,
        };
        Ok(Material {
            roots,
            full: settings.mode == SslMode::VerifyFull,
            crls,
            identity,
            sni: settings.sni,
            min_version: policy.min_version,
            max_version: policy.max_version,
        })
    }

    fn build(&self) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.root_store()? {
            None => Arc::new(NoCertificateCheck(provider.clone())),
            Some(roots) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .with_crls(self.crl_list()?)
                        .build()
                        .map_err(|e| {
                            Error::config(format!(
                                "invalid root certificates or revocation lists: {e}"
                            ))
                        })?;
                Arc::new(Chain {
                    webpki,
                    check_host: self.full,
                })
            }
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions()?)
            .map_err(|e| Error::config(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.identity {
            Some(files) => {
                let (certs, key) = files.parse()?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    Error::config(format!("the client certificate and key do not fit: {e}"))
                })?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.enable_sni = self.sni;
        Ok(config)
    }

    /// The TLS versions between the bounds that rustls speaks (1.2 and 1.3).
    fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>> {
        use rustls::version::{TLS12, TLS13};
        let max = self.max_version.unwrap_or(TlsVersion::Tls1_3);
        let min = self.min_version.unwrap_or(TlsVersion::Tls1_0);
        Ok(match (min, max) {
            (_, TlsVersion::Tls1_0 | TlsVersion::Tls1_1) => {
                return Err(Error::config(format!(
                    "ssl_max_protocol_version={}: jsonwire (rustls) speaks TLS 1.2 and 1.3 only",
                    max.as_str()
                )))
            }
            (TlsVersion::Tls1_3, _) => vec![&TLS13],
            (_, TlsVersion::Tls1_2) => vec![&TLS12],
            _ => vec![&TLS13, &TLS12],
        })
    }

    fn crl_list(&self) -> Result<Vec<CertificateRevocationListDer<'static>>> {
        let mut crls = Vec::new();
        for file in &self.crls {
            let found = CertificateRevocationListDer::pem_slice_iter(&file.bytes)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::config(format!(
                        "could not read certificate revocation list file \"{}\": {e}",
                        file.path.display()
                    ))
                })?;
            if found.is_empty() {
                return Err(Error::config(format!(
                    "certificate revocation list file \"{}\" holds no PEM X509 CRL",
                    file.path.display()
                )));
            }
            crls.extend(found);
        }
        Ok(crls)
    }

    fn root_store(&self) -> Result<Option<RootCertStore>> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            Roots::None => return Ok(None),
            Roots::File(file) => {
                let (added, _) = store.add_parsable_certificates(certs(file, "root certificate")?);
                if added == 0 {
                    return Err(Error::config(format!(
                        "root certificate file \"{}\" holds no usable certificate",
                        file.path.display()
                    )));
                }
            }
            Roots::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(Error::config(format!(
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
}

fn certs(file: &File, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(&file.bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::config(format!(
                "could not read {what} file \"{}\": {e}",
                file.path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{what} file \"{}\" holds no PEM certificate",
            file.path.display()
        )));
    }
    Ok(certs)
}

/// The client certificate chain and key.
type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl IdentityFiles {
    fn parse(&self) -> Result<Identity> {
        let certs = certs(&self.cert, "client certificate")?;
        if let Some(key) = key::decrypt(&self.key.bytes, &self.key.path, self.password.as_deref())?
        {
            return Ok((certs, key));
        }
        // PKCS#8, PKCS#1 (RSA) and SEC1 (EC) PEM blocks alike.
        let key = PrivateKeyDer::from_pem_slice(&self.key.bytes).map_err(|e| {
            Error::config(format!(
                "could not load private key file \"{}\": {e} (PKCS#8, PKCS#1 or SEC1 PEM, \
                 unencrypted)",
                self.key.path.display()
            ))
        })?;
        Ok((certs, key))
    }
}

/// The client certificate and key files, when a certificate file exists (libpq skips a
/// missing one silently, whether named or the default).
fn identity_files(settings: &TlsSettings) -> Result<Option<IdentityFiles>> {
    let Some(cert) = settings.cert.as_deref().filter(|p| p.exists()) else {
        return Ok(None);
    };
    let cert = File::read(cert, "client certificate")?;
    let Some(key) = settings.key.as_deref().filter(|p| p.exists()) else {
        return Err(Error::config(format!(
            "certificate present, but not private key file{}",
            settings
                .key
                .as_deref()
                .map(|p| format!(" \"{}\"", p.display()))
                .unwrap_or_default()
        )));
    };
    check_key_permissions(key)?;
    let key = File::read(key, "private key")?;
    Ok(Some(IdentityFiles {
        cert,
        key,
        password: settings.policy.password.clone(),
    }))
}

/// The `sslcrl` file and the `sslcrldir` lists (`HASH.rN`, as `openssl rehash` names them).
/// A file or directory that does not exist is skipped, as libpq skips it.
fn crl_files(file: Option<&Path>, dir: Option<&Path>) -> Result<Vec<File>> {
    let what = "certificate revocation list";
    let mut files = Vec::new();
    if let Some(path) = file.filter(|p| p.is_file()) {
        files.push(File::read(path, what)?);
    }
    if let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .and_then(|e| e.strip_prefix('r'))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        paths.sort();
        for path in paths {
            files.push(File::read(&path, what)?);
        }
    }
    Ok(files)
}

/// libpq refuses a key others can read: 0600 or less, or 0640 or less when root owns it.
#[cfg(unix)]
fn check_key_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::config(format!(
            "could not read private key file \"{}\": {e}",
            path.display()
        ))
    })?;
    let mode = meta.mode() & 0o777;
    let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(Error::config(format!(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SslPolicy;

    fn settings(roots: RootCerts, sni: bool) -> TlsSettings {
        TlsSettings {
            mode: SslMode::Require,
            configured_mode: SslMode::Require,
            roots,
            cert: None,
            key: None,
            sni,
            negotiation: crate::SslNegotiation::Postgres,
            policy: SslPolicy::resolve(&Default::default(), &|_| None, None).unwrap(),
        }
    }

    #[test]
    fn equal_settings_share_one_configuration_and_a_changed_file_does_not() {
        let a = client_config(&settings(RootCerts::None, true)).unwrap();
        let b = client_config(&settings(RootCerts::None, true)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = client_config(&settings(RootCerts::None, false)).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));

        let dir = std::env::temp_dir().join(format!("jw-tls-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.join("root.crt");
        std::fs::write(&root, "one").unwrap();
        let with_root = settings(RootCerts::File(root.clone()), true);
        let first = Material::read(&with_root).unwrap();
        assert_eq!(Material::read(&with_root).unwrap(), first);
        std::fs::write(&root, "two").unwrap();
        assert_ne!(Material::read(&with_root).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
