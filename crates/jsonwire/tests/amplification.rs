//! Memory under a hostile server: the client holds a small multiple of the bytes it actually
//! received, plus its read buffer, whatever lengths and counts the server announces. Alone in
//! its binary, with one test, so the allocator's counters belong to it.

mod common;

use common::fake::{conninfo, fake_server, jsonb_description, msg, query, ready_session, row};
use jsonwire::{Client, Config, ErrorKind};
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// Runs `work` and returns its result with the most bytes held above what was held before.
async fn peak_growth<T>(work: impl std::future::Future<Output = T>) -> (T, usize) {
    let base = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    let out = work.await;
    (out, ALLOC.peak_usage().saturating_sub(base))
}

/// Memory a client may hold: a small multiple of what it received, plus its read buffer and
/// a fixed allowance for the runtime and the connection itself.
fn allowance(received: usize) -> usize {
    3 * received + 64 * 1024 + 256 * 1024
}

#[tokio::test]
async fn memory_stays_within_a_small_multiple_of_the_bytes_received() {
    a_header_announcing_a_gigabyte_reserves_nothing_for_it().await;
    a_flood_of_parameter_names_is_capped().await;
    a_flood_of_notices_is_not_kept().await;
    a_long_sasl_list_at_startup_is_a_protocol_error().await;
    a_small_read_buffer_still_takes_a_large_row().await;
}

async fn a_header_announcing_a_gigabyte_reserves_nothing_for_it() {
    let mut response = jsonb_description();
    response.extend(row("{}"));
    response.extend_from_slice(b"D\x40\x00\x00\x00\x00\x01\x3f\xff");
    let sent = response.len();
    let ((rows, err), growth) = peak_growth(query(response, false)).await;
    assert_eq!(rows, ["{}"]);
    assert_eq!(err.unwrap().kind(), ErrorKind::Closed);
    assert!(
        growth < allowance(sent),
        "held {growth} bytes after receiving {sent}"
    );
}

async fn a_flood_of_parameter_names_is_capped() {
    let mut response = jsonb_description();
    for i in 0..200_000 {
        response.extend(msg(b'S', format!("p{i}\0v\0").as_bytes()));
    }
    response.extend(row("1"));
    response.extend(msg(b'C', b"SELECT 1\0"));
    response.extend(msg(b'Z', b"I"));
    let sent = response.len();
    let port = fake_server(ready_session(), response, true).await;
    let mut c = Client::connect(&conninfo(port)).await.unwrap();
    let (count, growth) = peak_growth(async {
        let mut rows = c.sql("SELECT 1").stream_raw().await.unwrap();
        let mut n = 0;
        while rows.try_next().await.unwrap().is_some() {
            n += 1;
        }
        n
    })
    .await;
    assert_eq!(count, 1);
    assert_eq!(c.parameter("server_version").as_deref(), Some("17.0"));
    assert_eq!(c.parameter("p100").as_deref(), Some("v"));
    assert_eq!(c.parameter("p199999"), None, "past max_parameters");
    // The map holds 256 names, not 200,000: far below what arrived (~2.8 MB).
    assert!(
        growth < 1 << 20,
        "held {growth} bytes after receiving {sent}"
    );
}

async fn a_flood_of_notices_is_not_kept() {
    let mut response = jsonb_description();
    for i in 0..100_000 {
        response.extend(msg(
            b'N',
            format!("SNOTICE\0VNOTICE\0C00000\0Mnotice {i}\0\0").as_bytes(),
        ));
    }
    response.extend(row("2"));
    response.extend(msg(b'C', b"SELECT 1\0"));
    response.extend(msg(b'Z', b"I"));
    let sent = response.len();
    let ((rows, err), growth) = peak_growth(query(response, true)).await;
    assert_eq!(rows, ["2"]);
    assert!(err.is_none(), "{err:?}");
    assert!(
        growth < 1 << 20,
        "held {growth} bytes after receiving {sent}"
    );
}

async fn a_long_sasl_list_at_startup_is_a_protocol_error() {
    let mut body = 10i32.to_be_bytes().to_vec();
    for _ in 0..500_000 {
        body.extend_from_slice(b"a\0");
    }
    body.push(0);
    let startup = msg(b'R', &body);
    let sent = startup.len();
    let port = fake_server(startup, vec![], true).await;
    let (err, growth) = peak_growth(Client::connect(&conninfo(port))).await;
    let err = err.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("SASL mechanisms"), "{err}");
    assert!(
        growth < allowance(sent),
        "held {growth} bytes after receiving {sent}"
    );
}

async fn a_small_read_buffer_still_takes_a_large_row() {
    let big = format!("\"{}\"", "x".repeat(3 << 20));
    let mut response = jsonb_description();
    response.extend(row(&big));
    response.extend(msg(b'C', b"SELECT 1\0"));
    response.extend(msg(b'Z', b"I"));
    let sent = response.len();
    let port = fake_server(ready_session(), response, true).await;
    let mut config = Config::parse(&conninfo(port)).unwrap();
    config.read_buffer_size(4096);
    let mut c = Client::connect_with(&config).await.unwrap();
    let (len, growth) = peak_growth(async {
        let mut rows = c.sql("SELECT 1").stream_raw().await.unwrap();
        let r = rows.try_next().await.unwrap().unwrap();
        let stats = rows.stats();
        assert!(stats.buffer_high_water <= 2 * sent, "{stats:?}");
        r.len()
    })
    .await;
    assert_eq!(len, big.len());
    assert!(
        growth < allowance(sent),
        "held {growth} bytes after receiving {sent}"
    );
}
