//! The peers measured beside jsonwire and tokio-postgres, each behind a feature of its own so
//! the default benchmark build (and the library) does not compile them:
//!
//! - sqlx 0.8 (feature `peer-sqlx`): `sqlx::query_scalar(sql).fetch(&mut conn)` with rows read
//!   as `Json<Box<RawValue>>` (its cheapest raw form: the JSON text is copied into a box, not
//!   parsed) and as `serde_json::Value`. sqlx prepares the statement on first use and keeps it
//!   in its per-connection cache, so later iterations take one round trip, as jsonwire does.
//! - fraiseql-wire 2.19.0 (feature `peer-fraiseql`): a build of its own,
//!   `benches/peers/fraiseql`, run as a subprocess ([`fraiseql`]), because fraiseql-wire turns
//!   on serde_json's `preserve_order`, which in this build would change `serde_json::Value` for
//!   every other client.

#[cfg(feature = "peer-sqlx")]
pub use sqlx_peer::*;

// No dependency of its own: it starts the peer's binary. Run only with `peer-fraiseql`.
pub mod fraiseql;

#[cfg(feature = "peer-sqlx")]
mod sqlx_peer {
    use std::hint::black_box;
    use std::time::Instant;

    use futures_util::TryStreamExt as _;
    use serde_json::value::RawValue;
    use serde_json::Value;
    use sqlx::types::Json;
    use sqlx::Connection as _;

    use crate::clients::{BenchError, Mode, Received};
    use crate::dataset::Workload;

    /// One sqlx connection (no pool: a pool's checkout would be timed too).
    pub type SqlxConn = sqlx::PgConnection;

    /// Connects sqlx without TLS.
    ///
    /// # Errors
    /// Whatever sqlx reports.
    pub async fn sqlx_connect(url: &str) -> Result<SqlxConn, BenchError> {
        Ok(sqlx::PgConnection::connect(url).await?)
    }

    /// Streams `w` through sqlx in `mode` (raw: `Json<Box<RawValue>>`; Value: `Value`).
    ///
    /// # Errors
    /// Whatever sqlx reports; typed rows are not measured for sqlx.
    pub async fn sqlx_rows(
        conn: &mut SqlxConn,
        w: &Workload,
        mode: Mode,
    ) -> Result<Received, BenchError> {
        assert!(
            w.below_bucket.is_none(),
            "the sqlx rows read whole views, without parameters"
        );
        let started = Instant::now();
        let sql = w.sql();
        let mut ttfr = None;
        let (mut n, mut bytes) = (0u64, 0u64);
        match mode {
            Mode::Raw => {
                let mut rows =
                    sqlx::query_scalar::<_, Json<Box<RawValue>>>(sql.as_str()).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await? {
                    ttfr.get_or_insert_with(|| started.elapsed());
                    n += 1;
                    bytes += row.0.get().len() as u64;
                    black_box(&row);
                }
            }
            Mode::Value => {
                let mut rows = sqlx::query_scalar::<_, Json<Value>>(sql.as_str()).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await? {
                    ttfr.get_or_insert_with(|| started.elapsed());
                    n += 1;
                    black_box(&row);
                }
            }
            Mode::Typed => return Err("sqlx typed rows are not part of the comparison".into()),
        }
        Ok(Received {
            rows: n,
            bytes: (mode == Mode::Raw).then_some(bytes),
            ttfr,
            elapsed: started.elapsed(),
            ..Received::default()
        })
    }
}
