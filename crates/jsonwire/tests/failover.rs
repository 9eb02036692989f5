//! `target_session_attrs` against a real primary and its streaming standby (the kit's
//! `pg_basebackup -R`, on binaries that have it), and what happens when the primary goes down.

use std::sync::OnceLock;

use jsonwire::{Client, ErrorKind};
use jsonwire_testkit::PgServer;

struct Pair {
    primary: PgServer,
    standby: PgServer,
}

fn start_pair() -> Pair {
    let primary = PgServer::builder()
        .replication()
        .start()
        .unwrap_or_else(|e| panic!("no primary for the tests: {e}"));
    let standby = primary
        .start_standby()
        .unwrap_or_else(|e| panic!("no standby for the tests: {e}"));
    Pair { primary, standby }
}

/// The pair the read-only tests share; the test that stops a primary makes its own.
fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(start_pair)
}

/// `host=a,b port=pa,pb ...` for the servers in the order given.
fn hosts(servers: &[&PgServer], attrs: &str) -> String {
    let hosts: Vec<&str> = servers.iter().map(|s| s.host()).collect();
    let ports: Vec<String> = servers.iter().map(|s| s.port().to_string()).collect();
    format!(
        "host={} port={} user=postgres dbname=postgres target_session_attrs={attrs} connect_timeout=10",
        hosts.join(","),
        ports.join(",")
    )
}

/// `"primary"` or `"standby"`: what the connected server says of itself.
async fn which(c: &mut Client) -> &'static str {
    let mut rows = c
        .sql("SELECT to_jsonb(pg_is_in_recovery())")
        .stream_raw()
        .await
        .unwrap();
    let in_recovery = rows.try_next().await.unwrap().unwrap();
    match &in_recovery[..] {
        b"true" => "standby",
        b"false" => "primary",
        other => panic!("pg_is_in_recovery() gave {other:?}"),
    }
}

async fn connect_to(servers: &[&PgServer], attrs: &str) -> &'static str {
    let mut c = Client::connect(&hosts(servers, attrs))
        .await
        .unwrap_or_else(|e| panic!("target_session_attrs={attrs}: {e}"));
    which(&mut c).await
}

#[tokio::test]
async fn each_target_session_attrs_picks_its_server_in_either_order() {
    let Pair { primary, standby } = pair();
    let cases = [
        ("any", "primary", "standby"),
        ("read-write", "primary", "primary"),
        ("primary", "primary", "primary"),
        ("read-only", "standby", "standby"),
        ("standby", "standby", "standby"),
        ("prefer-standby", "standby", "standby"),
    ];
    for (attrs, primary_first, standby_first) in cases {
        assert_eq!(
            connect_to(&[primary, standby], attrs).await,
            primary_first,
            "{attrs} with the primary listed first"
        );
        assert_eq!(
            connect_to(&[standby, primary], attrs).await,
            standby_first,
            "{attrs} with the standby listed first"
        );
    }
}

#[tokio::test]
async fn load_balance_hosts_random_spreads_connections_over_the_pair() {
    let Pair { primary, standby } = pair();
    let config = format!(
        "{} load_balance_hosts=random",
        hosts(&[primary, standby], "any")
    );
    let mut seen = std::collections::HashMap::new();
    for _ in 0..40 {
        let mut c = Client::connect(&config).await.unwrap();
        *seen.entry(which(&mut c).await).or_insert(0) += 1;
    }
    // With a fair coin, one side getting fewer than 5 of 40 has odds of about 1 in 10^6.
    assert!(
        seen.get("primary").copied().unwrap_or(0) >= 5
            && seen.get("standby").copied().unwrap_or(0) >= 5,
        "{seen:?}"
    );
    // Without it, the first host listed is always the one.
    let first = hosts(&[standby, primary], "any");
    for _ in 0..5 {
        let mut c = Client::connect(&first).await.unwrap();
        assert_eq!(which(&mut c).await, "standby");
    }
}

#[tokio::test]
async fn a_server_of_the_wrong_kind_alone_is_a_clear_error() {
    let Pair { primary, standby } = pair();
    for (server, attrs, reason) in [
        (standby, "read-write", "session is read-only"),
        (standby, "primary", "server is in hot standby mode"),
        (primary, "read-only", "session is not read-only"),
        (primary, "standby", "server is not in hot standby mode"),
    ] {
        let err = Client::connect(&hosts(&[server], attrs)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{attrs}: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "the server at {}:{} does not suit target_session_attrs={attrs}: {reason}",
                server.host(),
                server.port()
            )
        );
    }
    // prefer-standby takes the primary when no standby is listed.
    assert_eq!(connect_to(&[primary], "prefer-standby").await, "primary");
}

#[tokio::test]
async fn with_the_primary_down_the_standby_serves_and_read_write_fails_clearly() {
    let Pair { primary, standby } = start_pair();
    primary.stop("fast").unwrap();
    let both = [&primary, &standby];
    assert_eq!(connect_to(&both, "any").await, "standby");
    assert_eq!(connect_to(&both, "prefer-standby").await, "standby");
    assert_eq!(connect_to(&both, "read-only").await, "standby");

    for attrs in ["read-write", "primary"] {
        let err = Client::connect(&hosts(&both, attrs)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
        let message = err.to_string();
        let refused = format!(
            ": could not connect to {}:{}: ",
            primary.host(),
            primary.port()
        );
        let wrong_kind = format!(
            "; the server at {}:{} does not suit target_session_attrs={attrs}: ",
            standby.host(),
            standby.port()
        );
        assert!(
            message.starts_with(&format!(
                "no host accepted a connection with target_session_attrs={attrs}: "
            )) && message.contains(&refused)
                && message.contains(&wrong_kind),
            "{message}"
        );
    }

    // Back up, the primary is found again.
    primary.restart().unwrap();
    assert_eq!(connect_to(&both, "read-write").await, "primary");
}
