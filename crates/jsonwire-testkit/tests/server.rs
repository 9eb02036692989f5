//! The kit against real clusters.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use jsonwire_testkit::{ErrorKind, PgServer, Role, TEST_URL_VAR};

/// Set in a copy of this binary started by a test, to say which child role to play.
const CHILD_VAR: &str = "JWTK_TEST_CHILD";

fn external() -> bool {
    std::env::var_os(TEST_URL_VAR).is_some_and(|v| !v.is_empty())
}

/// Runs `sql` with psql as `user` over TCP, with `password` in `PGPASSWORD`.
fn psql_as(server: &PgServer, user: &str, password: Option<&str>, sql: &str) -> Output {
    let mut cmd = server.psql_command();
    cmd.args(["-At", "-h", server.host(), "-p", &server.port().to_string()])
        .args(["-U", user, "-d", "postgres", "-c", sql]);
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd.output().expect("psql runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Starts this test binary again running only `test`, with `CHILD_VAR=test` and `envs`.
fn run_child(test: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, test)
        .envs(envs.iter().copied());
    cmd.output().expect("test binary runs")
}

fn is_child(test: &str) -> bool {
    std::env::var(CHILD_VAR).is_ok_and(|v| v == test)
}

/// Processes whose command line mentions `dir`, such as a postmaster left running.
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn owned_server_applies_settings_and_is_removed_on_drop() {
    if external() {
        return;
    }
    let started = Instant::now();
    let server = PgServer::builder()
        .setting("work_mem", "7MB")
        .sql("CREATE TABLE fixture (doc json); INSERT INTO fixture VALUES ('[1, 2]')")
        .start()
        .unwrap();
    eprintln!(
        "owned server {} started in {:?}",
        server.server_version_num(),
        started.elapsed()
    );
    assert!(!server.is_external());
    assert_eq!(server.host(), "127.0.0.1");
    assert!(server.server_version_num() >= 90_000);
    assert_eq!(server.psql_output("SHOW work_mem").unwrap(), "7MB\n");
    assert_eq!(server.psql_output("SHOW fsync").unwrap(), "off\n");
    assert_eq!(
        server.psql_output("SELECT doc FROM fixture").unwrap(),
        "[1, 2]\n"
    );
    assert_eq!(
        server.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", server.port())
    );

    let dir = server.data_dir().unwrap().to_path_buf();
    let port = server.port();
    assert!(server.log_path().unwrap().starts_with(&dir));
    assert!(dir.join("data/PG_VERSION").is_file());
    assert!(accepts_connections(port));

    drop(server);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!accepts_connections(port));
    assert_eq!(processes_using(&dir), Vec::<String>::new());
}

#[test]
fn shared_returns_the_same_server_every_time() {
    let first = PgServer::shared().unwrap();
    let second = PgServer::shared().unwrap();
    assert!(std::ptr::eq(first, second));
    assert_eq!(first.url(), second.url());
}

#[test]
fn run_sql_and_psql_output_round_trip() {
    let server = PgServer::shared().unwrap();
    server
        .run_sql(
            "DROP TABLE IF EXISTS round_trip;\n\
             CREATE TABLE round_trip (id int, doc jsonb);\n\
             INSERT INTO round_trip VALUES (1, '{\"k\": \"é\"}'), (2, 'null'), (3, '[]');",
        )
        .unwrap();
    let out = server
        .psql_output("SELECT doc FROM round_trip ORDER BY id")
        .unwrap();
    assert_eq!(out, "{\"k\": \"é\"}\nnull\n[]\n");
    assert_eq!(server.psql_output("SELECT 1 WHERE false").unwrap(), "");
}

#[test]
fn run_sql_error_carries_psql_stderr() {
    let server = PgServer::shared().unwrap();
    let err = server
        .run_sql("SELECT 1;\nSELECT * FROM no_such_table;")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Command);
    assert!(
        err.to_string().contains("\"no_such_table\" does not exist"),
        "{err}"
    );
    let err = server.psql_output("SELEC 1").unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");
}

#[test]
fn run_sql_file_runs_every_statement() {
    let server = PgServer::shared().unwrap();
    let file = std::env::temp_dir().join(format!("jwtk-test-{}.sql", std::process::id()));
    std::fs::write(
        &file,
        "DROP TABLE IF EXISTS from_file;\nCREATE TABLE from_file (n int);\n\
         INSERT INTO from_file SELECT generate_series(1, 3);\n",
    )
    .unwrap();
    let result = server.run_sql_file(&file);
    std::fs::remove_file(&file).unwrap();
    result.unwrap();
    assert_eq!(
        server.psql_output("SELECT sum(n) FROM from_file").unwrap(),
        "6\n"
    );
    let missing = server.run_sql_file(Path::new("/nonexistent/jwtk.sql"));
    assert!(missing.unwrap_err().to_string().contains("jwtk.sql"));
}

#[test]
fn each_role_logs_in_with_its_password_and_reads_public_tables() {
    let server = PgServer::shared().unwrap();
    if server.url_for(Role::Trust).is_none() {
        return;
    }
    server
        .run_sql("CREATE TABLE IF NOT EXISTS readable (v text); TRUNCATE readable; INSERT INTO readable VALUES ('yes')")
        .unwrap();
    for role in Role::ALL {
        let out = psql_as(
            server,
            role.user(),
            role.password(),
            "SELECT current_user, v FROM readable",
        );
        assert_eq!(stdout(&out), format!("{}|yes\n", role.user()), "{role:?}");

        let url = server.url_for(role).unwrap();
        let mut cmd = server.psql_command();
        let out = cmd
            .args(["-At", "-d", &url, "-c", "SELECT 1"])
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "1\n", "{role:?} via {url}");
    }
}

#[test]
fn wrong_password_is_rejected_for_each_password_role() {
    let server = PgServer::shared().unwrap();
    if server.url_for(Role::Trust).is_none() {
        return;
    }
    for role in [Role::Password, Role::Md5, Role::Scram] {
        let out = psql_as(server, role.user(), Some("wrong"), "SELECT 1");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{role:?} got in with a wrong password"
        );
        assert!(
            stderr.contains("password authentication failed"),
            "{role:?}: {stderr}"
        );
    }
}

#[test]
fn passwords_are_stored_as_their_method_needs() {
    let server = PgServer::shared().unwrap();
    if server.is_external() {
        return;
    }
    let stored = server
        .psql_output(
            "SELECT rolname, CASE WHEN rolpassword LIKE 'md5%' THEN 'md5' \
             WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram' \
             ELSE coalesce(rolpassword, 'none') END \
             FROM pg_authid WHERE rolname IN ('jw_md5', 'jw_password', 'jw_scram', 'jw_trust') \
             ORDER BY rolname",
        )
        .unwrap();
    assert_eq!(
        stored,
        "jw_md5|md5\njw_password|scram\njw_scram|scram\njw_trust|none\n"
    );
    for role in Role::ALL {
        let methods = server
            .psql_output(&format!(
                "SELECT DISTINCT type || ' ' || auth_method FROM pg_hba_file_rules \
                 WHERE user_name = '{{{}}}' ORDER BY 1",
                role.user()
            ))
            .unwrap();
        let method = role.hba_method();
        assert_eq!(
            methods,
            format!("host {method}\nlocal {method}\n"),
            "{role:?}"
        );
    }
}

#[test]
fn socket_url_connects_over_the_unix_socket() {
    let server = PgServer::shared().unwrap();
    let Some(conn) = server.socket_url() else {
        return;
    };
    assert!(server.socket_dir().unwrap().as_os_str().len() < 100);
    let mut cmd = server.psql_command();
    let out = cmd
        .args([
            "-At",
            "-d",
            &conn,
            "-c",
            "SELECT inet_server_addr() IS NULL",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "t\n");
}

#[test]
fn bindir_without_binaries_is_a_clear_error() {
    if external() {
        return;
    }
    let empty = std::env::temp_dir();
    let err = PgServer::builder().bindir(&empty).start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BinariesNotFound);
    let message = err.to_string();
    assert!(message.contains(&*empty.to_string_lossy()), "{message}");
    assert!(message.contains("initdb"), "{message}");
    assert!(message.contains(TEST_URL_VAR), "{message}");
}

#[test]
fn pg_bindir_without_binaries_is_a_clear_error() {
    let out = run_child(
        "child_with_bad_pg_bindir",
        &[("PG_BINDIR", "/nonexistent/pg/bin"), (TEST_URL_VAR, "")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn child_with_bad_pg_bindir() {
    if !is_child("child_with_bad_pg_bindir") {
        return;
    }
    let err = PgServer::start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BinariesNotFound);
    let message = err.to_string();
    assert!(message.contains("PG_BINDIR"), "{message}");
    assert!(message.contains("/nonexistent/pg/bin"), "{message}");
    assert!(message.contains("initdb"), "{message}");
}

#[test]
fn shared_server_is_removed_after_its_process_panics() {
    if external() {
        return;
    }
    let out = run_child("child_starts_shared_then_panics", &[]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| Some(&l[l.find("JWTK_CHILD_SERVER ")? + 18..]))
        .unwrap_or_else(|| panic!("child printed no server: {stdout}"));
    let (port, dir) = line.split_once(' ').unwrap();
    let (port, dir): (u16, PathBuf) = (port.parse().unwrap(), dir.into());

    wait_until("the child's cluster directory is removed", || !dir.exists());
    wait_until("the child's server stops", || {
        !accepts_connections(port) && processes_using(&dir).is_empty()
    });
}

#[test]
fn child_starts_shared_then_panics() {
    if !is_child("child_starts_shared_then_panics") {
        return;
    }
    let server = PgServer::shared().unwrap();
    println!(
        "JWTK_CHILD_SERVER {} {}",
        server.port(),
        server.data_dir().unwrap().display()
    );
    panic!("the child panics with its shared server running");
}

#[test]
fn a_standby_streams_from_its_primary_and_refuses_writes() {
    let primary = PgServer::builder().replication().start().unwrap();
    let standby = primary.start_standby().unwrap();
    assert_ne!(standby.port(), primary.port());
    assert_ne!(standby.socket_dir(), primary.socket_dir());
    assert_eq!(standby.server_version_num(), primary.server_version_num());
    assert_eq!(
        standby.psql_output("SELECT pg_is_in_recovery()").unwrap(),
        "t\n"
    );
    assert_eq!(
        primary.psql_output("SELECT pg_is_in_recovery()").unwrap(),
        "f\n"
    );
    primary
        .run_sql("CREATE TABLE replicated AS SELECT 42 AS answer")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match standby.psql_output("SELECT answer FROM replicated") {
            Ok(out) => {
                assert_eq!(out, "42\n");
                break;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("the table never reached the standby: {e}"),
        }
    }
    let err = standby.run_sql("CREATE TABLE nope (x int)").unwrap_err();
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    let data = standby.data_dir().unwrap().to_owned();
    drop(standby);
    assert!(!data.exists());
}
