//! The startup exchange end to end: authentication policy against the real server, and fake
//! servers for what a real one never does (ask for a forbidden method, switch methods in the
//! middle of SCRAM, negotiate an older protocol, send no cancel key).

mod common;

use std::time::Duration;

use common::server;
use jsonwire::{Client, Config, ErrorKind, ProtocolVersion};
use jsonwire_testkit::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn auth(code: i32, rest: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(rest);
    msg(b'R', &body)
}

/// The StartupMessage body; an SSLRequest before it (sslmode=prefer) is answered `N`, as a
/// server without TLS does.
async fn read_startup(sock: &mut TcpStream) -> Vec<u8> {
    loop {
        let mut len = [0u8; 4];
        sock.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize - 4];
        sock.read_exact(&mut body).await.unwrap();
        if body != [0x04, 0xd2, 0x16, 0x2f] {
            return body;
        }
        sock.write_all(b"N").await.unwrap();
    }
}

/// A fake server for one connection: reads the StartupMessage, writes `script`, then records
/// every byte the client sends until it hangs up (or 5 s pass). Returns the port and the
/// recording (StartupMessage body first).
async fn fake(script: Vec<u8>) -> (u16, JoinHandle<(Vec<u8>, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let startup = read_startup(&mut sock).await;
        sock.write_all(&script).await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut rest)).await;
        (startup, rest)
    });
    (port, task)
}

fn url(port: u16, extra: &str) -> String {
    format!("host=127.0.0.1 port={port} user=u password=s3cret-pw {extra}")
}

/// Whether a recording holds a PasswordMessage/SASL response (`p`) or the password itself.
fn sent_a_secret(recorded: &[u8]) -> bool {
    recorded.first() == Some(&b'p') || recorded.windows(9).any(|w| w == b"s3cret-pw")
}

#[tokio::test]
async fn require_auth_refusals_send_no_password_to_a_fake_server() {
    let cases = [
        ("require_auth=scram-sha-256", auth(3, b""), "cleartext"),
        ("require_auth=scram-sha-256", auth(5, &[1, 2, 3, 4]), "MD5"),
        ("require_auth=!password", auth(3, b""), "cleartext"),
        (
            "require_auth=md5,password",
            auth(10, b"SCRAM-SHA-256\0\0"),
            "SCRAM",
        ),
        ("require_auth=none", auth(5, &[1, 2, 3, 4]), "MD5"),
        (
            "channel_binding=require",
            auth(3, b""),
            "channel_binding=require",
        ),
        (
            "channel_binding=require",
            auth(10, b"SCRAM-SHA-256\0\0"),
            "channel_binding",
        ),
    ];
    for (setting, request, needle) in cases {
        let (port, recording) = fake(request).await;
        let err = Client::connect(&url(port, setting)).await.unwrap_err();
        let (_, after_startup) = recording.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::Auth, "{setting}: {err}");
        assert!(err.to_string().contains(needle), "{setting}: {err}");
        assert!(
            !sent_a_secret(&after_startup),
            "{setting}: the client sent {after_startup:?}"
        );
    }
}

#[tokio::test]
async fn a_switch_to_cleartext_in_the_middle_of_scram_gets_no_password() {
    let mut script = auth(10, b"SCRAM-SHA-256\0\0");
    script.extend(auth(3, b""));
    let (port, recording) = fake(script).await;
    let err = Client::connect(&url(port, "")).await.unwrap_err();
    let (_, after_startup) = recording.await.unwrap();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("middle of SCRAM"), "{err}");
    // Only the SASLInitialResponse (mechanism name and client-first message) left.
    assert!(!after_startup.windows(9).any(|w| w == b"s3cret-pw"));
    let len = u32::from_be_bytes(after_startup[1..5].try_into().unwrap()) as usize;
    assert_eq!(after_startup[0], b'p');
    assert!(after_startup[5..].starts_with(b"SCRAM-SHA-256\0"));
    assert_eq!(
        after_startup.len(),
        1 + len,
        "nothing after the SASLInitialResponse"
    );
}

fn ready(with_key: bool) -> Vec<u8> {
    let mut v = auth(0, b"");
    if with_key {
        v.extend(msg(b'K', &[0, 0, 0, 9, 1, 2, 3, 4]));
    }
    v.extend(msg(b'Z', b"I"));
    v
}

fn negotiate(version: i32) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&0i32.to_be_bytes());
    msg(b'v', &body)
}

#[tokio::test]
async fn an_older_fake_server_negotiates_protocol_3_0() {
    let mut script = negotiate(0x30000);
    script.extend(ready(true));
    let (port, recording) = fake(script).await;
    let c = Client::connect(&url(port, "max_protocol_version=latest"))
        .await
        .unwrap();
    assert_eq!(c.backend_pid(), Some(9));
    drop(c);
    let (startup, _) = recording.await.unwrap();
    assert_eq!(&startup[..4], &[0, 3, 0, 2], "asked for 3.2");

    let mut script = negotiate(0x30000);
    script.extend(ready(true));
    let (port, _) = fake(script).await;
    let err = Client::connect(&url(port, "min_protocol_version=3.2"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert!(
        err.to_string().contains("min_protocol_version is 3.2"),
        "{err}"
    );
}

#[tokio::test]
async fn protocol_3_0_is_the_default_request() {
    let (port, recording) = fake(ready(true)).await;
    drop(Client::connect(&url(port, "")).await.unwrap());
    let (startup, _) = recording.await.unwrap();
    assert_eq!(&startup[..4], &[0, 3, 0, 0]);
}

#[tokio::test]
async fn without_a_cancel_key_an_abandoned_stream_closes_the_connection() {
    let mut describe = vec![0, 1];
    describe.extend_from_slice(b"data\0");
    describe.extend_from_slice(&[0; 6]);
    describe.extend_from_slice(&3802u32.to_be_bytes());
    describe.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_startup(&mut sock).await;
        sock.write_all(&ready(false)).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = sock.read(&mut buf).await.unwrap();
        let mut response = msg(b'1', b"");
        response.extend(msg(b'2', b""));
        response.extend(msg(b'T', &describe));
        for _ in 0..10 {
            response.extend(msg(b'D', b"\x00\x01\x00\x00\x00\x03\x01{}"));
        }
        sock.write_all(&response).await.unwrap();
        // An endless query: the client must hang up rather than wait for the end.
        let mut rest = Vec::new();
        let outcome =
            tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut rest)).await;
        (outcome.is_ok(), rest)
    });
    let mut c = Client::connect(&format!("host=127.0.0.1 port={port} user=u"))
        .await
        .unwrap();
    assert!(c.cancel_token().is_none());
    let mut rows = c
        .sql("SELECT data FROM endless")
        .stream_raw()
        .await
        .unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "{}");
    drop(rows);
    let (hung_up, rest) = server.await.unwrap();
    assert!(hung_up, "the client kept the connection open");
    assert_eq!(rest, b"X\0\0\0\x04", "a Terminate, then the close");
    let err = c.sql("SELECT 1").stream_raw().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}

#[tokio::test]
async fn require_auth_against_the_real_server() {
    let s = server();
    let ok = [
        (Role::Scram, "require_auth=scram-sha-256"),
        (Role::Md5, "require_auth=md5"),
        (Role::Password, "require_auth=password"),
        (Role::Trust, "require_auth=none"),
        (Role::Scram, "require_auth=!password,!md5"),
        (Role::Trust, "require_auth=!password"),
    ];
    for (role, setting) in ok {
        let url = format!(
            "{}?{}",
            s.url_for(role).unwrap(),
            setting.replace(',', "%2C")
        );
        Client::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{role:?} {setting}: {e}"));
    }
    let refused = [
        (Role::Md5, "require_auth=scram-sha-256"),
        (Role::Password, "require_auth=!password"),
        (Role::Scram, "require_auth=md5,password"),
        (Role::Trust, "require_auth=scram-sha-256"),
        (Role::Scram, "require_auth=none"),
    ];
    for (role, setting) in refused {
        let url = format!(
            "{}?{}",
            s.url_for(role).unwrap(),
            setting.replace(',', "%2C")
        );
        let err = Client::connect(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{role:?} {setting}: {err}");
        assert!(err.to_string().contains("require_auth"), "{err}");
    }
}

#[tokio::test]
async fn protocol_negotiation_against_the_real_server() {
    let s = server();
    let mut config = Config::parse(&s.url()).unwrap();
    config.max_protocol_version(ProtocolVersion::V3_2);
    let mut c = Client::connect_with(&config).await.unwrap();
    let mut rows = c.sql("SELECT to_jsonb(1)").stream_raw().await.unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "1");
    drop(rows);
    config.min_protocol_version(ProtocolVersion::V3_2);
    let result = Client::connect_with(&config).await;
    if s.server_version_num() >= 180000 {
        result.unwrap();
    } else {
        let err = result.unwrap_err();
        assert!(
            err.to_string()
                .contains("only supports protocol version 3.0"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn repeated_scram_logins_succeed_with_the_cached_key() {
    // Not a timing test: a second login with the same credentials must still succeed when its
    // key comes from the cache (the salt and iteration count are the role's, unchanged).
    let url = server().url_for(Role::Scram).unwrap();
    for _ in 0..3 {
        Client::connect(&url).await.unwrap();
    }
}

/// A plaintext relay in front of the real server that passes every connection through and
/// records the length of each CancelRequest (its first message on a connection after the
/// session's): 16 bytes with protocol 3.0's 4-byte key, 12 + the key's length under 3.2.
async fn cancel_recording_relay() -> (u16, tokio::sync::mpsc::UnboundedReceiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = format!("{}:{}", server().host(), server().port());
    let (lengths, recorded) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut session, _) = listener.accept().await.unwrap();
        let mut pg = TcpStream::connect(&upstream).await.unwrap();
        tokio::spawn(async move {
            let _ = tokio::io::copy_bidirectional(&mut session, &mut pg).await;
        });
        loop {
            let (mut cancel, _) = listener.accept().await.unwrap();
            let upstream = upstream.clone();
            let lengths = lengths.clone();
            tokio::spawn(async move {
                let mut len = [0u8; 4];
                cancel.read_exact(&mut len).await.unwrap();
                let _ = lengths.send(u32::from_be_bytes(len) as usize);
                let mut pg = TcpStream::connect(&upstream).await.unwrap();
                pg.write_all(&len).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut cancel, &mut pg).await;
            });
        }
    });
    (port, recorded)
}

/// Protocol 3.2 against the real server: on Postgres 18 the session gets a long cancel key
/// (32 bytes), the CancelRequest carries all of it, and the cancel stops the query; older
/// servers negotiate 3.0 and its 4-byte key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_3_2_sends_the_long_cancel_key_and_the_cancel_works() {
    let s = server();
    for version in ["3.0", "latest"] {
        let (port, mut recorded) = cancel_recording_relay().await;
        let mut c = Client::connect(&format!(
            "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable \
             max_protocol_version={version}"
        ))
        .await
        .unwrap();
        let pid = c.backend_pid().unwrap();
        let mut rows = c.sql(common::ENDLESS).stream_raw().await.unwrap();
        rows.try_next().await.unwrap().unwrap();
        rows.cancel().await.unwrap();
        common::idle_within(pid, Duration::from_secs(5)).await;
        common::reused(&mut c, pid).await;
        let expected = if version == "latest" && s.server_version_num() >= 180000 {
            12 + 32
        } else {
            16
        };
        let first = recorded.recv().await.expect("a CancelRequest");
        assert_eq!(first, expected, "{version}");
        while let Ok(more) = recorded.try_recv() {
            assert_eq!(more, expected, "{version}: a later CancelRequest");
        }
    }
}

/// SCRAM's key derivation runs off the runtime's threads: on a single-threaded runtime a
/// ticking task keeps its pace while the client derives the key for a high iteration count.
/// The fake server is a plain thread, so it times the derivation (from its server-first
/// message to the client's final message) whatever the runtime does.
#[tokio::test(flavor = "current_thread")]
async fn scram_key_derivation_does_not_block_the_runtime() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    // About 0.2-0.5 s of PBKDF2 either way (unoptimized dependencies in a debug build).
    let iterations = if cfg!(debug_assertions) {
        50_000
    } else {
        1_000_000
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || -> Duration {
        let (mut sock, _) = listener.accept().unwrap();
        fn read_message(sock: &mut std::net::TcpStream, tagged: bool) -> Vec<u8> {
            let mut head = vec![0u8; if tagged { 5 } else { 4 }];
            sock.read_exact(&mut head).unwrap();
            let len = u32::from_be_bytes(head[head.len() - 4..].try_into().unwrap()) as usize;
            let mut body = vec![0u8; len - 4];
            sock.read_exact(&mut body).unwrap();
            body
        }
        let mut startup = read_message(&mut sock, false);
        if startup == [0x04, 0xd2, 0x16, 0x2f] {
            sock.write_all(b"N").unwrap();
            startup = read_message(&mut sock, false);
        }
        assert_eq!(&startup[..4], &[0, 3, 0, 0]);
        sock.write_all(&auth(10, b"SCRAM-SHA-256\0\0")).unwrap();
        let initial = read_message(&mut sock, true);
        let text = String::from_utf8_lossy(&initial).into_owned();
        let nonce = text.split("r=").nth(1).expect("a client nonce").to_owned();
        let first = format!("r={nonce}fake,s=c2FsdHNhbHRzYWx0c2FsdA==,i={iterations}");
        sock.write_all(&auth(11, first.as_bytes())).unwrap();
        let sent = Instant::now();
        let last = read_message(&mut sock, true);
        let took = sent.elapsed();
        assert!(String::from_utf8_lossy(&last).starts_with("c=biws,r="));
        took
    });
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut longest = Duration::ZERO;
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
            longest
        }
    });
    // The fake hangs up after the client's final message: a connect error, as expected.
    let err = Client::connect(&format!(
        "host=127.0.0.1 port={port} user=u password=pw-{} sslmode=disable",
        std::process::id()
    ))
    .await
    .unwrap_err();
    stop.store(true, Ordering::Relaxed);
    let longest = ticker.await.unwrap();
    let derivation = fake.join().unwrap();
    assert!(
        derivation > Duration::from_millis(150),
        "the derivation took only {derivation:?} ({err})"
    );
    assert!(
        longest < derivation / 2,
        "the runtime stalled for {longest:?} while the key took {derivation:?}"
    );
}
