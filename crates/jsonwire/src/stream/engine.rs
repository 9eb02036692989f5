//! The row engine behind every stream: sends the query, then takes rows from the
//! connection's read buffer as zero-copy slices, reading the socket only when asked to and
//! nothing complete is buffered. It holds the connection's [`Lease`] for the query's length
//! and gives the connection back when the response ends, is abandoned, times out or breaks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::conn::{Conn, Lease, Slot};
use crate::error::{Error, ErrorKind, Result};
use crate::param::Param;
use crate::proto::backend::Message;
use crate::proto::frontend;
use crate::proto::rows::{RowDecoder, RowEvent};

/// Figures about one stream, available at any time from [`RawStream::stats`](crate::RawStream::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Rows handed out so far.
    pub rows: u64,
    /// Bytes of JSON text handed out so far.
    pub bytes: u64,
    /// Bytes received from the server for this query, protocol framing included.
    pub wire_bytes: u64,
    /// From sending the query to the first row being available.
    pub time_to_first_row: Option<Duration>,
    /// From sending the query to now, or to the end of the stream once it ended.
    pub elapsed: Duration,
    /// Client–server round trips this query took.
    pub round_trips: u32,
    /// The largest read-buffer capacity the connection held during the query, in bytes.
    pub buffer_high_water: usize,
}

/// One query's response being read; holds the connection until the response ends. Dropped
/// before that, it cancels the query and drains the connection in the background.
pub(crate) struct Engine {
    lease: Option<Lease>,
    decoder: RowDecoder,
    /// An error that arrived while a chunk was being filled, handed out next.
    deferred: Option<Error>,
    /// The connection broke during this query (and was closed).
    broke: bool,
    started: Instant,
    wire_start: u64,
    deadline: Option<Deadline>,
    /// Wakes the stream when the deadline passes while it waits for the socket.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    stats: Stats,
}

/// A query's time limit: when it ends, and how long it was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
}

impl Deadline {
    fn new(limit: Option<Duration>) -> Option<Deadline> {
        limit.map(|limit| Deadline {
            at: tokio::time::Instant::now() + limit,
            limit,
        })
    }

    fn passed(&self) -> bool {
        tokio::time::Instant::now() >= self.at
    }

    fn error(&self) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "the query ran past its time limit of {:?}; it was cancelled on the server",
                self.limit
            ),
        )
    }
}

/// Sends the query over the leased connection and reads up to its RowDescription, within
/// `timeout` (else the connection's `query_timeout`), which then bounds the rows too. On an
/// error the connection is given back (ready, or closed if it broke); when the time runs out,
/// or this future is dropped (the lease's own drop), the query is cancelled and the
/// connection recovered in the background.
pub(crate) async fn start(
    mut lease: Lease,
    sql: &str,
    params: &[Param],
    timeout: Option<Duration>,
) -> Result<Engine> {
    let conn = lease.conn();
    let result_format = i16::from(conn.tuning.binary_results);
    // Flush after Describe: the server sends the RowDescription (or the error that a wrong
    // statement raises while it is planned) at once, instead of holding it in its output
    // buffer until the rows fill it or the statement ends.
    let encoded = frontend::parse(&mut conn.wbuf, "", sql)
        .and_then(|()| {
            let values = params.iter().map(Param::as_bytes);
            frontend::bind(&mut conn.wbuf, "", "", values, result_format)
        })
        .and_then(|()| frontend::describe(&mut conn.wbuf, b'P', ""))
        .and_then(|()| {
            frontend::flush(&mut conn.wbuf);
            frontend::execute(&mut conn.wbuf, "", 0)
        });
    if let Err(e) = encoded {
        conn.wbuf.clear();
        lease.give_back();
        return Err(e);
    }
    frontend::sync(&mut conn.wbuf);

    let deadline = Deadline::new(limit(timeout, conn.tuning.query_timeout));
    let started = Instant::now();
    let wire_start = conn.bytes_read;
    conn.buffer_high_water = conn.rbuf.capacity();
    let described = match deadline {
        Some(d) => match tokio::time::timeout_at(d.at, describe(lease.conn())).await {
            Ok(described) => described,
            Err(_) => {
                let _ = lease.recover(false).await;
                return Err(d.error());
            }
        },
        None => describe(lease.conn()).await,
    };
    match described {
        Ok(Described::Columns(columns)) => {
            match RowDecoder::for_columns(&columns, lease.conn().tuning.max_message_size) {
                Ok(decoder) => Ok(Engine {
                    lease: Some(lease),
                    decoder,
                    deferred: None,
                    broke: false,
                    started,
                    wire_start,
                    deadline,
                    timer: None,
                    stats: Stats {
                        round_trips: 1,
                        ..Stats::default()
                    },
                }),
                Err(e) => {
                    // The error says what is wrong with the columns; a failed recovery
                    // shows as a closed connection on the next query.
                    let _ = lease.recover(false).await;
                    Err(e)
                }
            }
        }
        Ok(Described::NoData) => {
            let _ = lease.recover(false).await;
            Err(Error::new(
                ErrorKind::Column,
                "the statement returns no rows; expected one json or jsonb column",
            ))
        }
        Ok(Described::Failed(db)) => {
            let _ = lease.recover(true).await;
            Err(Error::db(db))
        }
        Err(e) => {
            lease.close();
            Err(e)
        }
    }
}

/// A query's own limit (zero: none), else the connection's `query_timeout`.
fn limit(timeout: Option<Duration>, default: Option<Duration>) -> Option<Duration> {
    match timeout {
        Some(limit) => (!limit.is_zero()).then_some(limit),
        None => default,
    }
}

/// Runs SQL with the simple query protocol to its ReadyForQuery, within the connection's
/// `query_timeout`; returns the first server error. Timed out or dropped, it cancels the
/// statement and recovers the connection in the background, as a stream does.
pub(crate) async fn batch(slot: &mut Slot, sql: &str) -> Result<()> {
    let mut lease = slot.take().await?;
    let conn = lease.conn();
    if let Err(e) = frontend::query(&mut conn.wbuf, sql) {
        conn.wbuf.clear();
        lease.give_back();
        return Err(e);
    }
    let deadline = Deadline::new(conn.tuning.query_timeout);
    let work = async {
        let conn = lease.conn();
        conn.flush().await?;
        let mut error = None;
        loop {
            match conn.next_sync_message().await? {
                Message::ReadyForQuery(status) => {
                    conn.tx_status = status;
                    return Ok(error);
                }
                Message::ErrorResponse(db) if matches!(db.severity(), "FATAL" | "PANIC") => {
                    return Err(Error::db(db))
                }
                Message::ErrorResponse(db) => error = error.or(Some(Error::db(db))),
                _ => {}
            }
        }
    };
    let outcome = match deadline {
        Some(d) => match tokio::time::timeout_at(d.at, work).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let _ = lease.recover(false).await;
                return Err(d.error());
            }
        },
        None => work.await,
    };
    match outcome {
        Ok(error) => {
            lease.give_back();
            error.map_or(Ok(()), Err)
        }
        Err(e) => {
            lease.close();
            Err(e)
        }
    }
}

/// How the server answered up to the result description.
enum Described {
    Columns(Vec<crate::proto::backend::Column>),
    NoData,
    Failed(Box<crate::error::DbError>),
}

/// Sends the query and reads up to its description. An `Err` leaves the connection in an
/// unknown state.
async fn describe(conn: &mut Conn) -> Result<Described> {
    conn.flush().await?;
    loop {
        match conn.next_sync_message().await? {
            Message::ParseComplete | Message::BindComplete => {}
            Message::RowDescription(columns) => return Ok(Described::Columns(columns)),
            Message::NoData => return Ok(Described::NoData),
            Message::ErrorResponse(db) if matches!(db.severity(), "FATAL" | "PANIC") => {
                return Err(Error::db(db))
            }
            Message::ErrorResponse(db) => return Ok(Described::Failed(db)),
            other => {
                return Err(Error::protocol(format!(
                    "unexpected {} while reading query results",
                    other.name()
                )))
            }
        }
    }
}

impl Engine {
    /// Figures about the query so far.
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.stats;
        if let Some(lease) = &self.lease {
            let conn = lease.conn_ref();
            stats.elapsed = self.started.elapsed();
            stats.wire_bytes = conn.bytes_read - self.wire_start;
            stats.buffer_high_water = conn.buffer_high_water;
        }
        stats
    }

    /// Rows handed out so far.
    pub(crate) fn rows(&self) -> u64 {
        self.stats.rows
    }

    /// Whether the engine still holds the connection (the response has not ended).
    pub(crate) fn is_open(&self) -> bool {
        self.lease.is_some()
    }

    /// Hands `e` out on the next poll, before anything else.
    pub(crate) fn defer(&mut self, e: Error) {
        self.deferred = Some(e);
    }

    /// The next row from the buffer, reading the socket only when `may_read` and nothing
    /// complete is buffered. The connection is given back when the response ends, recovered
    /// in the background when the deadline passes, and closed when it breaks.
    pub(crate) fn poll_row(
        &mut self,
        cx: &mut Context<'_>,
        may_read: bool,
    ) -> Poll<Option<Result<Bytes>>> {
        if let Some(e) = self.deferred.take() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            let Some(lease) = self.lease.as_mut() else {
                return Poll::Ready(None);
            };
            let conn = lease.conn();
            match self.decoder.next(&mut conn.rbuf) {
                Ok(RowEvent::Row(value)) => {
                    if self.stats.rows == 0 {
                        self.stats.time_to_first_row = Some(self.started.elapsed());
                    }
                    self.stats.rows += 1;
                    self.stats.bytes += value.len() as u64;
                    return Poll::Ready(Some(Ok(value)));
                }
                Ok(RowEvent::Async(msg)) => {
                    conn.dispatch_async(msg);
                }
                Ok(RowEvent::Done { status, error }) => {
                    conn.tx_status = status;
                    self.finish();
                    return Poll::Ready(error.map(|db| Err(Error::db(db))));
                }
                Ok(RowEvent::NeedMore) => {
                    if !may_read {
                        return Poll::Pending;
                    }
                    // Checked before every read, not only while waiting: a result that keeps
                    // arriving would otherwise never see its deadline.
                    if let Some(deadline) = self.deadline {
                        if deadline.passed() {
                            return Poll::Ready(Some(Err(self.timed_out(deadline))));
                        }
                    }
                    match conn.poll_fill(cx) {
                        Poll::Pending => {
                            if let Some(deadline) = self.deadline {
                                let timer = self.timer.get_or_insert_with(|| {
                                    Box::pin(tokio::time::sleep_until(deadline.at))
                                });
                                if timer.as_mut().poll(cx).is_ready() {
                                    return Poll::Ready(Some(Err(self.timed_out(deadline))));
                                }
                            }
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(self.broken(e)))),
                    }
                }
                Err(e) => return Poll::Ready(Some(Err(self.broken(e)))),
            }
        }
    }

    /// Cancels the query (unless it already finished) and reads the rest of the response,
    /// then gives the connection back. Dropping this future leaves the recovery running in
    /// the background.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] when the connection could not be brought back within the drain
    /// limits and was closed instead, or had broken earlier.
    pub(crate) async fn cancel(&mut self) -> Result<()> {
        match self.take_lease() {
            Some(lease) => lease.recover(self.decoder.completed()).await,
            None if self.broke => Err(Error::closed()),
            None => Ok(()),
        }
    }

    /// The deadline passed: the query is cancelled and the connection recovered in the
    /// background (the next query waits for it); the stream ends with a timeout error.
    fn timed_out(&mut self, deadline: Deadline) -> Error {
        self.timer = None;
        if let Some(lease) = self.take_lease() {
            lease.recover_in_background(self.decoder.completed());
        }
        deadline.error()
    }

    /// The response ended: the connection is given back.
    fn finish(&mut self) {
        if let Some(mut lease) = self.take_lease() {
            lease.conn().settle_read_buffer();
            lease.give_back();
        }
    }

    /// The connection is in an unknown state: close it.
    fn broken(&mut self, e: Error) -> Error {
        if let Some(lease) = self.take_lease() {
            lease.close();
        }
        self.broke = true;
        e
    }

    /// Takes the lease out, fixing the stream's figures where the connection leaves.
    fn take_lease(&mut self) -> Option<Lease> {
        let lease = self.lease.take()?;
        let conn = lease.conn_ref();
        self.stats.elapsed = self.started.elapsed();
        self.stats.wire_bytes = conn.bytes_read - self.wire_start;
        self.stats.buffer_high_water = conn.buffer_high_water;
        Some(lease)
    }
}

impl Drop for Engine {
    /// Abandoned before its end: cancel and drain in the background; the connection's next
    /// query waits for that.
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.recover_in_background(self.decoder.completed());
        }
    }
}
