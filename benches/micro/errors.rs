//! `errors/*`: a server error on its way to the user: decoding the ErrorResponse (body
//! alone, and framed from a read buffer) and formatting the resulting `DbError`. Throughput
//! is one error.

use std::hint::black_box;

use bytes::{BufMut, BytesMut};
use criterion::{BatchSize, Criterion, Throughput};
use jsonwire::proto::backend::{tag, Message};
use jsonwire::DbError;

use crate::fixtures::error_response_body;
use crate::rows::MAX_MESSAGE;

fn db_error(msg: Message) -> DbError {
    match msg {
        Message::ErrorResponse(db) => *db,
        other => panic!("expected an ErrorResponse, got {other:?}"),
    }
}

pub fn benches(c: &mut Criterion) {
    let body = error_response_body();
    let mut framed = BytesMut::new();
    framed.put_u8(tag::ERROR_RESPONSE);
    framed.put_u32(body.len() as u32 + 4);
    framed.put_slice(&body);

    let db = db_error(Message::decode(tag::ERROR_RESPONSE, body.clone()).unwrap());
    assert_eq!(db.code(), "23505");
    assert_eq!(db.severity(), "ERROR");
    assert_eq!(db.position(), Some(57));
    assert_eq!(db.line(), Some(666));
    assert_eq!(db.constraint(), Some("order_line_pkey"));
    assert_eq!(db.routine(), Some("_bt_check_unique"));
    assert!(db.where_().unwrap().contains("import_orders()"));
    let parsed = Message::parse(&mut framed.clone(), MAX_MESSAGE).unwrap();
    assert_eq!(parsed.map(db_error).as_ref(), Some(&db));
    let text = db.to_string();
    assert!(text.starts_with("ERROR 23505: duplicate key") && text.contains("\nHINT: Retry"));

    let mut group = c.benchmark_group("errors");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode", |b| {
        b.iter(|| Message::decode(tag::ERROR_RESPONSE, black_box(body.clone())).unwrap())
    });
    group.bench_function("parse", |b| {
        b.iter_batched_ref(
            || framed.clone(),
            |buf| Message::parse(buf, MAX_MESSAGE).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("display", |b| b.iter(|| black_box(&db).to_string()));
    group.finish();
}
