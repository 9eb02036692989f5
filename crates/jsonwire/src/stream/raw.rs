//! [`RawStream`]: rows as the JSON text of their one column.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::engine::{self, Engine, Stats};
use crate::conn::Lease;
use crate::error::Result;
use crate::param::Param;

/// A stream of rows, each the JSON text of the row's one column as [`Bytes`].
///
/// Rows are zero-copy slices of the connection's read buffer: holding on to one keeps its
/// part of that buffer alive. The stream reads the socket only when polled and the buffered
/// rows are used up, so a consumer that stops polling stops the server (TCP pushes back).
///
/// `H` is what holds the connection:
///
/// - `RawStream<&mut Client>` borrows a client ([`Client::query`](crate::Client::query),
///   [`Client::sql`](crate::Client::sql)); the client is usable again once the stream ends
///   or is dropped.
/// - `RawStream<Client>` owns its client (`'static + Send`, for returning from a function or
///   moving into a task: [`Client::into_query`](crate::Client::into_query),
///   [`Client::into_sql`](crate::Client::into_sql)) and hands it back with
///   [`RawStream::into_client`].
///
/// Every holder gets the same row engine and the same early exit: dropping the stream
/// before its end cancels the query and drains the connection in the background (the
/// connection's next query waits for that); [`RawStream::cancel`] does the same and waits.
pub struct RawStream<H> {
    holder: H,
    engine: Engine,
}

/// Sends the query over the leased connection and reads up to its result description; the
/// stream keeps `holder` (what the lease came from) for its length.
pub(crate) async fn open<H>(
    holder: H,
    lease: Lease,
    sql: &str,
    params: &[Param],
    timeout: Option<std::time::Duration>,
) -> Result<RawStream<H>> {
    let engine = engine::start(lease, sql, params, timeout).await?;
    Ok(RawStream { holder, engine })
}

impl<H> RawStream<H> {
    /// Figures about this stream so far.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// The next row, or `None` at the end.
    ///
    /// # Errors
    /// A server error raised while the query ran (after every row that came before it; the
    /// stream then ends and the connection is ready for the next query), or an I/O or
    /// protocol error (the connection is then closed).
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
                    self.engine.defer(e);
                    break;
                }
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        Ok(Some(rows))
    }

    /// Cancels the query (unless it already finished), reads the rest of the response and
    /// gives the connection back to the holder.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`](crate::ErrorKind::Closed) when the connection could not be
    /// brought back within the drain limits and was closed instead.
    pub async fn cancel(mut self) -> Result<()> {
        self.engine.cancel().await
    }

    /// Rows handed out so far (the ordinal of the last row).
    pub(crate) fn rows(&self) -> u64 {
        self.engine.rows()
    }

    /// The holder, with the connection back in it: ready if the response ended, else being
    /// cancelled and drained in the background (its next query waits for that).
    pub(crate) fn into_holder(self) -> H {
        drop(self.engine);
        self.holder
    }

    /// The one path every row takes, for every holder and every mode.
    pub(crate) fn poll_row(
        &mut self,
        cx: &mut Context<'_>,
        may_read: bool,
    ) -> Poll<Option<Result<Bytes>>> {
        self.engine.poll_row(cx, may_read)
    }
}

impl<H: Unpin> Stream for RawStream<H> {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_row(cx, true)
    }
}

impl<H> std::fmt::Debug for RawStream<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStream")
            .field("open", &self.engine.is_open())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
