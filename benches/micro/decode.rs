//! `decode/*`: what each stream mode does with a row's JSON once framing handed it out.
//!
//! `raw` is the baseline (`stream_raw`: the `Bytes` is handed on, nothing parsed);
//! `validate` parses without building anything (`serde::de::IgnoredAny`), the floor for any
//! serde mode; `value` builds a `serde_json::Value`; `typed` deserializes the struct the
//! document was printed from, as `stream::<T>()` does; the three parse with the stream's own
//! `parse_json`. Each iteration decodes the first rows of a response, at least 256 KiB of JSON
//! (about 600 orders, 26 × 10 KiB or one 1 MiB document), each row still a slice of the read
//! buffer. Throughput is JSON bytes.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use jsonwire::proto::rows::parse_json;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use serde_json::Value;

use crate::fixtures::{corpus, Customer, Order, Size, Typed};
use crate::rows;

/// JSON decoded per iteration, at least.
const INPUT_BYTES: usize = 256 << 10;

pub fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for size in Size::ALL {
        let corpus = corpus(size);
        let mut rows = Vec::with_capacity(corpus.docs.len());
        rows::drain(&mut BytesMut::from(&corpus.wire[..]), |v| rows.push(v));
        assert_eq!(rows, corpus.docs);
        let (mut n, mut json_bytes) = (0, 0);
        while json_bytes < INPUT_BYTES && n < rows.len() {
            json_bytes += rows[n].len();
            n += 1;
        }
        rows.truncate(n);
        match &corpus.typed {
            Typed::Orders(orders) => check_typed(&rows, &orders[..n]),
            Typed::Customers(customers) => check_typed(&rows, &customers[..n]),
        }
        // A 1 MiB document takes milliseconds: ten samples of a few iterations each.
        let (samples, sampling) = match size {
            Size::Mib1 => (10, SamplingMode::Flat),
            _ => (20, SamplingMode::Auto),
        };
        group
            .throughput(Throughput::Bytes(json_bytes as u64))
            .sample_size(samples)
            .sampling_mode(sampling);
        let id = |case| BenchmarkId::new(case, size.label());

        group.bench_with_input(id("raw"), &rows, |b, rows| {
            b.iter(|| {
                for row in rows {
                    black_box(row.clone());
                }
            })
        });
        group.bench_with_input(id("validate"), &rows, |b, rows| {
            b.iter(|| {
                for row in rows {
                    black_box(parse_json::<IgnoredAny>(row).unwrap());
                }
            })
        });
        group.bench_with_input(id("value"), &rows, |b, rows| {
            b.iter(|| {
                for row in rows {
                    black_box(parse_json::<Value>(row).unwrap());
                }
            })
        });
        match corpus.typed {
            Typed::Orders(_) => bench_typed::<Order>(&mut group, id("typed"), &rows),
            Typed::Customers(_) => bench_typed::<Customer>(&mut group, id("typed"), &rows),
        }
    }
    group.finish();
}

/// Each row decodes to the value it was printed from, typed and as a `Value`.
fn check_typed<T>(rows: &[Bytes], expect: &[T])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    assert_eq!(rows.len(), expect.len());
    for (row, expect) in rows.iter().zip(expect) {
        assert_eq!(&serde_json::from_slice::<T>(row).unwrap(), expect);
        let value: Value = serde_json::from_slice(row).unwrap();
        assert_eq!(value, serde_json::to_value(expect).unwrap());
    }
}

fn bench_typed<T: DeserializeOwned>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    rows: &[Bytes],
) {
    group.bench_with_input(id, rows, |b, rows| {
        b.iter(|| {
            for row in rows {
                black_box(parse_json::<T>(row).unwrap());
            }
        })
    });
}
