//! `sql/*`: quoting names and building the `SELECT` that `Client::query` sends. Throughput is
//! one call.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use jsonwire::sql::{quote_identifier, quote_relation, Select};

fn select() -> String {
    let mut s = Select::new(black_box("public.v_order"));
    s.filter("data->>'status' = $1")
        .filter("(data->>'total')::numeric > $2")
        .order_by("data->>'created_at' DESC")
        .limit(10_000);
    s.to_sql().unwrap()
}

pub fn benches(c: &mut Criterion) {
    assert_eq!(quote_identifier(r#"order "lines""#), r#""order ""lines""""#);
    assert_eq!(
        quote_relation("public.v_order").unwrap(),
        r#""public"."v_order""#
    );
    assert_eq!(
        select(),
        "SELECT \"data\" FROM \"public\".\"v_order\"\nWHERE (\ndata->>'status' = $1\n) AND (\n\
         (data->>'total')::numeric > $2\n)\nORDER BY\ndata->>'created_at' DESC\nLIMIT 10000"
    );

    let mut group = c.benchmark_group("sql");
    group.throughput(Throughput::Elements(1));
    for (name, ident) in [("plain", "v_order"), ("with_quotes", r#"order "lines""#)] {
        group.bench_with_input(
            BenchmarkId::new("quote_identifier", name),
            ident,
            |b, ident| b.iter(|| quote_identifier(black_box(ident))),
        );
    }
    group.bench_function("quote_relation", |b| {
        b.iter(|| quote_relation(black_box("public.v_order")).unwrap())
    });
    group.bench_function("select", |b| b.iter(select));
    group.finish();
}
