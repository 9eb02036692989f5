//! Group 3, connection set-up: from nothing to a connection ready for queries, over TCP and
//! the unix socket, with trust and SCRAM-SHA-256 (the testkit's `jw_trust` and `jw_scram`
//! roles), jsonwire against tokio-postgres, with the raw-socket reader's handshake (which uses
//! jsonwire's protocol layer, blocking I/O and no runtime) as the floor.
//!
//! The `tcp_*_tls` cases connect over TLS 1.3 (`sslmode=verify-full`, the throw-away
//! cluster's certificates): jsonwire (rustls, ring) against tokio-postgres with
//! tokio-postgres-rustls (rustls, ring); the raw-socket reader speaks no TLS. They are skipped
//! for a `JSONWIRE_BENCH_URL` server, whose certificates the suite does not know.
//!
//! This is the only group whose timed window contains a connection. Closing is not timed.

use criterion::{Criterion, Throughput};
use jsonwire_benches::clients::TokioClient;
use jsonwire_benches::measure::{metered, Key, Sample};
use jsonwire_benches::raw_socket::RawSocket;
use jsonwire_benches::report::RAW_SOCKET;
use jsonwire_testkit::Role;

use crate::harness::{bench, Ctx, Pace};

/// The area of this group's rows.
pub const AREA: &str = "connect";

pub fn run(c: &mut Criterion, ctx: &Ctx) {
    let s = &ctx.server;
    let mut cases = vec![
        ("tcp_trust", s.trust_url()),
        ("unix_trust", s.trust_socket_url()),
        ("tcp_scram", s.scram_url()),
        ("unix_scram", s.scram_socket_url()),
    ];
    if s.trust_url().is_none() {
        // A server without the testkit's roles: at least the URL as given.
        cases.insert(0, ("tcp_url", Some(s.url().to_owned())));
    }
    let mut g = ctx.group(c, &format!("{AREA}/setup"), Pace::Fast);
    for (case, url) in cases {
        let Some(url) = url else {
            ctx.rec.note(
                AREA,
                format!(
                    "{case}: skipped: the server has no such login (a JSONWIRE_BENCH_URL server \
                     without the testkit's roles, or without a known unix socket)"
                ),
            );
            continue;
        };
        for client in [RAW_SOCKET, "jsonwire", "tokio_postgres"] {
            let key = Key::new(AREA, case, client);
            let base = ctx.heap_base();
            bench(
                &mut g,
                ctx,
                key.clone(),
                case,
                Throughput::Elements(1),
                || connect_once(ctx, &key, client, &url, base),
            );
        }
    }
    for (case, role) in [
        ("tcp_trust_tls", Role::Trust),
        ("tcp_scram_tls", Role::Scram),
    ] {
        let Some((jw_url, tp_url, ca)) = s.tls_url(role) else {
            ctx.rec.note(
                AREA,
                format!("{case}: skipped: the server is not the throw-away cluster with TLS"),
            );
            continue;
        };
        for client in ["jsonwire", "tokio_postgres"] {
            let key = Key::new(AREA, case, client);
            let base = ctx.heap_base();
            bench(
                &mut g,
                ctx,
                key.clone(),
                case,
                Throughput::Elements(1),
                || {
                    let url = if client == "jsonwire" {
                        &jw_url
                    } else {
                        &tp_url
                    };
                    connect_tls_once(ctx, &key, client, url, &ca, base)
                },
            );
        }
    }
    g.finish();
}

fn connect_tls_once(
    ctx: &Ctx,
    key: &Key,
    client: &str,
    url: &str,
    ca: &std::path::Path,
    base: u64,
) -> Sample {
    let fail =
        |e: &dyn std::fmt::Display| -> ! { panic!("{}: cannot connect to {url}: {e}", key.id()) };
    let cost = if client == "jsonwire" {
        let (conn, cost) = metered(base, || ctx.rt.block_on(jsonwire::Client::connect(url)));
        ctx.rt.block_on(conn.unwrap_or_else(|e| fail(&e)).close());
        cost
    } else {
        let (conn, cost) = metered(base, || ctx.rt.block_on(TokioClient::connect_tls(url, ca)));
        ctx.rt.block_on(conn.unwrap_or_else(|e| fail(&e)).close());
        cost
    };
    Sample {
        timed: cost.wall,
        elapsed: cost.wall,
        rows: 1,
        ..Sample::default()
    }
    .with_cost(cost)
}

fn connect_once(ctx: &Ctx, key: &Key, client: &str, url: &str, base: u64) -> Sample {
    let fail =
        |e: &dyn std::fmt::Display| -> ! { panic!("{}: cannot connect to {url}: {e}", key.id()) };
    let cost = match client {
        RAW_SOCKET => {
            let (conn, cost) = metered(base, || RawSocket::connect(url));
            drop(conn.unwrap_or_else(|e| fail(&e)));
            cost
        }
        "jsonwire" => {
            let (conn, cost) = metered(base, || ctx.rt.block_on(jsonwire::Client::connect(url)));
            let conn = conn.unwrap_or_else(|e| fail(&e));
            ctx.rt.block_on(conn.close());
            cost
        }
        _ => {
            let (conn, cost) = metered(base, || ctx.rt.block_on(TokioClient::connect(url)));
            let conn = conn.unwrap_or_else(|e| fail(&e));
            ctx.rt.block_on(conn.close());
            cost
        }
    };
    Sample {
        timed: cost.wall,
        elapsed: cost.wall,
        rows: 1,
        ..Sample::default()
    }
    .with_cost(cost)
}
