//! The I/O layer: the only code that awaits a socket.

mod cancel;
mod connect;
mod hosts;
mod keepalive;
mod lifecycle;
mod pacing;
mod scram_key;
mod socket;
mod tls;

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

pub use cancel::CancelToken;
pub(crate) use connect::connect;
pub(crate) use lifecycle::{Lease, Slot};
pub(crate) use socket::Socket;

pub(crate) use crate::config::Tuning;
use crate::error::{DbError, Error, Result};
use crate::proto::backend::{Message, Notification};
use crate::proto::rows;

/// Server parameters (ParameterStatus), shared with the client so they can be read while a
/// stream or a recovery holds the connection.
pub(crate) type Params = Arc<std::sync::Mutex<HashMap<String, String>>>;

/// A callback for notices.
pub(crate) type NoticeHandler = Arc<dyn Fn(&DbError) + Send + Sync>;
/// A callback for notifications.
pub(crate) type NotificationHandler = Arc<dyn Fn(&Notification) + Send + Sync>;

/// An established, authenticated connection.
pub(crate) struct Conn {
    socket: Socket,
    pacer: pacing::Pacer,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    pub(crate) tuning: Tuning,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) params: Params,
    pub(crate) on_notice: Option<NoticeHandler>,
    pub(crate) on_notification: Option<NotificationHandler>,
    /// Transaction status from the last ReadyForQuery (`I`, `T` or `E`).
    pub(crate) tx_status: u8,
    /// Bytes received since the connection opened.
    pub(crate) bytes_read: u64,
    /// The largest read buffer capacity seen since the last reset.
    pub(crate) buffer_high_water: usize,
}

impl Conn {
    pub(crate) fn new(socket: Socket, tuning: Tuning) -> Conn {
        let pacer = pacing::Pacer::new(&socket, tuning.read_pacing, tuning.read_buffer_size / 2);
        Conn {
            socket,
            pacer,
            rbuf: BytesMut::with_capacity(tuning.read_buffer_size.min(pacing::EAGER_READ_SIZE)),
            wbuf: BytesMut::with_capacity(1024),
            tuning,
            cancel: None,
            params: Params::default(),
            on_notice: None,
            on_notification: None,
            tx_status: b'I',
            bytes_read: 0,
            buffer_high_water: 0,
        }
    }

    /// Decodes the next complete message from the read buffer, if there is one.
    #[inline]
    pub(crate) fn try_parse(&mut self) -> Result<Option<Message>> {
        Message::parse(&mut self.rbuf, self.tuning.max_message_size)
    }

    /// Reads more bytes into the read buffer: at least one, in one large read.
    ///
    /// When the message at the front of the buffer is known to be larger than the buffer,
    /// room for all of it is reserved first, so a 16 MB row takes one allocation. Past the
    /// first MiB of a response, reads are paced (see `pacing`): larger, and woken once a
    /// block is queued.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let pacing_error = |e| Error::io(pacing::LOWAT_CONTEXT, e);
        rows::reserve_read(
            &mut self.rbuf,
            self.pacer.read_size(self.tuning.read_buffer_size),
            self.tuning.max_message_size,
        )?;
        self.buffer_high_water = self.buffer_high_water.max(self.rbuf.capacity());
        self.pacer.before_read(&self.socket).map_err(pacing_error)?;
        let read_error = |e| Error::io("reading from the server", e);
        let n = loop {
            match tokio_util::io::poll_read_buf(
                std::pin::Pin::new(&mut self.socket),
                cx,
                &mut self.rbuf,
            ) {
                Poll::Ready(r) => break r.map_err(read_error)?,
                Poll::Pending => {
                    // A paced wait that timed out either read what was queued, or lowered the
                    // mark: then read again, and the socket is registered with the lowered mark.
                    let timed_out =
                        ready!(self.pacer.poll_timeout(cx, &self.socket, &mut self.rbuf));
                    if let Some(n) = timed_out? {
                        break n;
                    }
                }
            }
        };
        self.pacer.after_read(n);
        if n == 0 {
            return Poll::Ready(Err(Error::new(
                crate::ErrorKind::Closed,
                "the server closed the connection",
            )));
        }
        self.bytes_read += n as u64;
        Poll::Ready(Ok(()))
    }

    #[cfg(feature = "pool")]
    /// Whether anything arrived (bytes, end of stream or an error) on a connection that sits
    /// between queries, where the server sends nothing unasked but a FATAL error before it
    /// closes (or a notification, on a session that listens). Does not wait.
    pub(crate) fn has_idle_input(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return true;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let read = tokio_util::io::poll_read_buf(
            std::pin::Pin::new(&mut self.socket),
            &mut cx,
            &mut self.rbuf,
        );
        read.is_ready()
    }

    /// Gives back a read buffer that a large message grew, once it is empty (at the end of a
    /// response), so that an idle connection holds no more than its read size.
    pub(crate) fn settle_read_buffer(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 4 * self.tuning.read_buffer_size {
            self.rbuf = BytesMut::new();
        }
    }

    /// The next message, reading as needed. Asynchronous messages are returned too.
    pub(crate) async fn next_message(&mut self) -> Result<Message> {
        loop {
            if let Some(msg) = self.try_parse()? {
                return Ok(msg);
            }
            poll_fn(|cx| self.poll_fill(cx)).await?;
        }
    }

    /// The next message that is not asynchronous (notices, parameter changes and
    /// notifications are dispatched on the way).
    pub(crate) async fn next_sync_message(&mut self) -> Result<Message> {
        loop {
            let msg = self.next_message().await?;
            if let Some(msg) = self.dispatch_async(msg) {
                return Ok(msg);
            }
        }
    }

    /// Handles a NoticeResponse, ParameterStatus or NotificationResponse; returns any other
    /// message to the caller.
    #[inline]
    pub(crate) fn dispatch_async(&mut self, msg: Message) -> Option<Message> {
        match msg {
            Message::NoticeResponse(notice) => {
                match &self.on_notice {
                    Some(f) => f(&notice),
                    None => log_notice(&notice),
                }
                None
            }
            Message::ParameterStatus { name, value } => {
                let mut params = self.params.lock().unwrap_or_else(|e| e.into_inner());
                if params.len() < self.tuning.max_parameters || params.contains_key(&name) {
                    params.insert(name, value);
                } else {
                    tracing::debug!(%name, limit = self.tuning.max_parameters, "server parameter dropped: max_parameters reached");
                }
                None
            }
            Message::NotificationResponse(n) => {
                match &self.on_notification {
                    Some(f) => f(&n),
                    None => {
                        tracing::debug!(channel = %n.channel, pid = n.pid, payload = %n.payload, "notification")
                    }
                }
                None
            }
            other => Some(other),
        }
    }

    /// Sends the write buffer and clears it. What arrives next is read as a new response.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        if let Err(e) = self.pacer.request_sent(&self.socket) {
            self.wbuf.clear();
            return Err(Error::io(pacing::LOWAT_CONTEXT, e));
        }
        let r = self.socket.write_all(&self.wbuf).await;
        self.wbuf.clear();
        r.map_err(|e| Error::io("writing to the server", e))?;
        self.socket
            .flush()
            .await
            .map_err(|e| Error::io("writing to the server", e))
    }

    /// Reads and discards messages until ReadyForQuery, within the drain limits.
    ///
    /// Returns the server error that ended the command, if any (the usual outcome after a
    /// cancel is SQLSTATE 57014).
    pub(crate) async fn drain(&mut self) -> Result<Option<Box<DbError>>> {
        let limit = self.tuning.drain_max_bytes;
        let timeout = self.tuning.drain_timeout;
        let start = self.bytes_read;
        let mut error = None;
        let work = async {
            loop {
                while let Some(msg) = self.try_parse()? {
                    match self.dispatch_async(msg) {
                        Some(Message::ReadyForQuery(status)) => {
                            self.tx_status = status;
                            self.settle_read_buffer();
                            return Ok(error);
                        }
                        Some(Message::ErrorResponse(db)) => error = Some(db),
                        _ => {}
                    }
                }
                if self.bytes_read - start > limit {
                    return Err(Error::new(
                        crate::ErrorKind::Closed,
                        format!("gave up waiting for the end of the result after {limit} bytes; connection closed"),
                    ));
                }
                poll_fn(|cx| self.poll_fill(cx)).await?;
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                crate::ErrorKind::Timeout,
                format!("gave up waiting for the end of the result after {timeout:?}; connection closed"),
            )),
        }
    }

    /// Cancels the running command (unless it already completed) and drains to
    /// ReadyForQuery. `None` means the connection could not be recovered and was closed.
    ///
    /// The cancel runs on its own connection beside the drain, and the drain does not wait for
    /// it: see [`Cancelling::settle`] for when the connection is handed back.
    ///
    /// A connection without a cancel key (the server or pooler sent no BackendKeyData) cannot
    /// stop a running command, and draining it could mean reading an unbounded result: it is
    /// closed instead.
    pub(crate) async fn recover(mut self: Box<Self>, completed: bool) -> Option<Box<Conn>> {
        if !completed && self.cancel.is_none() {
            tracing::debug!("no cancel key; closing the connection instead of draining it");
            self.terminate().await;
            return None;
        }
        // A query abandoned while it was being written leaves part of it here; the server
        // never saw the rest, so the drain times out and the connection closes.
        self.wbuf.clear();
        let mut cancels = Cancels::new(if completed { None } else { self.cancel.clone() });
        let mut drained = {
            let drain = self.drain();
            tokio::pin!(drain);
            loop {
                tokio::select! {
                    drained = &mut drain => break drained,
                    () = cancels.retry_due() => cancels.retry(),
                }
            }
        };
        if cancels.settle(&drained).await {
            drained = self.absorb_cancel().await;
        }
        match drained {
            Ok(_) => Some(self),
            Err(e) => {
                tracing::debug!(error = %e, "closing the connection instead of draining it");
                None
            }
        }
    }

    /// Runs a statement that takes a cancel signal still pending at the backend, one that
    /// arrived after the command it was meant for had ended: without it the next query would
    /// be cancelled instead. One round trip, after each recovery that sent a cancel.
    async fn absorb_cancel(&mut self) -> Result<Option<Box<DbError>>> {
        crate::proto::frontend::query(&mut self.wbuf, "SELECT 1")?;
        self.flush().await?;
        self.drain().await
    }

    /// Sends Terminate and closes the socket.
    pub(crate) async fn terminate(mut self) {
        crate::proto::frontend::terminate(&mut self.wbuf);
        let _ = self.flush().await;
        let _ = self.socket.shutdown().await;
    }
}

/// The CancelRequests of one recovery, each running in the background on its own connection
/// and time limit.
///
/// A backend ignores a cancel that arrives while it reads a message of the query (between
/// Parse, Bind, Execute …), so a cancel sent within milliseconds of the query can be lost;
/// while the drain has not reached ReadyForQuery, the cancel is sent again after 100 ms, then
/// at doubling intervals, each once the previous one was acknowledged.
struct Cancels {
    token: Option<CancelToken>,
    current: Option<Cancelling>,
    /// An earlier request reached the server.
    earlier_sent: bool,
    next_retry: tokio::time::Instant,
    interval: Duration,
}

/// A CancelRequest in the background. `sent` is its gate: whoever sets it first decides
/// whether the request goes out (the task, just before writing) or never does (`settle`).
struct Cancelling {
    task: tokio::task::JoinHandle<()>,
    sent: Arc<AtomicBool>,
}

/// How long a connection that reached ReadyForQuery waits for a cancel request already sent
/// but not yet acknowledged (the server closes the cancel connection once it has signalled
/// the backend), before it is handed back anyway.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// When a cancel is sent again if the command has not ended.
const CANCEL_RETRY: Duration = Duration::from_millis(100);

impl Cancelling {
    fn start(token: CancelToken) -> Cancelling {
        let sent = Arc::new(AtomicBool::new(false));
        let gate = sent.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = token.cancel_query_marking(&gate).await {
                tracing::debug!(error = %e, "cancel request failed; draining instead");
            }
        });
        Cancelling { task, sent }
    }
}

impl Cancels {
    fn new(token: Option<CancelToken>) -> Cancels {
        Cancels {
            current: token.clone().map(Cancelling::start),
            token,
            earlier_sent: false,
            next_retry: tokio::time::Instant::now() + CANCEL_RETRY,
            interval: CANCEL_RETRY,
        }
    }

    /// Resolves when a retry is due; never without a cancel key.
    async fn retry_due(&self) {
        if self.token.is_none() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep_until(self.next_retry).await;
    }

    /// Sends the cancel again if the last one was acknowledged; else waits for it longer.
    fn retry(&mut self) {
        self.interval *= 2;
        self.next_retry = tokio::time::Instant::now() + self.interval;
        let (Some(token), Some(current)) = (&self.token, &self.current) else {
            return;
        };
        if current.task.is_finished() {
            self.earlier_sent |= current.sent.load(Ordering::Acquire);
            self.current = Some(Cancelling::start(token.clone()));
        }
    }

    /// Decides what becomes of the cancels once the drain has ended; `true` when a cancel
    /// signal may still be pending at the backend, to be taken by a statement of its own
    /// before the next query. A cancel that lands after the command it was meant for cancels
    /// whatever the backend reads next without waiting, and "after" is hard to rule out: the
    /// server signals the backend twice (its pid and its process group), and under load the
    /// second signal can trail the first by a long way. So:
    /// - the last request not sent (not yet, or its connection failed): stopped, so that it
    ///   never is; with none sent before it, nothing is pending;
    /// - a request was sent: wait for the server to acknowledge the last one (it closes the
    ///   cancel connection once it has signalled the backend), at most [`CANCEL_GRACE`];
    ///   acknowledged, whatever signal is left is absorbed; still hanging, the connection goes
    ///   back anyway and the cancel connection ends at its own timeout (`cancel_timeout`) in
    ///   the background.
    async fn settle(self, drained: &Result<Option<Box<DbError>>>) -> bool {
        let Some(mut current) = self.current else {
            return false;
        };
        // Closing the gate first means the task will never send, wherever it is.
        let sent = current.sent.swap(true, Ordering::AcqRel);
        if !sent {
            current.task.abort();
        }
        if drained.is_err() || !(sent || self.earlier_sent) {
            return false;
        }
        !sent
            || tokio::time::timeout(CANCEL_GRACE, &mut current.task)
                .await
                .is_ok()
    }
}

fn log_notice(notice: &DbError) {
    match notice.severity() {
        "WARNING" => {
            tracing::warn!(target: "jsonwire::notice", code = notice.code(), "{}", notice.message())
        }
        _ => {
            tracing::info!(target: "jsonwire::notice", code = notice.code(), severity = notice.severity(), "{}", notice.message())
        }
    }
}
