//! `config/*`: `Config::parse` of the connection strings applications pass. Throughput is one
//! parse.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use jsonwire::{Config, SslMode, TargetSessionAttrs};

const SIMPLE_URL: &str = "postgresql://app@localhost/shop";
const MULTI_HOST_URL: &str =
    "postgresql://order%40export:s3cr%3At%2F%25@db1.eu-west.example.com:5433,\
db2.eu-west.example.com:5434,[fd00::12]:5435/orders%20eu?sslmode=require&connect_timeout=10\
&application_name=nightly%20export&target_session_attrs=read-write";
const KEY_VALUE: &str = "host=/var/run/postgresql,db2.example.com port=5432,5433 \
dbname='order history' user=app password='it\\'s a \\\\secret' \
application_name = 'nightly export' connect_timeout=10 sslmode=disable";

pub fn benches(c: &mut Criterion) {
    let url = Config::parse(SIMPLE_URL).unwrap();
    assert_eq!(url.get_hosts(), ["localhost"]);
    assert_eq!(url.get_dbname(), Some("shop"));
    let multi = Config::parse(MULTI_HOST_URL).unwrap();
    assert_eq!(
        multi.get_hosts(),
        [
            "db1.eu-west.example.com",
            "db2.eu-west.example.com",
            "fd00::12"
        ]
    );
    assert_eq!(multi.get_ports(), [5433, 5434, 5435]);
    assert_eq!(multi.get_user(), Some("order@export"));
    assert_eq!(multi.get_password(), Some("s3cr:t/%"));
    assert_eq!(multi.get_dbname(), Some("orders eu"));
    assert_eq!(multi.get_ssl_mode(), Some(SslMode::Require));
    assert_eq!(
        multi.get_target_session_attrs(),
        Some(TargetSessionAttrs::ReadWrite)
    );
    let kv = Config::parse(KEY_VALUE).unwrap();
    assert_eq!(kv.get_dbname(), Some("order history"));
    assert_eq!(kv.get_password(), Some("it's a \\secret"));
    assert_eq!(kv.get_application_name(), Some("nightly export"));
    assert_eq!(kv.get_ports(), [5432, 5433]);

    let mut group = c.benchmark_group("config");
    group.throughput(Throughput::Elements(1));
    for (name, s) in [
        ("simple_url", SIMPLE_URL),
        ("multi_host_url", MULTI_HOST_URL),
        ("key_value", KEY_VALUE),
    ] {
        group.bench_with_input(BenchmarkId::new("parse", name), s, |b, s| {
            b.iter(|| Config::parse(black_box(s)).unwrap())
        });
    }
    group.finish();
}
