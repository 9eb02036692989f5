//! `framing/*`: from the bytes of a query response to each row's JSON as `Bytes`.
//!
//! `whole_buffer` decodes a response already in the read buffer: the parse loop alone, the
//! buffer refilled outside the timed part. It is measured for small and 10 KiB rows only: its
//! cost is per row (the JSON is not touched), so for two 1 MiB rows it is a few hundred
//! nanoseconds against a refill of 2 MiB per iteration. `read_<n>` feeds the response in reads
//! of at most n bytes into the client's read buffer (its default size), as a socket would, adding the
//! copy into the buffer, the compaction of a partial message and the failed parse at each read
//! boundary. Throughput is wire bytes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput};

use crate::fixtures::{corpus, Size};
use crate::rows;

const READS: [(usize, &str); 3] = [
    (1500, "read_1500B"),
    (16 << 10, "read_16KiB"),
    (64 << 10, "read_64KiB"),
];

pub fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for size in Size::ALL {
        let corpus = corpus(size);
        let wire = &corpus.wire;
        let expect = (corpus.docs.len(), corpus.json_bytes);
        let mut rows = Vec::new();
        rows::drain(&mut BytesMut::from(&wire[..]), |v| rows.push(v));
        assert_eq!(rows, corpus.docs, "rows of the whole buffer");
        drop(rows);
        group.throughput(Throughput::Bytes(wire.len() as u64));

        if size != Size::Mib1 {
            group.bench_with_input(
                BenchmarkId::new("whole_buffer", size.label()),
                wire,
                |b, wire| b.iter_custom(|iters| whole_buffer(wire, iters)),
            );
        }
        for (chunk, name) in READS {
            assert_eq!(
                count(|f| rows::drain_reads(wire, chunk, f)),
                expect,
                "{name}"
            );
            group.bench_with_input(BenchmarkId::new(name, size.label()), wire, |b, wire| {
                b.iter(|| {
                    let mut n = 0usize;
                    rows::drain_reads(wire, chunk, |v| {
                        n += 1;
                        black_box(v);
                    });
                    n
                })
            });
        }
    }
    group.finish();
}

/// Times `rows::drain` over `iters` fresh copies of `wire` in one read buffer, whose
/// allocation is reclaimed for each copy since every row has been dropped, as the
/// connection's is.
fn whole_buffer(wire: &[u8], iters: u64) -> Duration {
    let mut buf = BytesMut::with_capacity(wire.len());
    let base = buf.as_ptr();
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        buf.reserve(wire.len());
        buf.extend_from_slice(wire);
        assert_eq!(buf.as_ptr(), base, "the read buffer was reallocated");
        let start = Instant::now();
        let mut n = 0usize;
        rows::drain(&mut buf, |v| {
            n += 1;
            black_box(v);
        });
        elapsed += start.elapsed();
        black_box(n);
    }
    elapsed
}

/// Rows and JSON bytes that `drain` hands out.
fn count(drain: impl FnOnce(&mut dyn FnMut(Bytes))) -> (usize, usize) {
    let (mut rows, mut bytes) = (0, 0);
    drain(&mut |v| {
        rows += 1;
        bytes += v.len();
    });
    (rows, bytes)
}
