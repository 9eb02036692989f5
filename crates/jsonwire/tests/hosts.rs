//! Several hosts and the checks on each: the order they are tried in, `requirepeer`, the
//! password file named when authentication fails, `target_session_attrs` against servers
//! older than 14, and `connect_retry`.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::server;
use jsonwire::{Client, Config, ConnectRetry, ErrorKind};
use jsonwire_testkit::{PgServer, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn one_value(c: &mut Client, sql: &str) -> String {
    let mut rows = c.sql(sql).stream_raw().await.unwrap();
    let v = rows.try_next().await.unwrap().unwrap();
    String::from_utf8(v.to_vec()).unwrap()
}

/// How the server saw this connection arrive: `"tcp"` or `"unix"`.
async fn transport(c: &mut Client) -> String {
    one_value(
        c,
        "SELECT to_jsonb(CASE WHEN inet_client_addr() IS NULL THEN 'unix' ELSE 'tcp' END)",
    )
    .await
    .trim_matches('"')
    .to_owned()
}

/// The shared server twice: over TCP, then over its Unix socket.
fn two_ways() -> String {
    let s = server();
    format!(
        "host={},{} port={} user=postgres dbname=postgres",
        s.host(),
        s.socket_dir().unwrap().display(),
        s.port()
    )
}

#[tokio::test]
async fn hosts_are_tried_in_order_unless_load_balancing_is_random() {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..10 {
        let mut c = Client::connect(&two_ways()).await.unwrap();
        *seen.entry(transport(&mut c).await).or_default() += 1;
    }
    assert_eq!(seen, HashMap::from([("tcp".to_owned(), 10)]));

    let mut seen: HashMap<String, usize> = HashMap::new();
    let random = format!("{} load_balance_hosts=random", two_ways());
    for _ in 0..40 {
        let mut c = Client::connect(&random).await.unwrap();
        *seen.entry(transport(&mut c).await).or_default() += 1;
    }
    // With a fair coin, one side getting fewer than 5 of 40 has odds of about 1 in 10^6.
    assert!(
        seen.get("tcp").copied().unwrap_or(0) >= 5 && seen.get("unix").copied().unwrap_or(0) >= 5,
        "{seen:?}"
    );
}

#[tokio::test]
async fn requirepeer_checks_the_user_the_server_runs_as() {
    let s = server();
    let os_user = s.os_user().unwrap().unwrap();
    let socket = s.socket_url().unwrap();
    let mut c = Client::connect(&format!("{socket} requirepeer={os_user}"))
        .await
        .unwrap();
    assert_eq!(transport(&mut c).await, "unix");

    let err = Client::connect(&format!("{socket} requirepeer=nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("requirepeer specifies \"nobody\", but the server at ")
            && message.ends_with(&format!("runs as {os_user:?}")),
        "{message}"
    );

    // libpq checks it on Unix sockets only.
    let tcp = format!("{}?requirepeer=nobody", s.url());
    Client::connect(&tcp).await.unwrap();
}

/// A file under the temp directory with `mode`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str, mode: u32) -> TempFile {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("jw-hosts-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn an_ignored_password_file_is_named_in_the_authentication_error() {
    let s = server();
    let role = Role::Password;
    let line = format!("*:*:*:{}:{}\n", role.user(), role.password().unwrap());
    let file = TempFile::new("open", &line, 0o644);
    let config = format!(
        "host={} port={} user={} dbname=postgres passfile={}",
        s.host(),
        s.port(),
        role.user(),
        file.0.display()
    );
    let err = Client::connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("requires a password and none was given")
            && message.contains(&format!(
                "the password file {} was ignored because it has group or world access \
                 (mode 0644); permissions should be u=rw (0600) or less",
                file.0.display()
            )),
        "{message}"
    );

    // Fixed permissions: the same file logs in.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file.0, std::fs::Permissions::from_mode(0o600)).unwrap();
    Client::connect(&config).await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_from_the_password_file_says_where_it_came_from() {
    let s = server();
    let role = Role::Scram;
    let file = TempFile::new("wrong", &format!("*:*:*:{}:wrong\n", role.user()), 0o600);
    let config = format!(
        "host={} port={} user={} dbname=postgres passfile={}",
        s.host(),
        s.port(),
        role.user(),
        file.0.display()
    );
    let err = Client::connect(&config).await.unwrap_err();
    assert_eq!(err.code(), Some("28P01"), "{err}");
    assert!(
        err.to_string().ends_with(&format!(
            "\nthe password was read from the password file {}",
            file.0.display()
        )),
        "{err}"
    );
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Stands in for a server older than Postgres 14 (none ships here), which reports neither
/// `in_hot_standby` nor `default_transaction_read_only` at startup, so the client must ask:
/// it answers the one query it receives with `answer` and returns that query's text.
async fn pre_14_server(answer: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let len = sock.read_u32().await.unwrap() as usize;
        sock.read_exact(&mut vec![0; len - 4]).await.unwrap();
        let mut session = msg(b'R', &0i32.to_be_bytes());
        session.extend(msg(b'S', b"server_version\x0013.16\0"));
        session.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
        session.extend(msg(b'Z', b"I"));
        sock.write_all(&session).await.unwrap();
        assert_eq!(sock.read_u8().await.unwrap(), b'Q');
        let len = sock.read_u32().await.unwrap() as usize;
        let mut query = vec![0; len - 4];
        sock.read_exact(&mut query).await.unwrap();
        let mut field = b"x\0".to_vec();
        field.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        field.extend_from_slice(&25u32.to_be_bytes());
        field.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        let mut description = vec![0, 1];
        description.extend(field);
        let mut row = vec![0, 1];
        row.extend_from_slice(&(answer.len() as u32).to_be_bytes());
        row.extend_from_slice(answer.as_bytes());
        let mut reply = msg(b'T', &description);
        reply.extend(msg(b'D', &row));
        reply.extend(msg(b'C', b"SHOW\0"));
        reply.extend(msg(b'Z', b"I"));
        sock.write_all(&reply).await.unwrap();
        // Until the client terminates or hangs up.
        let _ = sock.read(&mut [0; 64]).await;
        String::from_utf8(query[..query.len() - 1].to_vec()).unwrap()
    });
    (port, task)
}

#[tokio::test]
async fn without_the_startup_parameters_the_server_is_asked_as_libpq_asks() {
    let cases = [
        (
            "read-write",
            "SHOW transaction_read_only",
            "on",
            Some("session is read-only"),
        ),
        ("read-write", "SHOW transaction_read_only", "off", None),
        (
            "read-only",
            "SHOW transaction_read_only",
            "off",
            Some("session is not read-only"),
        ),
        ("read-only", "SHOW transaction_read_only", "on", None),
        (
            "primary",
            "SELECT pg_catalog.pg_is_in_recovery()",
            "t",
            Some("server is in hot standby mode"),
        ),
        (
            "standby",
            "SELECT pg_catalog.pg_is_in_recovery()",
            "f",
            Some("server is not in hot standby mode"),
        ),
        (
            "standby",
            "SELECT pg_catalog.pg_is_in_recovery()",
            "t",
            None,
        ),
    ];
    for (attrs, query, answer, refusal) in cases {
        let (port, server) = pre_14_server(answer).await;
        // A fake without TLS: no SSLRequest first.
        let config = format!(
            "host=127.0.0.1 port={port} user=u sslmode=disable target_session_attrs={attrs}"
        );
        let result = Client::connect(&config).await;
        match (refusal, result) {
            (None, Ok(client)) => drop(client),
            (Some(reason), Err(e)) => assert!(e.to_string().ends_with(reason), "{attrs}: {e}"),
            (want, got) => panic!(
                "{attrs} with {answer}: wanted {want:?}, got {:?}",
                got.err()
            ),
        }
        assert_eq!(server.await.unwrap(), query, "{attrs}");
    }
}

fn retrying(config: &str, retry: ConnectRetry) -> Config {
    let mut config = Config::parse(config).unwrap();
    config.connect_retry(retry);
    config
}

#[tokio::test]
async fn connect_retry_waits_for_a_late_server_but_not_after_a_wrong_password() {
    let s = PgServer::start().unwrap();
    let url = s.url();
    s.stop("fast").unwrap();
    let err = Client::connect(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "without retry: {err}");

    let down = Instant::now();
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        s.restart().unwrap();
        s
    });
    let retry = ConnectRetry::new(Duration::from_secs(60))
        .backoff(Duration::from_millis(20), Duration::from_millis(200));
    let connected = Client::connect_with(&retrying(&url, retry)).await;
    let s = late.join().unwrap();
    connected.unwrap_or_else(|e| panic!("not reached within the retry budget: {e}"));
    assert!(down.elapsed() >= Duration::from_secs(1));

    // 28P01 is final: one attempt, whatever the budget.
    let log = s.log_path().unwrap().to_owned();
    let failures = || {
        std::fs::read_to_string(&log)
            .unwrap()
            .matches("password authentication failed for user \"jw_scram\"")
            .count()
    };
    let before = failures();
    // sslmode=require: with the default prefer, libpq (and jsonwire) retry a rejected TLS
    // attempt without TLS, which would log a second failure.
    let wrong = format!(
        "postgres://jw_scram:wrong@{}:{}/postgres?sslmode=require",
        s.host(),
        s.port()
    );
    let err = Client::connect_with(&retrying(&wrong, retry))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("28P01"), "{err}");
    assert_eq!(failures(), before + 1);
}

#[tokio::test]
async fn connect_retry_gives_up_after_its_attempts_or_its_budget() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = format!("host=127.0.0.1 port={port} user=u");
    let fast = ConnectRetry::new(Duration::from_secs(60))
        .backoff(Duration::from_millis(1), Duration::from_millis(5));
    let err = Client::connect_with(&retrying(&nobody, fast.max_attempts(3)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("could not connect to 127.0.0.1:{port}"))
            && message.contains("\ngave up after 3 attempts in ")
            && message.ends_with("(connect_retry_attempts=3)"),
        "{message}"
    );

    let short = ConnectRetry::new(Duration::from_millis(300))
        .backoff(Duration::from_millis(50), Duration::from_millis(50));
    let err = Client::connect_with(&retrying(&nobody, short))
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with("(connect_retry budget 300ms)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_service_file_supplies_what_the_string_leaves_out() {
    let s = server();
    let file = TempFile::new(
        "services",
        &format!(
            "# jsonwire test\n[jw]\nhost={}\nport={}\nuser={}\npassword={}\ndbname=postgres\n\
             application_name=from-service\n",
            s.host(),
            s.port(),
            Role::Scram.user(),
            Role::Scram.password().unwrap()
        ),
        0o600,
    );
    let config = format!("service=jw servicefile={}", file.0.display());
    let mut c = Client::connect(&config).await.unwrap();
    assert_eq!(
        one_value(&mut c, "SELECT to_jsonb(current_user)").await,
        "\"jw_scram\""
    );
    assert_eq!(
        c.parameter("application_name").as_deref(),
        Some("from-service")
    );
    let c = Client::connect(&format!("{config} application_name=explicit"))
        .await
        .unwrap();
    assert_eq!(c.parameter("application_name").as_deref(), Some("explicit"));

    let err = Client::connect(&format!("service=nope servicefile={}", file.0.display()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .starts_with("definition of service \"nope\" not found"),
        "{err}"
    );
}

#[tokio::test]
async fn gssencmode_require_is_refused_before_connecting_and_prefer_connects_without() {
    let s = server();
    let err = Client::connect(&format!("{}?gssencmode=require", s.url()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("no GSSAPI support"), "{err}");
    let mut c = Client::connect(&format!(
        "{}?gssencmode=prefer&krbsrvname=postgres",
        s.url()
    ))
    .await
    .unwrap();
    assert_eq!(
        one_value(
            &mut c,
            "SELECT to_jsonb(gss_authenticated) FROM pg_stat_gssapi WHERE pid = pg_backend_pid()"
        )
        .await,
        "false"
    );
}
