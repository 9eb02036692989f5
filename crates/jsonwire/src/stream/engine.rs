//! The row engine behind every stream: sends the query, then takes rows from the
//! connection's read buffer as zero-copy slices, reading the socket only when asked to and
//! nothing complete is buffered. It holds the connection for the query's length and gives it
//! back to a [`Slot`] when the response ends, is abandoned or breaks.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::conn::{Conn, Slot};
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

/// One query's response being read; owns the connection until the response ends.
pub(crate) struct Engine {
    conn: Option<Box<Conn>>,
    decoder: RowDecoder,
    /// An error that arrived while a chunk was being filled, handed out next.
    deferred: Option<Error>,
    started: Instant,
    wire_start: u64,
    stats: Stats,
}

/// Takes the connection from `slot`, sends the query and reads up to its RowDescription.
/// On an error the connection is back in `slot` (ready, or closed if it broke).
pub(crate) async fn start(slot: &mut Slot, sql: &str, params: &[Param]) -> Result<Engine> {
    let mut conn = slot.take().await?;
    let result_format = i16::from(conn.tuning.binary_results);
    let encoded = frontend::parse(&mut conn.wbuf, "", sql)
        .and_then(|()| {
            let values = params.iter().map(Param::as_bytes);
            frontend::bind(&mut conn.wbuf, "", "", values, result_format)
        })
        .and_then(|()| frontend::describe(&mut conn.wbuf, b'P', ""))
        .and_then(|()| frontend::execute(&mut conn.wbuf, "", 0));
    if let Err(e) = encoded {
        conn.wbuf.clear();
        slot.put(conn);
        return Err(e);
    }
    frontend::sync(&mut conn.wbuf);

    let started = Instant::now();
    let wire_start = conn.bytes_read;
    conn.buffer_high_water = conn.rbuf.capacity();
    if let Err(e) = conn.flush().await {
        slot.close();
        return Err(e);
    }
    loop {
        let msg = match conn.next_sync_message().await {
            Ok(msg) => msg,
            Err(e) => {
                slot.close();
                return Err(e);
            }
        };
        match msg {
            Message::ParseComplete | Message::BindComplete => {}
            Message::RowDescription(columns) => {
                return match RowDecoder::for_columns(&columns, conn.tuning.max_message_size) {
                    Ok(decoder) => Ok(Engine {
                        conn: Some(conn),
                        decoder,
                        deferred: None,
                        started,
                        wire_start,
                        stats: Stats {
                            round_trips: 1,
                            ..Stats::default()
                        },
                    }),
                    Err(e) => {
                        // The error says what is wrong with the columns; a failed recovery
                        // shows as a closed connection on the next query.
                        let _ = slot.recover(conn, false).await;
                        Err(e)
                    }
                };
            }
            Message::NoData => {
                let _ = slot.recover(conn, false).await;
                return Err(Error::new(
                    ErrorKind::Column,
                    "the statement returns no rows; expected one json or jsonb column",
                ));
            }
            Message::ErrorResponse(db) => {
                let _ = slot.recover(conn, true).await;
                return Err(Error::db(db));
            }
            other => {
                slot.close();
                return Err(Error::protocol(format!(
                    "unexpected {} while reading query results",
                    other.name()
                )));
            }
        }
    }
}

impl Engine {
    /// Figures about the query so far.
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.stats;
        if let Some(conn) = &self.conn {
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
        self.conn.is_some()
    }

    /// Hands `e` out on the next poll, before anything else.
    pub(crate) fn defer(&mut self, e: Error) {
        self.deferred = Some(e);
    }

    /// The next row from the buffer, reading the socket only when `may_read` and nothing
    /// complete is buffered. The connection goes back to `slot` when the response ends, and
    /// `slot` is closed when the connection breaks.
    pub(crate) fn poll_row(
        &mut self,
        cx: &mut Context<'_>,
        may_read: bool,
        slot: &mut Slot,
    ) -> Poll<Option<Result<Bytes>>> {
        if let Some(e) = self.deferred.take() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
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
                    self.finish(slot);
                    return Poll::Ready(error.map(|db| Err(Error::db(db))));
                }
                Ok(RowEvent::NeedMore) => {
                    if !may_read {
                        return Poll::Pending;
                    }
                    match conn.poll_fill(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(self.broken(slot, e)))),
                    }
                }
                Err(e) => return Poll::Ready(Some(Err(self.broken(slot, e)))),
            }
        }
    }

    /// Cancels the query (unless it already finished) and reads the rest of the response,
    /// then gives the connection back to `slot`.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] when the connection could not be brought back within the drain
    /// limits and was closed instead.
    pub(crate) async fn cancel(&mut self, slot: &mut Slot) -> Result<()> {
        match self.conn.take() {
            Some(conn) => {
                self.end_stats(&conn);
                slot.recover(conn, self.decoder.completed()).await
            }
            None if slot.is_closed() => Err(Error::closed()),
            None => Ok(()),
        }
    }

    /// The stream is abandoned before its end: cancel and drain in the background; `slot`
    /// waits for the connection.
    pub(crate) fn abandon(&mut self, slot: &mut Slot) {
        if let Some(conn) = self.conn.take() {
            self.end_stats(&conn);
            slot.recover_in_background(conn, self.decoder.completed());
        }
    }

    /// The response ended: the connection goes back to `slot`.
    fn finish(&mut self, slot: &mut Slot) {
        if let Some(mut conn) = self.conn.take() {
            self.end_stats(&conn);
            conn.settle_read_buffer();
            slot.put(conn);
        }
    }

    /// The connection is in an unknown state: close it.
    fn broken(&mut self, slot: &mut Slot, e: Error) -> Error {
        if let Some(conn) = self.conn.take() {
            self.end_stats(&conn);
        }
        slot.close();
        e
    }

    fn end_stats(&mut self, conn: &Conn) {
        self.stats.elapsed = self.started.elapsed();
        self.stats.wire_bytes = conn.bytes_read - self.wire_start;
        self.stats.buffer_high_water = conn.buffer_high_water;
    }
}
