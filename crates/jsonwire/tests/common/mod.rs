//! Shared helpers: every test binary talks to one throw-away cluster.
#![allow(dead_code)]

pub mod fake;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jsonwire::Client;
use jsonwire_testkit::PgServer;

/// The binary's shared cluster, with the fixtures every test may read.
pub fn server() -> &'static PgServer {
    static FIXTURES: OnceLock<()> = OnceLock::new();
    let server = PgServer::shared().unwrap_or_else(|e| panic!("no Postgres for the tests: {e}"));
    FIXTURES.get_or_init(|| {
        server
            .run_sql(include_str!("fixtures.sql"))
            .unwrap_or_else(|e| panic!("loading fixtures: {e}"))
    });
    server
}

/// A client connected as the superuser over TCP.
pub async fn client() -> Client {
    Client::connect(&server().url())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:#}"))
}

/// An error and each of its causes, joined by ": " as error reporters print them (anyhow's
/// `{:#}`): the text a user reads, whatever part of the chain holds the reason.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Polls `check` every 20 ms until it returns true or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// What `pg_stat_activity` says about one backend: `state|wait_event|query`, or "" if gone.
pub fn activity(pid: i32) -> String {
    server()
        .psql_output(&format!(
            "SELECT state || '|' || coalesce(wait_event, '') || '|' || query FROM pg_stat_activity WHERE pid = {pid}"
        ))
        .unwrap()
        .trim()
        .to_owned()
}
