//! Several hosts and the checks on each: the order they are tried in, `requirepeer`, and the
//! password file named when authentication fails.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::server;
use jsonwire::{Client, ErrorKind, NO_PARAMS};
use jsonwire_testkit::Role;

async fn one_value(c: &mut Client, sql: &str) -> String {
    let mut rows = c.sql(sql, NO_PARAMS).stream_raw().await.unwrap();
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

/// A password file under the temp directory with `mode`, removed when dropped.
struct Passfile(PathBuf);

impl Passfile {
    fn new(name: &str, contents: &str, mode: u32) -> Passfile {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("jw-hosts-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Passfile(path)
    }
}

impl Drop for Passfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn an_ignored_password_file_is_named_in_the_authentication_error() {
    let s = server();
    let role = Role::Password;
    let line = format!("*:*:*:{}:{}\n", role.user(), role.password().unwrap());
    let file = Passfile::new("open", &line, 0o644);
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
    let file = Passfile::new("wrong", &format!("*:*:*:{}:wrong\n", role.user()), 0o600);
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
