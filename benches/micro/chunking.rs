//! `chunking/*`: batching rows into `Vec<Bytes>` chunks bounded by a row count and a byte
//! budget, as `RawStream::next_chunk` does, against `one_by_one` (`try_next`).
//!
//! The response arrives in reads of the default read size, so a chunk ends at a
//! limit or when the rows of the reads so far are used up, as it does on a fast connection.
//! Each chunk is dropped once built, as a consumer would after using it. Throughput is rows.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};

use crate::fixtures::{corpus, Size};
use crate::rows::{self, Next, Socket, READ_BUFFER_SIZE};

/// (max rows, max bytes, name).
const LIMITS: [(usize, usize, &str); 2] = [
    (256, 64 << 10, "chunks_256_64KiB"),
    (1024, 1 << 20, "chunks_1024_1MiB"),
];

pub fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunking");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for size in [Size::Small, Size::Kib10] {
        let corpus = corpus(size);
        let wire = &corpus.wire[..];
        group.throughput(Throughput::Elements(corpus.docs.len() as u64));

        group.bench_function(BenchmarkId::new("one_by_one", size.label()), |b| {
            b.iter(|| {
                let mut rows = 0usize;
                rows::drain_reads(wire, *READ_BUFFER_SIZE, |v| {
                    rows += 1;
                    black_box(v);
                });
                rows
            })
        });
        for (max_rows, max_bytes, name) in LIMITS {
            let mut chunks = Vec::new();
            chunked(wire, max_rows, max_bytes, |chunk| chunks.push(chunk));
            check(&chunks, &corpus.docs, max_rows, max_bytes);
            group.bench_function(BenchmarkId::new(name, size.label()), |b| {
                b.iter(|| {
                    let mut rows = 0usize;
                    chunked(wire, max_rows, max_bytes, |chunk| {
                        rows += chunk.len();
                        black_box(chunk);
                    });
                    rows
                })
            });
        }
    }
    group.finish();
}

/// `RawStream::next_chunk` until the end of the response: one row, reading if none is
/// buffered, then buffered rows while under both limits.
#[inline]
fn chunked(wire: &[u8], max_rows: usize, max_bytes: usize, mut out: impl FnMut(Vec<Bytes>)) {
    let mut socket = Socket::new(wire, *READ_BUFFER_SIZE);
    loop {
        let first = match socket.next_row(true) {
            Next::Row(v) => v,
            Next::Done => return,
            Next::NeedMore => unreachable!("reads until a row or the end"),
        };
        let mut bytes = first.len();
        let mut chunk = Vec::with_capacity(max_rows.clamp(1, 1024));
        chunk.push(first);
        while chunk.len() < max_rows && bytes < max_bytes {
            match socket.next_row(false) {
                Next::Row(v) => {
                    bytes += v.len();
                    chunk.push(v);
                }
                Next::Done | Next::NeedMore => break,
            }
        }
        out(chunk);
    }
}

/// Every row once, in order, and every chunk within its limits (the byte budget may be
/// passed by the row that reaches it, as in `next_chunk`).
fn check(chunks: &[Vec<Bytes>], docs: &[Bytes], max_rows: usize, max_bytes: usize) {
    let flat: Vec<&Bytes> = chunks.iter().flatten().collect();
    assert_eq!(flat.len(), docs.len());
    assert!(flat.iter().zip(docs).all(|(a, b)| *a == b));
    for chunk in chunks {
        assert!(!chunk.is_empty() && chunk.len() <= max_rows);
        let before_last: usize = chunk[..chunk.len() - 1].iter().map(Bytes::len).sum();
        assert!(before_last < max_bytes, "chunk over its byte budget");
    }
    assert!(
        chunks.len() < docs.len() / 2,
        "{} chunks for {} rows: batching did not happen",
        chunks.len(),
        docs.len()
    );
}
