//! `scram/*`: the client's side of password authentication. SCRAM-SHA-256 is dominated by
//! PBKDF2 at the server's iteration count (4096 by default); MD5 is for comparison.
//! Throughput is one exchange.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use jsonwire::proto::auth::{md5_password, ChannelBinding, ScramSha256};

/// RFC 7677, section 3.
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

/// Everything the client computes: client-first, then the proof for the server-first.
fn client_proof(server_first: &[u8]) -> Vec<u8> {
    let mut scram = ScramSha256::new("user", b"pencil", CLIENT_NONCE, ChannelBinding::Unsupported);
    black_box(scram.client_first());
    scram.handle_server_first(server_first).unwrap()
}

pub fn benches(c: &mut Criterion) {
    assert_eq!(client_proof(SERVER_FIRST), CLIENT_FINAL);
    assert_eq!(
        md5_password(b"alice", b"secret", [1, 2, 3, 4]),
        b"md598a0412b9c31436fc53776e863350083"
    );

    let mut group = c.benchmark_group("scram");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group.bench_with_input(
        BenchmarkId::new("client_proof", "i4096"),
        SERVER_FIRST,
        |b, server_first| b.iter(|| client_proof(black_box(server_first))),
    );
    group.bench_function("md5_password", |b| {
        b.iter(|| md5_password(black_box(b"alice"), black_box(b"secret"), [1, 2, 3, 4]))
    });
    group.finish();
}
