//! `encode/*`: the frontend messages of one query (Parse, Bind with two text parameters,
//! Describe, Execute, Sync) into the connection's reused write buffer. Throughput is one query.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use jsonwire::proto::frontend;

const SQL: &str = "SELECT \"data\" FROM \"public\".\"v_order\" WHERE (data->>'status' = $1\n) AND \
((data->>'total')::numeric > $2\n) ORDER BY data->>'created_at' DESC LIMIT 10000";
const PARAMS: [Option<&[u8]>; 2] = [Some(b"paid"), Some(b"100.00")];

fn encode(buf: &mut BytesMut, sql: &str, params: &[Option<&[u8]>]) {
    buf.clear();
    frontend::parse(buf, "", sql).unwrap();
    frontend::bind(buf, "", "", params.iter().copied(), 1).unwrap();
    frontend::describe(buf, b'P', "").unwrap();
    frontend::execute(buf, "", 0).unwrap();
    frontend::sync(buf);
}

pub fn benches(c: &mut Criterion) {
    let mut buf = BytesMut::with_capacity(8 << 10);
    encode(&mut buf, SQL, &PARAMS);
    let parse_len = 1 + 4 + 1 + SQL.len() + 1 + 2;
    let bind_len = 1 + 4 + 1 + 1 + 2 + 2 + (4 + 4) + (4 + 6) + 2 + 2;
    assert_eq!(buf.len(), parse_len + bind_len + 7 + 10 + 5);
    assert_eq!(buf[0], b'P');
    assert_eq!(buf[parse_len], b'B');
    assert!(buf.ends_with(b"S\0\0\0\x04"));

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("query", |b| {
        b.iter(|| {
            encode(&mut buf, black_box(SQL), black_box(&PARAMS));
            black_box(&buf);
        })
    });
    group.finish();
}
