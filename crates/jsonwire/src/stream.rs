//! Row streams: raw JSON bytes, or rows deserialized with serde.

use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;

use crate::client::{Client, Param, Slot};
use crate::conn::Conn;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::backend::Message;
use crate::proto::frontend;
use crate::proto::rows::{RowDecoder, RowEvent};

/// Figures about one stream, available at any time from [`RawStream::stats`].
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

/// A stream of rows, each the JSON text of the row's one column as [`Bytes`].
///
/// Rows are zero-copy slices of the connection's read buffer: holding on to one keeps its
/// part of that buffer alive. The stream reads the socket only when polled and the buffered
/// rows are used up, so a consumer that stops polling stops the server (TCP pushes back).
///
/// Dropping the stream before its end cancels the query and drains the connection in the
/// background; [`RawStream::cancel`] does the same and waits for it.
pub struct RawStream<'a> {
    slot: &'a mut Slot,
    conn: Option<Box<Conn>>,
    decoder: RowDecoder,
    /// An error that arrived while a chunk was being filled, handed out next.
    deferred: Option<Error>,
    started: Instant,
    wire_start: u64,
    stats: Stats,
}

/// Sends the query and reads up to its RowDescription.
pub(crate) async fn start<'a>(
    client: &'a mut Client,
    sql: &str,
    params: &[Param],
) -> Result<RawStream<'a>> {
    let mut conn = client.take_ready().await?;
    let result_format = i16::from(conn.tuning.binary_results);
    let encoded = frontend::parse(&mut conn.wbuf, "", sql)
        .and_then(|()| {
            let values = params.iter().map(|p| p.0.as_deref().map(str::as_bytes));
            frontend::bind(&mut conn.wbuf, "", "", values, result_format)
        })
        .and_then(|()| frontend::describe(&mut conn.wbuf, b'P', ""))
        .and_then(|()| frontend::execute(&mut conn.wbuf, "", 0));
    if let Err(e) = encoded {
        conn.wbuf.clear();
        client.slot = Slot::Ready(conn);
        return Err(e);
    }
    frontend::sync(&mut conn.wbuf);

    let started = Instant::now();
    let wire_start = conn.bytes_read;
    conn.buffer_high_water = conn.rbuf.capacity();
    if let Err(e) = conn.flush().await {
        client.slot = Slot::Closed;
        return Err(e);
    }
    loop {
        let msg = match conn.next_sync_message().await {
            Ok(msg) => msg,
            Err(e) => {
                client.slot = Slot::Closed;
                return Err(e);
            }
        };
        match msg {
            Message::ParseComplete | Message::BindComplete => {}
            Message::RowDescription(columns) => {
                let decoder = match RowDecoder::for_columns(&columns, conn.tuning.max_message_size)
                {
                    Ok(decoder) => decoder,
                    Err(e) => {
                        restore(client, conn, false).await;
                        return Err(e);
                    }
                };
                return Ok(RawStream {
                    slot: &mut client.slot,
                    conn: Some(conn),
                    decoder,
                    deferred: None,
                    started,
                    wire_start,
                    stats: Stats {
                        round_trips: 1,
                        ..Stats::default()
                    },
                });
            }
            Message::NoData => {
                restore(client, conn, false).await;
                return Err(Error::new(
                    ErrorKind::Column,
                    "the statement returns no rows; expected one json or jsonb column",
                ));
            }
            Message::ErrorResponse(db) => {
                restore(client, conn, true).await;
                return Err(Error::db(db));
            }
            other => {
                client.slot = Slot::Closed;
                return Err(unexpected(&other));
            }
        }
    }
}

/// Brings a connection back to ReadyForQuery before the client gets it back.
async fn restore(client: &mut Client, conn: Box<Conn>, completed: bool) {
    client.slot = match conn.recover(completed).await {
        Some(conn) => Slot::Ready(conn),
        None => Slot::Closed,
    };
}

fn unexpected(msg: &Message) -> Error {
    Error::protocol(format!(
        "unexpected {} while reading query results",
        msg.name()
    ))
}

impl<'a> RawStream<'a> {
    /// Figures about this stream so far.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats;
        if let Some(conn) = &self.conn {
            stats.elapsed = self.started.elapsed();
            stats.wire_bytes = conn.bytes_read - self.wire_start;
            stats.buffer_high_water = conn.buffer_high_water;
        }
        stats
    }

    /// The next row, or `None` at the end.
    ///
    /// # Errors
    /// A server error raised while the query ran (after every row that came before it; the
    /// stream then ends and the client is ready for the next query), or an I/O or protocol
    /// error (the connection is then closed).
    pub async fn try_next(&mut self) -> Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_row(cx, true)).await.transpose()
    }

    /// The next rows: at least one (waiting for the socket if none is buffered), then every
    /// row already received, up to `max_rows` rows and about `max_bytes` bytes, without
    /// reading the socket again. `None` at the end.
    ///
    /// # Errors
    /// As [`RawStream::try_next`]; an error that follows buffered rows is returned by the
    /// next call, after those rows.
    pub async fn next_chunk(
        &mut self,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<Option<Vec<Bytes>>> {
        let first = match poll_fn(|cx| self.poll_row(cx, true)).await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(row)) => row,
        };
        let mut bytes = first.len();
        // Sized for what the byte limit lets through at this row size, not for max_rows.
        let fits = max_bytes / bytes.max(1) + 1;
        let mut rows = Vec::with_capacity(max_rows.min(fits).clamp(1, 1024));
        rows.push(first);
        // Only buffered rows are taken from here on: nothing waits, so no waker is needed.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while rows.len() < max_rows && bytes < max_bytes {
            match self.poll_row(&mut cx, false) {
                Poll::Ready(Some(Ok(row))) => {
                    bytes += row.len();
                    rows.push(row);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.deferred = Some(e);
                    break;
                }
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        Ok(Some(rows))
    }

    /// Cancels the query (unless it already finished), reads the rest of the response and
    /// hands the connection back to the client.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] when the connection could not be brought back within the drain
    /// limits and was closed instead.
    pub async fn cancel(mut self) -> Result<()> {
        let Some(conn) = self.conn.take() else {
            return if matches!(self.slot, Slot::Closed) {
                Err(Error::closed())
            } else {
                Ok(())
            };
        };
        match conn.recover(self.decoder.completed()).await {
            Some(conn) => {
                *self.slot = Slot::Ready(conn);
                Ok(())
            }
            None => {
                *self.slot = Slot::Closed;
                Err(Error::new(
                    ErrorKind::Closed,
                    "the connection could not be drained and was closed",
                ))
            }
        }
    }

    /// The core of every stream: the next row from the buffer, reading the socket only when
    /// `may_read` and nothing complete is buffered.
    fn poll_row(&mut self, cx: &mut Context<'_>, may_read: bool) -> Poll<Option<Result<Bytes>>> {
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
                    self.finish();
                    return Poll::Ready(error.map(|db| Err(Error::db(db))));
                }
                Ok(RowEvent::NeedMore) => {
                    if !may_read {
                        return Poll::Pending;
                    }
                    match conn.poll_fill(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(self.broken(e)))),
                    }
                }
                Err(e) => return Poll::Ready(Some(Err(self.broken(e)))),
            }
        }
    }

    /// The response ended: the connection goes back to the client.
    fn finish(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            self.stats.elapsed = self.started.elapsed();
            self.stats.wire_bytes = conn.bytes_read - self.wire_start;
            self.stats.buffer_high_water = conn.buffer_high_water;
            conn.settle_read_buffer();
            *self.slot = Slot::Ready(conn);
        }
    }

    /// The connection is in an unknown state: close it.
    fn broken(&mut self, e: Error) -> Error {
        if let Some(conn) = self.conn.take() {
            self.stats.elapsed = self.started.elapsed();
            self.stats.wire_bytes = conn.bytes_read - self.wire_start;
        }
        *self.slot = Slot::Closed;
        e
    }
}

impl Stream for RawStream<'_> {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_row(cx, true)
    }
}

impl Drop for RawStream<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let completed = self.decoder.completed();
                runtime.spawn(async move {
                    let _ = tx.send(conn.recover(completed).await);
                });
                *self.slot = Slot::Recovering(rx);
            }
            // No runtime to cancel from: closing the socket ends the query on the server.
            Err(_) => *self.slot = Slot::Closed,
        }
    }
}

/// A stream of rows deserialized into `T` with serde_json.
///
/// A row that does not decode yields an [`ErrorKind::Decode`] error naming its ordinal
/// ([`Error::row`]); the stream continues with the next row.
pub struct JsonStream<'a, T> {
    raw: RawStream<'a>,
    _type: PhantomData<fn() -> T>,
}

impl<'a, T: serde::de::DeserializeOwned> JsonStream<'a, T> {
    pub(crate) fn new(raw: RawStream<'a>) -> JsonStream<'a, T> {
        JsonStream {
            raw,
            _type: PhantomData,
        }
    }

    /// Figures about this stream so far.
    pub fn stats(&self) -> Stats {
        self.raw.stats()
    }

    /// The next row, or `None` at the end.
    ///
    /// # Errors
    /// As [`RawStream::try_next`], plus [`ErrorKind::Decode`] for a row that does not decode.
    pub async fn try_next(&mut self) -> Result<Option<T>> {
        poll_fn(|cx| self.poll_decoded(cx)).await.transpose()
    }

    /// Cancels the query; see [`RawStream::cancel`].
    ///
    /// # Errors
    /// As [`RawStream::cancel`].
    pub async fn cancel(self) -> Result<()> {
        self.raw.cancel().await
    }

    /// The underlying raw stream.
    pub fn into_raw(self) -> RawStream<'a> {
        self.raw
    }

    fn poll_decoded(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        self.raw.poll_row(cx, true).map(|item| {
            item.map(|row| {
                let row = row?;
                serde_json::from_slice(&row).map_err(|e| Error::decode(self.raw.stats.rows, e))
            })
        })
    }
}

impl<T: serde::de::DeserializeOwned> Stream for JsonStream<'_, T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_decoded(cx)
    }
}

impl std::fmt::Debug for RawStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStream")
            .field("open", &self.conn.is_some())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for JsonStream<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonStream")
            .field("type", &std::any::type_name::<T>())
            .field("raw", &self.raw)
            .finish()
    }
}
