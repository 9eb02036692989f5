//! One query through each client, as its users would write it, reporting what arrived.
//!
//! - jsonwire: `client.query(view).filter(..).stream_raw()` (rows as `Bytes`), `.stream::<Value>()`
//!   and `.stream::<Order>()`.
//! - tokio-postgres: `client.query_raw(sql, params)` with the statement text (it prepares, then
//!   binds; two round trips), each row read as `serde_json::Value` (feature
//!   `with-serde_json-1`), as `Json<Order>`, or through [`RawJson`], a `FromSql` that borrows the
//!   bytes: the cheapest raw form a tokio-postgres user can get.
//! - the raw socket: [`crate::raw_socket`].
//!
//! Times start when the client is asked for the query and end with its last row, so both
//! clients are charged for their whole protocol exchange.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use serde_json::Value;
use tokio_postgres::types::{FromSql, Json, ToSql, Type};

use crate::dataset::{BulkOrder, Order, Workload, SELECTIVITY_PREDICATE};

/// Any error of a benchmark client.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// An error and its sources, `outer: inner: …` (tokio-postgres's own message is only "db
/// error"; the server's is its source).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// How rows are consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The JSON text as bytes, untouched.
    Raw,
    /// Parsed into `serde_json::Value`.
    Value,
    /// Deserialized into a struct ([`Order`], or [`BulkOrder`] for the large documents).
    Typed,
}

impl Mode {
    /// All modes.
    pub const ALL: [Mode; 3] = [Mode::Raw, Mode::Value, Mode::Typed];

    /// `raw`, `value` or `typed`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Raw => "raw",
            Mode::Value => "value",
            Mode::Typed => "typed",
        }
    }
}

/// What one query delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// Rows received.
    pub rows: u64,
    /// JSON text bytes received, when known.
    pub bytes: Option<u64>,
    /// From asking for the query to the first row.
    pub ttfr: Option<Duration>,
    /// From asking for the query to the end of the result.
    pub elapsed: Duration,
    /// Bytes read from the socket (jsonwire and the raw socket).
    pub wire_bytes: Option<u64>,
    /// Round trips (jsonwire).
    pub round_trips: Option<u64>,
    /// The largest read-buffer capacity the connection held (jsonwire).
    pub buffer_high_water: Option<u64>,
    /// Socket reads that returned data (the raw socket).
    pub reads: Option<u64>,
}

fn jw_received(started: Instant, ttfr: Option<Duration>, stats: jsonwire::Stats) -> Received {
    Received {
        rows: stats.rows,
        bytes: Some(stats.bytes),
        ttfr,
        elapsed: started.elapsed(),
        wire_bytes: Some(stats.wire_bytes),
        round_trips: Some(u64::from(stats.round_trips)),
        buffer_high_water: Some(stats.buffer_high_water as u64),
        reads: None,
    }
}

fn jw_query<'a>(
    client: &'a mut jsonwire::Client,
    w: &Workload,
) -> jsonwire::Query<&'a mut jsonwire::Client> {
    match w.below_bucket {
        None => client.query(w.view),
        Some(p) => client.query(w.view).filter(SELECTIVITY_PREDICATE).bind(p),
    }
}

/// Streams `w` through jsonwire in `mode`; `large` selects [`BulkOrder`] for typed rows.
///
/// # Errors
/// Whatever jsonwire reports.
pub async fn jsonwire(
    client: &mut jsonwire::Client,
    w: &Workload,
    mode: Mode,
    large: bool,
) -> Result<Received, BenchError> {
    let started = Instant::now();
    let mut ttfr = None;
    let query = jw_query(client, w);
    let stats = match mode {
        Mode::Raw => {
            let mut rows = query.stream_raw().await?;
            while let Some(row) = rows.try_next().await? {
                ttfr.get_or_insert_with(|| started.elapsed());
                black_box(&row);
            }
            rows.stats()
        }
        Mode::Value => {
            let mut rows = query.stream::<Value>().await?;
            while let Some(row) = rows.try_next().await? {
                ttfr.get_or_insert_with(|| started.elapsed());
                black_box(&row);
            }
            rows.stats()
        }
        Mode::Typed if large => {
            let mut rows = query.stream::<BulkOrder>().await?;
            while let Some(row) = rows.try_next().await? {
                ttfr.get_or_insert_with(|| started.elapsed());
                black_box(row.digest());
            }
            rows.stats()
        }
        Mode::Typed => {
            let mut rows = query.stream::<Order>().await?;
            while let Some(row) = rows.try_next().await? {
                ttfr.get_or_insert_with(|| started.elapsed());
                black_box(row.digest());
            }
            rows.stats()
        }
    };
    Ok(jw_received(started, ttfr, stats))
}

/// Streams `w` through jsonwire with `RawStream::next_chunk(max_rows, max_bytes)`.
///
/// # Errors
/// Whatever jsonwire reports.
pub async fn jsonwire_chunks(
    client: &mut jsonwire::Client,
    w: &Workload,
    max_rows: usize,
    max_bytes: usize,
) -> Result<Received, BenchError> {
    let started = Instant::now();
    let mut ttfr = None;
    let mut rows = jw_query(client, w).stream_raw().await?;
    while let Some(chunk) = rows.next_chunk(max_rows, max_bytes).await? {
        ttfr.get_or_insert_with(|| started.elapsed());
        black_box(&chunk);
    }
    Ok(jw_received(started, ttfr, rows.stats()))
}

/// Streams all of `w` through jsonwire and keeps the rows whose `bucket` is below `p`, parsing
/// each row into a `Value` (what a client without SQL pushdown does). `rows` and `bytes` count
/// the rows kept; `wire_bytes` is everything received.
///
/// # Errors
/// Whatever jsonwire reports, or a row without an integer `bucket`.
pub async fn jsonwire_rust_filter(
    client: &mut jsonwire::Client,
    w: &Workload,
    p: u32,
) -> Result<Received, BenchError> {
    let started = Instant::now();
    let mut ttfr = None;
    let (mut kept, mut kept_bytes) = (0u64, 0u64);
    let mut rows = jw_query(client, w).stream_raw().await?;
    while let Some(row) = rows.try_next().await? {
        let doc: Value = serde_json::from_slice(&row)?;
        let bucket = doc["bucket"]
            .as_i64()
            .ok_or("a row without an integer \"bucket\"")?;
        if bucket < i64::from(p) {
            ttfr.get_or_insert_with(|| started.elapsed());
            kept += 1;
            kept_bytes += row.len() as u64;
            black_box(&row);
        }
    }
    let stats = rows.stats();
    Ok(Received {
        rows: kept,
        bytes: Some(kept_bytes),
        ..jw_received(started, ttfr, stats)
    })
}

/// Reads the first `n` rows of `w` through jsonwire (the figures end there), then cancels the
/// query with `RawStream::cancel` and waits for the connection to be ready again.
///
/// # Errors
/// Whatever jsonwire reports.
pub async fn jsonwire_first_rows(
    client: &mut jsonwire::Client,
    w: &Workload,
    n: u64,
) -> Result<Received, BenchError> {
    let started = Instant::now();
    let mut ttfr = None;
    let mut rows = jw_query(client, w).stream_raw().await?;
    let mut received = 0;
    while received < n {
        let Some(row) = rows.try_next().await? else {
            break;
        };
        ttfr.get_or_insert_with(|| started.elapsed());
        black_box(&row);
        received += 1;
    }
    let result = jw_received(started, ttfr, rows.stats());
    rows.cancel().await?;
    Ok(result)
}

/// A tokio-postgres client with its connection task.
#[derive(Debug)]
pub struct TokioClient {
    /// The client.
    pub client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl TokioClient {
    /// Connects (without TLS) and spawns the connection task on the current runtime.
    ///
    /// # Errors
    /// Whatever tokio-postgres reports.
    pub async fn connect(conninfo: &str) -> Result<TokioClient, BenchError> {
        let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("tokio-postgres connection ended with an error: {e}");
            }
        });
        Ok(TokioClient { client, task })
    }

    /// Connects over TLS (tokio-postgres-rustls, ring), trusting the CA certificate in
    /// `root_pem`, and spawns the connection task on the current runtime.
    ///
    /// # Errors
    /// An unreadable root certificate, or whatever tokio-postgres reports.
    pub async fn connect_tls(conninfo: &str, root_pem: &Path) -> Result<TokioClient, BenchError> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(root_pem)
            .map_err(|e| format!("{}: {e}", root_pem.display()))?
        {
            roots
                .add(cert.map_err(|e| format!("{}: {e}", root_pem.display()))?)
                .map_err(|e| format!("{}: {e}", root_pem.display()))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config);
        let (client, connection) = tokio_postgres::connect(conninfo, tls).await?;
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("tokio-postgres connection ended with an error: {e}");
            }
        });
        Ok(TokioClient { client, task })
    }

    /// Closes the connection and waits for its task to end.
    pub async fn close(self) {
        drop(self.client);
        let _ = self.task.await;
    }
}

/// A JSON value's bytes borrowed from tokio-postgres's row buffer, without copying or
/// parsing: the cheapest raw form a tokio-postgres user can get.
#[derive(Debug, Clone, Copy)]
pub struct RawJson<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for RawJson<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<RawJson<'a>, BenchError> {
        if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, text)) => Ok(RawJson(text)),
                _ => Err("unsupported jsonb binary format".into()),
            }
        } else {
            Ok(RawJson(raw))
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

fn tp_params(w: &Workload) -> Vec<i32> {
    w.below_bucket
        .iter()
        .map(|&p| i32::try_from(p).unwrap_or(i32::MAX))
        .collect()
}

/// Streams `w` through tokio-postgres's `query_raw` in `mode`, stopping after `limit` rows
/// when given (the stream is then dropped; tokio-postgres reads and discards the rest of the
/// result in its connection task).
///
/// # Errors
/// Whatever tokio-postgres reports.
pub async fn tokio_postgres(
    client: &tokio_postgres::Client,
    w: &Workload,
    mode: Mode,
    large: bool,
    limit: Option<u64>,
) -> Result<Received, BenchError> {
    let started = Instant::now();
    let params = tp_params(w);
    let rows = client
        .query_raw(
            w.sql().as_str(),
            params.iter().map(|p| p as &(dyn ToSql + Sync)),
        )
        .await?;
    let mut rows = std::pin::pin!(rows);
    let mut ttfr = None;
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(row) = rows.try_next().await? {
        ttfr.get_or_insert_with(|| started.elapsed());
        match mode {
            Mode::Raw => {
                let json: RawJson<'_> = row.try_get(0)?;
                bytes += json.0.len() as u64;
                black_box(json.0);
            }
            Mode::Value => {
                let doc: Value = row.try_get(0)?;
                black_box(&doc);
            }
            Mode::Typed if large => {
                let doc: Json<BulkOrder> = row.try_get(0)?;
                black_box(doc.0.digest());
            }
            Mode::Typed => {
                let doc: Json<Order> = row.try_get(0)?;
                black_box(doc.0.digest());
            }
        }
        n += 1;
        if limit == Some(n) {
            break;
        }
    }
    Ok(Received {
        rows: n,
        bytes: (mode == Mode::Raw).then_some(bytes),
        ttfr,
        elapsed: started.elapsed(),
        wire_bytes: None,
        round_trips: None,
        buffer_high_water: None,
        reads: None,
    })
}
