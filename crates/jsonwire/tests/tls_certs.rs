//! Certificates the kit does not make, made with the openssl command-line tool: server
//! certificates signed with SHA-384 and SHA-512 (channel binding) or naming their host only in
//! the common name, served by a private cluster whose certificate a test swaps (`ALTER SYSTEM
//! SET ssl_cert_file`, then a reload); revocation lists, encrypted client keys, and the
//! `sslcertmode` and TLS version keys against the shared server and a private one.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::server;
use jsonwire::{Client, Error};
use jsonwire_testkit::tls::CERT_USER;
use jsonwire_testkit::{PgServer, Role, TlsFiles};

fn files() -> &'static TlsFiles {
    server()
        .tls()
        .expect("the test server runs with ssl=on (its binary has SSL support)")
}

/// A scratch directory where the openssl tool runs.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("jw-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn openssl(&self, args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&self.0)
            .output()
            .expect("the openssl command-line tool");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Makes a key file readable by its owner only, as libpq and Postgres require.
    fn private(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn connect_err(conninfo: &str) -> String {
    match Client::connect(conninfo).await {
        Ok(_) => panic!("{conninfo}: connected, expected an error"),
        Err(e) => e.to_string(),
    }
}

/// What `pg_stat_ssl` says of this session: `ssl|version`.
async fn ssl_status(c: &mut Client) -> String {
    let mut rows = c
        .sql(
            "SELECT to_jsonb(ssl::text || '|' || coalesce(version, '')) FROM pg_stat_ssl \
             WHERE pid = pg_backend_pid()",
        )
        .stream_raw()
        .await
        .unwrap();
    let v = String::from_utf8(rows.try_next().await.unwrap().unwrap().to_vec()).unwrap();
    v.trim_matches('"').to_owned()
}

/// A private cluster with TLS on, and a scratch directory for certificates.
struct Lab {
    server: PgServer,
    dir: Scratch,
}

impl Lab {
    fn start(name: &str) -> Lab {
        let server = PgServer::builder()
            .tls(true)
            .start()
            .unwrap_or_else(|e| panic!("no Postgres for the tests: {e}"));
        assert!(server.tls().is_some(), "the server binary has SSL support");
        Lab {
            server,
            dir: Scratch::new(name),
        }
    }

    fn openssl(&self, args: &[&str]) {
        self.dir.openssl(args)
    }

    /// A self-signed CA: `newkey` is openssl's `-newkey` argument (`rsa:2048`, `ec`), `opts`
    /// its `-pkeyopt`s.
    fn ca(&self, name: &str, newkey: &str, opts: &[&str], digest: &str) -> PathBuf {
        let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
        let mut args = vec!["req", "-x509", "-newkey", newkey];
        for opt in opts {
            args.extend(["-pkeyopt", opt]);
        }
        args.extend([
            "-nodes",
            "-keyout",
            &key,
            "-subj",
            "/CN=jsonwire lab CA",
            digest,
            "-days",
            "1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &crt,
        ]);
        self.openssl(&args);
        self.dir.path(&crt)
    }

    /// A server certificate for localhost and 127.0.0.1 signed by the CA `ca` with `digest`
    /// (`-sha384`), its key made like the CA's. Returns the certificate and key paths.
    fn server_cert(
        &self,
        name: &str,
        ca: &str,
        newkey: &str,
        opts: &[&str],
        digest: &str,
    ) -> (PathBuf, PathBuf) {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        let mut args = vec!["req", "-new", "-newkey", newkey];
        for opt in opts {
            args.extend(["-pkeyopt", opt]);
        }
        args.extend([
            "-nodes",
            "-keyout",
            &key,
            "-subj",
            "/CN=localhost",
            "-out",
            &csr,
        ]);
        self.openssl(&args);
        let san = if name.starts_with("cn-only") {
            ""
        } else {
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        };
        std::fs::write(
            self.dir.path(&format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n{san}"),
        )
        .unwrap();
        let (ca_crt, ca_key, ext) = (
            format!("{ca}.crt"),
            format!("{ca}.key"),
            format!("{name}.ext"),
        );
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            digest,
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ]);
        let key = self.dir.private(&key);
        // The server reads the key as the user it runs as.
        if let Some(user) = self.server.os_user().unwrap() {
            let status = std::process::Command::new("chown")
                .arg(&user)
                .arg(&key)
                .status()
                .unwrap();
            assert!(status.success(), "chown {user} {}", key.display());
        }
        (self.dir.path(&crt), key)
    }

    /// Makes the server present `cert` from the next connection on.
    fn serve(&self, cert: &Path, key: &Path) {
        self.server
            .run_sql(&format!(
                "ALTER SYSTEM SET ssl_cert_file = '{}'; ALTER SYSTEM SET ssl_key_file = '{}'; \
                 SELECT pg_reload_conf();",
                cert.display(),
                key.display()
            ))
            .unwrap();
    }

    /// Connects until `conninfo` succeeds, for up to 10 s: the reload reaches the postmaster
    /// asynchronously.
    async fn connect_after_reload(&self, conninfo: &str) -> Result<Client, Error> {
        let start = Instant::now();
        loop {
            match Client::connect(conninfo).await {
                Ok(c) => return Ok(c),
                Err(e) if start.elapsed() > Duration::from_secs(10) => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// RFC 5929: the channel binding hashes the certificate with its signature's hash, so a
/// server certificate signed with SHA-384 (ECDSA) or SHA-512 (RSA) binds only when the client
/// picks that hash too: SCRAM-SHA-256-PLUS with `channel_binding=require` logs in for each.
#[tokio::test]
async fn channel_binding_uses_sha384_and_sha512_certificate_hashes() {
    let lab = Lab::start("cbind");
    let scram = lab.server.url_for(Role::Scram).unwrap();
    let ec = ["ec_paramgen_curve:P-384"];
    let cases = [
        ("ec384", "ec", &ec[..], "-sha384", "ecdsa-with-SHA384"),
        (
            "rsa512",
            "rsa:2048",
            &[][..],
            "-sha512",
            "sha512WithRSAEncryption",
        ),
    ];
    for (name, newkey, opts, digest, algorithm) in cases {
        let ca_name = format!("{name}-ca");
        let ca = lab.ca(&ca_name, newkey, opts, digest);
        let (cert, key) = lab.server_cert(name, &ca_name, newkey, opts, digest);
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&text.stdout).contains(algorithm),
            "{name} is signed with {algorithm}"
        );
        lab.serve(&cert, &key);
        // verify-full against this CA alone proves the server presents the new certificate.
        let conninfo = format!(
            "{scram}?sslmode=verify-full&sslrootcert={}&channel_binding=require",
            ca.display()
        );
        let mut c = lab
            .connect_after_reload(&conninfo)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut rows = c
            .sql("SELECT to_jsonb(ssl) FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .stream_raw()
            .await
            .unwrap();
        let ssl = rows.try_next().await.unwrap().unwrap();
        assert!(ssl == "true", "{name}: {ssl:?}");
    }
}

/// A certificate naming `localhost` only in its CN: libpq's verify-full accepts it, webpki does
/// not, and the error says why; verify-ca, which checks the chain only, connects.
#[tokio::test]
async fn cn_only_certificates_fail_verify_full_saying_why() {
    let lab = Lab::start("cn-only");
    let kit = lab.server.tls().unwrap();
    std::fs::copy(&kit.ca_cert, lab.dir.path("kit-ca.crt")).unwrap();
    std::fs::copy(&kit.ca_key, lab.dir.path("kit-ca.key")).unwrap();
    let (cert, key) = lab.server_cert(
        "cn-only",
        "kit-ca",
        "ec",
        &["ec_paramgen_curve:P-256"],
        "-sha256",
    );
    lab.serve(&cert, &key);
    let base = format!(
        "host=localhost port={} user=postgres dbname=postgres sslrootcert={}",
        lab.server.port(),
        kit.ca_cert.display()
    );
    // verify-ca connects once the reload has happened; then verify-full must fail.
    lab.connect_after_reload(&format!("{base} sslmode=verify-ca"))
        .await
        .unwrap();
    let err = connect_err(&format!("{base} sslmode=verify-full")).await;
    assert!(
        err.contains("no subjectAltName extension, only a common name"),
        "{err}"
    );
}

/// Revocation lists made by `openssl ca`: an empty list lets the server's certificate through,
/// one that revokes it refuses it, read from `sslcrl` or from an `sslcrldir` prepared with
/// `openssl rehash`.
#[tokio::test]
async fn revoked_server_certificates_are_refused() {
    let s = server();
    let f = files();
    let dir = Scratch::new("crl");
    std::fs::write(
        dir.path("ca.cnf"),
        // A CRL number and extensions make version 2 lists, the only ones webpki reads.
        "[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\ndefault_md = sha256\n\
         default_crl_days = 1\ncrlnumber = crlnumber\ncrl_extensions = crl_ext\n\
         [crl_ext]\nauthorityKeyIdentifier = keyid:always\n",
    )
    .unwrap();
    std::fs::write(dir.path("index.txt"), "").unwrap();
    std::fs::write(dir.path("crlnumber"), "01\n").unwrap();
    let (ca, ca_key) = (f.ca_cert.to_str().unwrap(), f.ca_key.to_str().unwrap());
    let gencrl = |out: &str| {
        dir.openssl(&[
            "ca", "-config", "ca.cnf", "-gencrl", "-cert", ca, "-keyfile", ca_key, "-out", out,
        ])
    };
    gencrl("empty.crl");
    dir.openssl(&[
        "ca",
        "-config",
        "ca.cnf",
        "-revoke",
        f.server_cert.to_str().unwrap(),
        "-cert",
        ca,
        "-keyfile",
        ca_key,
    ]);
    gencrl("revoked.crl");
    std::fs::create_dir(dir.path("crls")).unwrap();
    std::fs::copy(dir.path("revoked.crl"), dir.path("crls/revoked.pem")).unwrap();
    dir.openssl(&["rehash", "crls"]);

    let base = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full \
         sslrootcert={ca}",
        s.port()
    );
    let mut c = Client::connect(&format!(
        "{base} sslcrl={}",
        dir.path("empty.crl").display()
    ))
    .await
    .unwrap();
    assert_eq!(ssl_status(&mut c).await.split('|').next(), Some("true"));
    for key in [
        format!("sslcrl={}", dir.path("revoked.crl").display()),
        format!("sslcrldir={}", dir.path("crls").display()),
    ] {
        let err = connect_err(&format!("{base} {key}")).await;
        assert!(err.contains("the certificate is revoked"), "{key}: {err}");
    }
    // libpq skips a list that does not exist.
    Client::connect(&format!("{base} sslcrl=/nonexistent/root.crl"))
        .await
        .unwrap();
}

/// An encrypted PKCS#8 client key logs in with `sslpassword`; without it, with a wrong one,
/// or in OpenSSL's legacy encryption, the error names the key file and what to do.
#[tokio::test]
async fn encrypted_client_keys_are_read_with_sslpassword() {
    let s = server();
    let f = files();
    let dir = Scratch::new("enc-key");
    let plain = f.client_key.to_str().unwrap();
    dir.openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        plain,
        "-out",
        "enc.key",
        "-passout",
        "pass:s3cret",
    ]);
    dir.openssl(&[
        "ec",
        "-in",
        plain,
        "-aes256",
        "-out",
        "legacy.key",
        "-passout",
        "pass:s3cret",
    ]);
    let enc = dir.private("enc.key");
    let legacy = dir.private("legacy.key");
    let conninfo = |key: &Path, extra: &str| {
        format!(
            "host=127.0.0.1 port={} user={CERT_USER} dbname=postgres sslmode=require \
             sslcert={} sslkey={} {extra}",
            s.port(),
            f.client_cert.display(),
            key.display()
        )
    };
    let good = conninfo(&enc, "sslpassword=s3cret");
    assert!(!jsonwire::Config::parse(&good)
        .unwrap()
        .to_string()
        .contains("s3cret"));
    Client::connect(&good).await.unwrap();
    let err = connect_err(&conninfo(&enc, "")).await;
    assert!(err.contains("is encrypted: set sslpassword"), "{err}");
    let err = connect_err(&conninfo(&enc, "sslpassword=wrong")).await;
    assert!(err.contains("could not decrypt private key file"), "{err}");
    let err = connect_err(&conninfo(&legacy, "sslpassword=s3cret")).await;
    assert!(err.contains("legacy format"), "{err}");
}

/// `sslcertmode`: `disable` keeps the certificate back (so cert auth fails), `require` needs
/// a server that asks for one and a certificate to send, and TLS.
#[tokio::test]
async fn sslcertmode_decides_whether_the_client_certificate_goes() {
    let s = server();
    let f = files();
    let cert = format!(
        "sslcert={} sslkey={}",
        f.client_cert.display(),
        f.client_key.display()
    );
    let kv = |user: &str, extra: &str| {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=require {extra}",
            s.port()
        )
    };
    Client::connect(&kv(CERT_USER, &format!("{cert} sslcertmode=require")))
        .await
        .unwrap();
    connect_err(&kv(CERT_USER, &format!("{cert} sslcertmode=disable"))).await;
    let err = connect_err(&kv(
        "postgres",
        "sslcert=/nonexistent/client.crt sslcertmode=require",
    ))
    .await;
    assert!(err.contains("none is configured"), "{err}");
    let err = connect_err(&format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable sslcertmode=require",
        s.port()
    ))
    .await;
    assert!(err.contains("does not use TLS"), "{err}");
}

/// The TLS version bounds reach the handshake (`pg_stat_ssl.version`); a maximum rustls
/// cannot speak is refused before connecting; and against a server that asks for no client
/// certificate and stops at TLS 1.2, `sslcertmode=require` and a TLS 1.3 minimum fail with
/// errors that say so.
#[tokio::test]
async fn tls_version_bounds_and_a_server_that_asks_for_no_certificate() {
    let s = server();
    let kv = |extra: &str| {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=require {extra}",
            s.port()
        )
    };
    let mut c = Client::connect(&kv("ssl_max_protocol_version=TLSv1.2"))
        .await
        .unwrap();
    assert_eq!(ssl_status(&mut c).await, "true|TLSv1.2");
    let mut c = Client::connect(&kv("ssl_min_protocol_version=tlsv1.3"))
        .await
        .unwrap();
    assert_eq!(ssl_status(&mut c).await, "true|TLSv1.3");
    // As in libpq, the default minimum (TLS 1.2) is above a maximum of 1.1.
    let err = connect_err(&kv("ssl_max_protocol_version=TLSv1.1")).await;
    assert!(err.contains("invalid SSL protocol version range"), "{err}");
    let err = connect_err(&kv(
        "ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1.1",
    ))
    .await;
    assert!(err.contains("speaks TLS 1.2 and 1.3 only"), "{err}");

    let lab = Lab::start("no-client-cert");
    lab.server
        .run_sql(
            "ALTER SYSTEM SET ssl_ca_file = ''; \
             ALTER SYSTEM SET ssl_max_protocol_version = 'TLSv1.2'; SELECT pg_reload_conf();",
        )
        .unwrap();
    let lab_kv = |extra: &str| {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=require {extra}",
            lab.server.port()
        )
    };
    // The reload has happened once a connection without bounds gets TLS 1.2.
    let start = Instant::now();
    loop {
        let mut c = Client::connect(&lab_kv("")).await.unwrap();
        match ssl_status(&mut c).await.as_str() {
            "true|TLSv1.2" => break,
            other if start.elapsed() > Duration::from_secs(10) => panic!("after reload: {other}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let err = connect_err(&lab_kv("sslcertmode=require")).await;
    assert!(
        err.contains("server did not request an SSL certificate"),
        "{err}"
    );
    let err = connect_err(&lab_kv("ssl_min_protocol_version=TLSv1.3")).await;
    assert!(err.contains("no TLS version in common"), "{err}");
}

/// A server certificate outside its validity period: signed again with `openssl ca` and dates
/// in the past (then in the future), served by a private cluster; the error names the check.
#[tokio::test]
async fn expired_and_not_yet_valid_server_certificates_say_so() {
    let lab = Lab::start("expired");
    let ec = ["ec_paramgen_curve:P-256"];
    let ca = lab.ca("exp-ca", "ec", &ec, "-sha256");
    let (cert, key) = lab.server_cert("dated", "exp-ca", "ec", &ec, "-sha256");
    std::fs::write(
        lab.dir.path("ca.cnf"),
        "[ca]\ndefault_ca = lab\n[lab]\ndatabase = index.txt\nnew_certs_dir = .\n\
         serial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
    )
    .unwrap();
    std::fs::write(lab.dir.path("serial"), "1000\n").unwrap();
    let conninfo = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full \
         sslrootcert={}",
        lab.server.port(),
        ca.display()
    );
    for (start, end, needle) in [
        (
            "20200101000000Z",
            "20200102000000Z",
            "the certificate has expired",
        ),
        (
            "20990101000000Z",
            "20990102000000Z",
            "the certificate is not valid yet",
        ),
    ] {
        std::fs::write(lab.dir.path("index.txt"), "").unwrap();
        lab.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "exp-ca.crt",
            "-keyfile",
            "exp-ca.key",
            "-in",
            "dated.csr",
            "-startdate",
            start,
            "-enddate",
            end,
            "-extfile",
            "dated.ext",
            "-out",
            "dated.crt",
        ]);
        lab.serve(&cert, &key);
        // Until the reload reaches the postmaster the kit's certificate (another CA) is served.
        let started = Instant::now();
        let err = loop {
            let err = connect_err(&conninfo).await;
            if err.contains(needle) || started.elapsed() > Duration::from_secs(10) {
                break err;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(err.contains(needle), "{start}..{end}: {err}");
    }
}

/// A client certificate from a CA the server does not trust: the server's TLS alert is named
/// as a rejection of the client certificate, over TLS 1.2 (the alert ends the handshake) and
/// TLS 1.3 (it arrives after the client's side of the handshake, on the first read).
#[tokio::test]
async fn a_client_certificate_the_server_rejects_is_named() {
    let s = server();
    let dir = Scratch::new("rejected-cert");
    dir.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "stranger-ca.key",
        "-subj",
        "/CN=a CA the server does not know",
        "-days",
        "1",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        "stranger-ca.crt",
    ]);
    dir.openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "client.key",
        "-subj",
        &format!("/CN={CERT_USER}"),
        "-out",
        "client.csr",
    ]);
    std::fs::write(
        dir.path("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    dir.openssl(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "stranger-ca.crt",
        "-CAkey",
        "stranger-ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "client.ext",
        "-out",
        "client.crt",
    ]);
    let key = dir.private("client.key");
    for version in ["TLSv1.2", "TLSv1.3"] {
        let err = connect_err(&format!(
            "host=127.0.0.1 port={} user={CERT_USER} dbname=postgres sslmode=require \
             sslcert={} sslkey={} ssl_min_protocol_version={version} \
             ssl_max_protocol_version={version}",
            s.port(),
            dir.path("client.crt").display(),
            key.display()
        ))
        .await;
        assert!(
            err.contains("the server rejected the client certificate"),
            "{version}: {err}"
        );
    }
}
