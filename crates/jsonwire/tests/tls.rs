//! TLS against the real server (ssl=on with the kit's certificates) and a TLS-only fake
//! endpoint: libpq's sslmode table proven with pg_stat_ssl and hostssl/hostnossl-only roles,
//! certificate checks, client certificates, channel binding, direct TLS and cancel over TLS.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{activity, server, wait_until};
use jsonwire::{Client, ErrorKind};
use jsonwire_testkit::tls::{CERT_USER, NO_SSL_USER, OTHER_HOST, SSL_ONLY_USER};
use jsonwire_testkit::{PgServer, Role, TlsFiles};
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn files() -> &'static TlsFiles {
    server()
        .tls()
        .expect("the test server runs with ssl=on (its binary has SSL support)")
}

fn kv(s: &PgServer, user: &str, extra: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} dbname=postgres {extra}",
        s.port()
    )
}

/// Whether this session's connection is encrypted, as the server sees it.
async fn server_says_ssl(c: &mut Client) -> bool {
    let mut rows = c
        .sql("SELECT to_jsonb(ssl) FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .stream_raw()
        .await
        .unwrap();
    let v = rows.try_next().await.unwrap().unwrap();
    v == "true"
}

/// What each sslmode did against each kind of pg_hba line: `Some(ssl)` connected (with or
/// without TLS), `None` refused. libpq's documented table plus its retries: `allow` retries
/// with TLS and `prefer` without when the server rejects the first attempt.
#[tokio::test]
async fn sslmode_matrix_against_a_tls_server_follows_libpq() {
    let s = server();
    let root = format!("sslrootcert={}", files().ca_cert.display());
    let modes = [
        ("disable", [Some(false), None, Some(false)]),
        ("allow", [Some(false), Some(true), Some(false)]),
        ("prefer", [Some(true), Some(true), Some(false)]),
        ("require", [Some(true), Some(true), None]),
        ("verify-ca", [Some(true), Some(true), None]),
        ("verify-full", [Some(true), Some(true), None]),
    ];
    for (mode, expected) in modes {
        for (user, want) in ["postgres", SSL_ONLY_USER, NO_SSL_USER]
            .iter()
            .zip(expected)
        {
            let conninfo = kv(s, user, &format!("sslmode={mode} {root}"));
            match (Client::connect(&conninfo).await, want) {
                (Ok(mut c), Some(ssl)) => {
                    assert_eq!(server_says_ssl(&mut c).await, ssl, "{mode} {user}");
                }
                (Err(e), None) => {
                    assert!(
                        matches!(e.kind(), ErrorKind::Auth | ErrorKind::Connect),
                        "{mode} {user}: {e}"
                    );
                }
                (Ok(_), None) => panic!("{mode} {user}: connected, expected a refusal"),
                (Err(e), Some(_)) => panic!("{mode} {user}: {e}"),
            }
        }
    }
}

/// As in libpq, TLS is never tried on a Unix socket, whatever `sslmode` says: `require` and
/// `verify-full` connect in plaintext there.
#[tokio::test]
async fn a_unix_socket_never_uses_tls_whatever_the_sslmode() {
    let s = server();
    let dir = s.socket_dir().unwrap().display().to_string();
    for mode in ["require", "verify-full"] {
        let conninfo = format!(
            "host={dir} port={} user=postgres dbname=postgres sslmode={mode} sslrootcert={}",
            s.port(),
            files().ca_cert.display()
        );
        let mut c = Client::connect(&conninfo)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(!server_says_ssl(&mut c).await, "{mode}");
    }
}

#[tokio::test]
async fn sslmode_against_a_server_without_tls() {
    let s = PgServer::builder().tls(false).start().unwrap();
    for (mode, connects) in [
        ("disable", true),
        ("allow", true),
        ("prefer", true),
        ("require", false),
        ("verify-ca", false),
        ("verify-full", false),
    ] {
        let root = format!("sslrootcert={}", files().ca_cert.display());
        let result = Client::connect(&kv(&s, "postgres", &format!("sslmode={mode} {root}"))).await;
        match (result, connects) {
            (Ok(mut c), true) => assert!(!server_says_ssl(&mut c).await, "{mode}"),
            (Err(e), false) => {
                assert_eq!(e.kind(), ErrorKind::Connect, "{mode}: {e}");
                assert!(
                    e.to_string()
                        .contains(&format!("does not support SSL, but sslmode={mode}")),
                    "{mode}: {e}"
                );
            }
            (Ok(_), false) => panic!("{mode}: connected without TLS"),
            (Err(e), true) => panic!("{mode}: {e}"),
        }
    }
}

#[tokio::test]
async fn verification_failures_say_which_check_failed() {
    let s = server();
    let f = files();
    let cases = [
        (
            format!(
                "host={OTHER_HOST} hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={}",
                f.ca_cert.display()
            ),
            format!("not valid for host \"{OTHER_HOST}\""),
        ),
        (
            format!(
                "host=127.0.0.1 sslmode=verify-full sslrootcert={}",
                f.unknown_ca_cert.display()
            ),
            "unknown CA".to_owned(),
        ),
        (
            // libpq: require with a root certificate file verifies the chain.
            format!(
                "host=127.0.0.1 sslmode=require sslrootcert={}",
                f.unknown_ca_cert.display()
            ),
            "unknown CA".to_owned(),
        ),
        (
            "host=127.0.0.1 sslmode=verify-ca sslrootcert=/nonexistent/root.crt".to_owned(),
            "does not exist".to_owned(),
        ),
    ];
    for (conninfo, needle) in cases {
        let conninfo = format!("{conninfo} port={} user=postgres dbname=postgres", s.port());
        let err = Client::connect(&conninfo).await.unwrap_err();
        assert!(err.to_string().contains(&needle), "{conninfo}: {err}");
    }
    // verify-ca checks the chain only, so the other name is accepted.
    let conninfo = format!(
        "host={OTHER_HOST} hostaddr=127.0.0.1 port={} user=postgres dbname=postgres \
         sslmode=verify-ca sslrootcert={}",
        s.port(),
        f.ca_cert.display()
    );
    let mut c = Client::connect(&conninfo).await.unwrap();
    assert!(server_says_ssl(&mut c).await);
}

#[tokio::test]
async fn a_client_certificate_logs_in_with_cert_auth() {
    let s = server();
    let f = files();
    let with_cert = format!(
        "sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        f.ca_cert.display(),
        f.client_cert.display(),
        f.client_key.display()
    );
    let mut c = Client::connect(&kv(s, CERT_USER, &with_cert))
        .await
        .unwrap();
    let mut rows = c
        .sql("SELECT to_jsonb(current_user)")
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(
        rows.try_next().await.unwrap().unwrap(),
        format!("\"{CERT_USER}\"")
    );
    drop(rows);
    let err = Client::connect(&kv(s, CERT_USER, "sslmode=require"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

/// Client keys in the other PEM forms libpq reads: SEC1 (`EC PRIVATE KEY`) and PKCS#1
/// (`RSA PRIVATE KEY`), made with the openssl command-line tool.
#[tokio::test]
async fn client_keys_in_sec1_and_pkcs1_form_load() {
    let s = server();
    let f = files();
    let dir = std::env::temp_dir().join(format!("jw-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("the openssl command-line tool");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let client_key = f.client_key.to_str().unwrap();
    openssl(&[
        "pkey",
        "-in",
        client_key,
        "-traditional",
        "-out",
        "sec1.key",
    ]);
    openssl(&["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    openssl(&[
        "req",
        "-new",
        "-key",
        "rsa.key",
        "-subj",
        &format!("/CN={CERT_USER}"),
        "-out",
        "rsa.csr",
    ]);
    // Extensions make it an X.509 v3 certificate, which webpki requires.
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "rsa.csr",
        "-CA",
        f.ca_cert.to_str().unwrap(),
        "-CAkey",
        f.ca_key.to_str().unwrap(),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "rsa.crt",
    ]);
    for (cert, key, header) in [
        (
            f.client_cert.clone(),
            dir.join("sec1.key"),
            "-----BEGIN EC PRIVATE KEY-----",
        ),
        (
            dir.join("rsa.crt"),
            dir.join("rsa.key"),
            "-----BEGIN RSA PRIVATE KEY-----",
        ),
    ] {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(std::fs::read_to_string(&key).unwrap().starts_with(header));
        let conninfo = kv(
            s,
            CERT_USER,
            &format!(
                "sslmode=require sslcert={} sslkey={}",
                cert.display(),
                key.display()
            ),
        );
        Client::connect(&conninfo)
            .await
            .unwrap_or_else(|e| panic!("{header}: {e}"));
    }
    // A key others can read is refused, as libpq refuses it.
    let key = dir.join("sec1.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let conninfo = kv(
            s,
            CERT_USER,
            &format!(
                "sslmode=require sslcert={} sslkey={}",
                f.client_cert.display(),
                key.display()
            ),
        );
        let err = Client::connect(&conninfo).await.unwrap_err();
        assert!(err.to_string().contains("group or world access"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn scram_binds_to_the_tls_channel_when_offered() {
    let s = server();
    let scram = s.url_for(Role::Scram).unwrap();
    // Only SCRAM-SHA-256-PLUS can satisfy channel_binding=require.
    let mut c = Client::connect(&format!("{scram}?sslmode=require&channel_binding=require"))
        .await
        .unwrap();
    assert!(server_says_ssl(&mut c).await);
    let md5 = s.url_for(Role::Md5).unwrap();
    let err = Client::connect(&format!("{md5}?sslmode=require&channel_binding=require"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("channel_binding=require"), "{err}");
    let err = Client::connect(&format!("{scram}?sslmode=disable&channel_binding=require"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not use TLS"), "{err}");
    // channel_binding=disable still logs in, without binding.
    Client::connect(&format!("{scram}?sslmode=require&channel_binding=disable"))
        .await
        .unwrap();
}

#[tokio::test]
async fn direct_tls_works_from_postgres_17() {
    let s = server();
    let conninfo = kv(s, "postgres", "sslmode=require sslnegotiation=direct");
    let result = Client::connect(&conninfo).await;
    if s.server_version_num() >= 170000 {
        let mut c = result.unwrap();
        assert!(server_says_ssl(&mut c).await);
    } else {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    }
    let err = Client::connect(&kv(s, "postgres", "sslmode=prefer sslnegotiation=direct"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

const ENDLESS: &str =
    "SELECT jsonb_build_object('i', i) FROM (SELECT generate_series(1, 50000000) AS i) s";

/// Dropping a stream cancels its query over TLS, on protocol 3.0 and (on Postgres 18, with
/// its 32-byte cancel key) 3.2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_drop_works_over_tls() {
    let s = server();
    for version in ["3.0", "latest"] {
        let conninfo = kv(
            s,
            "postgres",
            &format!("sslmode=require max_protocol_version={version}"),
        );
        let mut c = Client::connect(&conninfo).await.unwrap();
        let token = c.cancel_token().unwrap();
        assert!(token.uses_tls());
        let pid = c.backend_pid().unwrap();
        let mut rows = c.sql(ENDLESS).stream_raw().await.unwrap();
        for _ in 0..100 {
            rows.try_next().await.unwrap().unwrap();
        }
        drop(rows);
        let idle = tokio::task::spawn_blocking(move || {
            wait_until(Duration::from_secs(10), || {
                activity(pid).starts_with("idle|")
            })
        })
        .await
        .unwrap();
        assert!(idle, "{version}: the query was not cancelled");
        assert_eq!(
            c.backend_pid(),
            Some(pid),
            "{version}: the connection is reused"
        );
    }
}

/// A fake endpoint that speaks only TLS (as some proxies and poolers do): it records whether
/// the CancelRequest arrived inside TLS.
#[tokio::test]
async fn cancel_requests_travel_inside_tls_to_a_tls_only_endpoint() {
    let f = files();
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(&f.server_cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&f.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let key: [u8; 8] = [0, 0, 0, 77, 9, 8, 7, 6];
    let endpoint = tokio::spawn(async move {
        let mut cancels = Vec::new();
        let mut held = Vec::new();
        for _ in 0..2 {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            tcp.read_exact(&mut request).await.unwrap();
            if request[4..] != [0x04, 0xd2, 0x16, 0x2f] {
                cancels.push(("plaintext", request.to_vec()));
                continue;
            }
            tcp.write_all(b"S").await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut len = [0u8; 4];
            tls.read_exact(&mut len).await.unwrap();
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize - 4];
            tls.read_exact(&mut body).await.unwrap();
            if body[..4] == [0x04, 0xd2, 0x16, 0x2e] {
                cancels.push(("tls", body[4..].to_vec()));
                continue;
            }
            let mut reply = vec![b'R', 0, 0, 0, 8, 0, 0, 0, 0, b'K', 0, 0, 0, 12];
            reply.extend_from_slice(&key);
            reply.extend_from_slice(b"Z\0\0\0\x05I");
            tls.write_all(&reply).await.unwrap();
            held.push(tls);
        }
        cancels
    });
    let c = Client::connect(&format!(
        "host=127.0.0.1 port={port} user=u sslmode=verify-full sslrootcert={}",
        f.ca_cert.display()
    ))
    .await
    .unwrap();
    let token = c.cancel_token().unwrap();
    assert!(token.uses_tls());
    token.cancel_query().await.unwrap();
    let cancels = tokio::time::timeout(Duration::from_secs(10), endpoint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancels, [("tls", key.to_vec())]);
}
