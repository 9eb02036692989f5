//! Where a connection is between queries: ready, in use by a query or stream, being recovered
//! in the background after a stream was abandoned, or closed.
//!
//! Clients, the streams that own a client and pooled connections all keep their connection in
//! a [`Slot`]; streams take the connection out for the length of a query and give it back
//! through the slot's methods, so every holder follows the same rules.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{CancelToken, Conn, NoticeHandler, NotificationHandler, Params};
use crate::error::{DbError, Error, ErrorKind, Result};
use crate::proto::backend::Notification;

enum State {
    /// Idle and ready for a query.
    Ready(Box<Conn>),
    /// Taken by a query or stream in progress.
    InUse,
    /// An abandoned stream's connection, being cancelled and drained by a background task;
    /// `None` arrives when it could not be recovered and was closed.
    Recovering(oneshot::Receiver<Option<Box<Conn>>>),
    /// Gone.
    Closed,
}

/// A connection's lifecycle state and what outlives any one query: the cancel key, the
/// server parameters and the callbacks for asynchronous messages.
///
/// `pub` only so that the sealed stream traits can name it; the module is private.
pub struct Slot {
    state: State,
    cancel: Option<CancelToken>,
    params: Params,
    on_notice: Option<NoticeHandler>,
    on_notification: Option<NotificationHandler>,
}

impl Slot {
    /// A slot holding a freshly connected, idle connection.
    pub(crate) fn new(conn: Box<Conn>) -> Slot {
        Slot {
            cancel: conn.cancel.clone(),
            params: conn.params.clone(),
            state: State::Ready(conn),
            on_notice: None,
            on_notification: None,
        }
    }

    /// The state's name, for `Debug` output.
    pub(crate) fn state_name(&self) -> &'static str {
        match &self.state {
            State::Ready(_) => "ready",
            State::InUse => "in use",
            State::Recovering(_) => "recovering",
            State::Closed => "closed",
        }
    }

    /// Whether the connection is known to be gone.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The connection's cancel key, when the server sent one.
    pub(crate) fn cancel_token(&self) -> Option<&CancelToken> {
        self.cancel.as_ref()
    }

    /// A server parameter's current value.
    pub(crate) fn parameter(&self, name: &str) -> Option<String> {
        self.params
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Notices go to `f` from the next query on.
    pub(crate) fn on_notice(&mut self, f: impl Fn(&DbError) + Send + Sync + 'static) {
        self.on_notice = Some(Arc::new(f));
    }

    /// Notifications go to `f` from the next query on.
    pub(crate) fn on_notification(&mut self, f: impl Fn(&Notification) + Send + Sync + 'static) {
        self.on_notification = Some(Arc::new(f));
    }

    /// Waits for a background recovery, if one runs, to end (ready or closed).
    pub(crate) async fn settle(&mut self) {
        if let State::Recovering(rx) = &mut self.state {
            // Dropping this future leaves the receiver in place: the wait can be resumed.
            self.state = match rx.await {
                Ok(Some(conn)) => State::Ready(conn),
                _ => State::Closed,
            };
        }
    }

    /// Takes the idle connection out for a query, waiting for a recovery to end first.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] when the connection is gone, or when an earlier query was
    /// abandoned without giving it back (its future was dropped mid-exchange).
    pub(crate) async fn take(&mut self) -> Result<Box<Conn>> {
        self.settle().await;
        match std::mem::replace(&mut self.state, State::InUse) {
            State::Ready(mut conn) => {
                conn.on_notice.clone_from(&self.on_notice);
                conn.on_notification.clone_from(&self.on_notification);
                Ok(conn)
            }
            State::InUse => {
                self.state = State::Closed;
                Err(Error::new(
                    ErrorKind::Closed,
                    "the connection was closed because an earlier query was abandoned mid-flight",
                ))
            }
            State::Recovering(_) | State::Closed => {
                self.state = State::Closed;
                Err(Error::closed())
            }
        }
    }

    /// Gives back a connection that is at ReadyForQuery.
    pub(crate) fn put(&mut self, conn: Box<Conn>) {
        self.state = State::Ready(conn);
    }

    /// Marks the connection gone (a taken connection in an unknown state is dropped by its
    /// taker, which closes the socket).
    pub(crate) fn close(&mut self) {
        self.state = State::Closed;
    }

    /// Cancels the command running on `conn` (unless `completed`) and drains it to
    /// ReadyForQuery in a background task, then gives it back (or closes it past the drain
    /// limits): for a stream dropped, cancelled or timed out mid-query. The next
    /// [`Slot::take`] (or [`Slot::settle`]) waits for it. A slot dropped meanwhile (its owner went away) gets its
    /// connection closed politely once the drain ends.
    pub(crate) fn recover_in_background(&mut self, conn: Box<Conn>, completed: bool) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (tx, rx) = oneshot::channel();
                runtime.spawn(async move {
                    if let Err(Some(conn)) = tx.send(conn.recover(completed).await) {
                        conn.terminate().await;
                    }
                });
                self.state = State::Recovering(rx);
            }
            // No runtime to cancel from: closing the socket ends the query on the server.
            Err(_) => self.close(),
        }
    }

    /// Closes the connection politely (Terminate), waiting for a recovery first.
    pub(crate) async fn terminate(mut self) {
        self.settle().await;
        if let State::Ready(conn) = std::mem::replace(&mut self.state, State::Closed) {
            conn.terminate().await;
        }
    }
}
