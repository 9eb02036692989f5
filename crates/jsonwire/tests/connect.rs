//! Connecting for real: each configuration form, each authentication method, timeouts, and
//! a fake server for what a real one never sends.

mod common;

use std::time::{Duration, Instant};

use common::server;
use jsonwire::{Client, Config, ErrorKind};
use jsonwire_testkit::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn one_value(c: &mut Client, sql: &str) -> String {
    let mut rows = c.sql(sql).stream_raw().await.unwrap();
    let v = rows.try_next().await.unwrap().unwrap();
    String::from_utf8(v.to_vec()).unwrap()
}

#[tokio::test]
async fn every_auth_method_logs_in_over_tcp_and_the_socket() {
    let s = server();
    let dir = s.socket_dir().unwrap().display().to_string();
    for role in Role::ALL {
        let url = s.url_for(role).unwrap();
        let mut c = Client::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{role:?} over TCP: {e}"));
        assert_eq!(
            one_value(&mut c, "SELECT to_jsonb(current_user)").await,
            format!("\"{}\"", role.user())
        );
        let mut kv = format!(
            "host={dir} port={} user={} dbname=postgres",
            s.port(),
            role.user()
        );
        if let Some(pw) = role.password() {
            kv.push_str(&format!(" password='{pw}'"));
        }
        let mut c = Client::connect(&kv)
            .await
            .unwrap_or_else(|e| panic!("{role:?} over the socket: {e}"));
        assert_eq!(
            one_value(&mut c, "SELECT to_jsonb(current_user)").await,
            format!("\"{}\"", role.user())
        );
    }
}

#[tokio::test]
async fn a_wrong_password_is_28p01_with_the_servers_message() {
    let s = server();
    for role in [Role::Password, Role::Md5, Role::Scram] {
        let url = format!(
            "postgres://{}:wrong@{}:{}/postgres",
            role.user(),
            s.host(),
            s.port()
        );
        let err = Client::connect(&url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{role:?}: {err}");
        assert_eq!(err.code(), Some("28P01"), "{role:?}: {err}");
        assert!(
            err.to_string().contains(&format!(
                "password authentication failed for user \"{}\"",
                role.user()
            )),
            "{role:?}: {err}"
        );
        assert!(
            !format!("{err:?}").contains("wrong"),
            "the password leaked into {err:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_password_says_how_to_give_one() {
    let s = server();
    let url = format!(
        "postgres://{}@{}:{}/postgres?passfile=/nonexistent",
        Role::Scram.user(),
        s.host(),
        s.port()
    );
    let err = Client::connect(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("requires a password"), "{err}");
}

#[tokio::test]
async fn url_forms_reach_the_same_server() {
    let s = server();
    let dir = s.socket_dir().unwrap().display().to_string();
    let encoded = dir.replace('/', "%2F");
    for url in [
        format!("postgres://postgres@{}:{}/postgres", s.host(), s.port()),
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            s.port()
        ),
        format!("postgresql://postgres@localhost:{}/postgres", s.port()),
        format!(
            "postgresql:///postgres?host={dir}&port={}&user=postgres",
            s.port()
        ),
        format!("postgresql://{encoded}:{}/postgres?user=postgres", s.port()),
        format!(
            "postgres://postgres@127.0.0.1:1,127.0.0.1:{}/postgres",
            s.port()
        ),
        format!("host={dir} port={} user=postgres dbname=postgres", s.port()),
        format!(
            "host = '{dir}'  port={}   user=postgres dbname = 'postgres'",
            s.port()
        ),
    ] {
        let mut c = Client::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(
            one_value(&mut c, "SELECT to_jsonb(current_database())").await,
            "\"postgres\"",
            "{url}"
        );
    }
}

#[tokio::test]
async fn percent_encoded_user_is_decoded() {
    let s = server();
    s.run_sql("DROP ROLE IF EXISTS \"jw odd@user\"; SET password_encryption = 'scram-sha-256'; CREATE ROLE \"jw odd@user\" LOGIN PASSWORD 'p@ss:w/rd é'")
        .unwrap();
    let url = format!(
        "postgres://jw%20odd%40user:p%40ss%3Aw%2Frd%20%C3%A9@{}:{}/postgres",
        s.host(),
        s.port()
    );
    // The superuser rule trusts everyone not listed; this checks decoding, not the method.
    let mut c = Client::connect(&url).await.unwrap();
    assert_eq!(
        one_value(&mut c, "SELECT to_jsonb(current_user)").await,
        "\"jw odd@user\""
    );
}

#[tokio::test]
async fn application_name_and_options_reach_the_server() {
    let s = server();
    let url = format!(
        "postgres://postgres@{}:{}/postgres?application_name=jw%20test&options=-c%20statement_timeout%3D5s%20-c%20search_path%3Dpg_catalog",
        s.host(),
        s.port()
    );
    let mut c = Client::connect(&url).await.unwrap();
    assert_eq!(c.parameter("application_name").as_deref(), Some("jw test"));
    assert_eq!(
        one_value(
            &mut c,
            "SELECT to_jsonb(current_setting('statement_timeout'))"
        )
        .await,
        "\"5s\""
    );
    assert_eq!(
        one_value(&mut c, "SELECT to_jsonb(current_setting('search_path'))").await,
        "\"pg_catalog\""
    );
    assert!(c.parameter("server_version").is_some());
}

#[tokio::test]
async fn a_password_file_supplies_the_password() {
    let s = server();
    let path = std::env::temp_dir().join(format!("jw-pgpass-{}", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "# comment\nother:1:*:*:nope\n{}:{}:*:{}:{}\n",
            s.host(),
            s.port(),
            Role::Scram.user(),
            Role::Scram.password().unwrap()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let url = format!(
        "host={} port={} user={} dbname=postgres passfile={}",
        s.host(),
        s.port(),
        Role::Scram.user(),
        path.display()
    );
    let result = Client::connect(&url).await;
    std::fs::remove_file(&path).unwrap();
    let mut c = result.unwrap();
    assert_eq!(
        one_value(&mut c, "SELECT to_jsonb(current_user)").await,
        "\"jw_scram\""
    );
}

#[tokio::test]
async fn bad_connection_strings_name_the_problem() {
    for (s, needle) in [
        ("postgres://localhost:notaport/db", "port"),
        ("host=localhost bogus=1", "bogus"),
        ("host=localhost sslmode=sometimes", "sslmode"),
        ("host='unterminated", "quote"),
        ("mysql://localhost/db", "mysql"),
    ] {
        let err = Client::connect(s).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{s}: {err}");
        assert!(
            err.to_string().to_lowercase().contains(needle),
            "{s}: {err}"
        );
    }
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_naming_the_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = Client::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn connect_timeout_bounds_a_server_that_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            held.push(sock);
        }
    });
    let start = Instant::now();
    let err = Client::connect(&format!(
        "host=127.0.0.1 port={port} user=x connect_timeout=2"
    ))
    .await
    .unwrap_err();
    hold.abort();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

/// Accepts one connection, reads the startup packet, then writes `reply`, reads whatever
/// comes and sends `after_query` once the client has written something more; then hangs up
/// when `hang_up`, else waits for the client to.
async fn fake_server(reply: Vec<u8>, after_query: Vec<u8>, hang_up: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap_or(0);
        // sslmode=prefer asks for TLS first; this server has none.
        if buf[..n] == [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f] {
            sock.write_all(b"N").await.unwrap();
            let _ = sock.read(&mut buf).await;
        }
        sock.write_all(&reply).await.unwrap();
        if !after_query.is_empty() {
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(&after_query).await;
        }
        if !hang_up {
            let _ = sock.read(&mut buf).await;
        }
    });
    port
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn ready_session() -> Vec<u8> {
    let mut v = msg(b'R', &0i32.to_be_bytes());
    v.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    v.extend(msg(b'Z', b"I"));
    v
}

fn jsonb_description() -> Vec<u8> {
    let mut body = vec![0, 1];
    body.extend_from_slice(b"data\0");
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&3802u32.to_be_bytes());
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1]);
    let mut v = msg(b'1', b"");
    v.extend(msg(b'2', b""));
    v.extend(msg(b'T', &body));
    v
}

#[tokio::test]
async fn an_unsupported_auth_method_is_named() {
    let port = fake_server(msg(b'R', &7i32.to_be_bytes()), vec![], false).await;
    let err = Client::connect(&format!("host=127.0.0.1 port={port} user=x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("GSSAPI"), "{err}");
}

#[tokio::test]
async fn an_oversized_message_is_a_protocol_error_not_an_allocation() {
    let mut after = jsonb_description();
    after.extend_from_slice(b"D\x7f\xff\xff\xf0\x00\x01");
    let port = fake_server(ready_session(), after, false).await;
    let mut c = Client::connect(&format!("host=127.0.0.1 port={port} user=x"))
        .await
        .unwrap();
    let mut rows = c.sql("SELECT data FROM t").stream_raw().await.unwrap();
    let err = rows.try_next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    drop(rows);
    assert!(c.is_closed());
    let err = c.sql("SELECT 1").stream_raw().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn a_configured_message_limit_applies() {
    let mut after = jsonb_description();
    let mut row = vec![0, 1];
    let value = format!("\x01{{\"s\": \"{}\"}}", "x".repeat(5000));
    row.extend_from_slice(&(value.len() as i32).to_be_bytes());
    row.extend_from_slice(value.as_bytes());
    after.extend(msg(b'D', &row));
    let port = fake_server(ready_session(), after, false).await;
    let mut config = Config::parse(&format!("host=127.0.0.1 port={port} user=x")).unwrap();
    config.max_message_size(4096);
    let mut c = Client::connect_with(&config).await.unwrap();
    let mut rows = c.sql("SELECT data FROM t").stream_raw().await.unwrap();
    let err = rows.try_next().await.unwrap_err();
    assert!(err.to_string().contains("limit of 4096 bytes"), "{err}");
}

#[tokio::test]
async fn malformed_rows_are_protocol_errors() {
    for bad in [
        msg(b'D', b"\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x01b"),
        msg(b'D', b"\x00\x01\x00\x00\x00\x09{}"),
        msg(b'D', b"\x00\x01\x00\x00\x00\x03\x02{}"),
        msg(b'!', b""),
    ] {
        let mut after = jsonb_description();
        after.extend(bad);
        let port = fake_server(ready_session(), after, false).await;
        let mut c = Client::connect(&format!("host=127.0.0.1 port={port} user=x"))
            .await
            .unwrap();
        let mut rows = c.sql("SELECT data FROM t").stream_raw().await.unwrap();
        let err = rows.try_next().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    }
}

#[tokio::test]
async fn a_server_that_hangs_up_mid_stream_is_a_closed_error() {
    let mut after = jsonb_description();
    after.extend(msg(b'D', b"\x00\x01\x00\x00\x00\x03\x01{}"));
    after.extend_from_slice(b"D\x00\x00\x00\x20\x00\x01");
    let port = fake_server(ready_session(), after, true).await;
    let mut c = Client::connect(&format!("host=127.0.0.1 port={port} user=x"))
        .await
        .unwrap();
    let mut rows = c.sql("SELECT data FROM t").stream_raw().await.unwrap();
    assert_eq!(rows.try_next().await.unwrap().unwrap(), "{}");
    let err = tokio::time::timeout(Duration::from_secs(10), rows.try_next())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}

#[tokio::test]
async fn startup_errors_keep_their_sqlstate() {
    let s = server();
    for (user, db, kind, code, needle) in [
        (
            "jw_nobody",
            "postgres",
            ErrorKind::Auth,
            "28000",
            "\"jw_nobody\" does not exist",
        ),
        (
            "postgres",
            "jw_no_such_db",
            ErrorKind::Connect,
            "3D000",
            "\"jw_no_such_db\" does not exist",
        ),
    ] {
        let url = format!("postgres://{user}@{}:{}/{db}", s.host(), s.port());
        let err = Client::connect(&url).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(err.code(), Some(code), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}
