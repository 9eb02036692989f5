//! Where a connection is between queries: ready, lent to a query or stream, being recovered
//! in the background after a stream was abandoned, or closed.
//!
//! A [`Slot`] is the connection's home (a client's, an owned stream's client's, a pooled
//! connection's). A query takes the connection out as a [`Lease`], which owns it for the
//! query's length and gives it back (ready, recovering or closed) through a small shared cell
//! rather than through a borrow of the slot. That keeps streams free of destructors that
//! touch their client: a stream that borrows a client holds the borrow only while it is
//! used, and an error from `stream_raw()` does not keep the client borrowed.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use tokio::sync::oneshot;

use super::{CancelToken, Conn, NoticeHandler, NotificationHandler, Params};
use crate::error::{DbError, Error, ErrorKind, Result};
use crate::proto::backend::Notification;

enum Place {
    /// Idle and ready for a query.
    Ready(Box<Conn>),
    /// Lent to a query or stream in progress.
    Lent,
    /// An abandoned stream's connection, being cancelled and drained by a background task;
    /// `None` arrives when it could not be recovered and was closed.
    Recovering(oneshot::Receiver<Option<Box<Conn>>>),
    /// Gone.
    Closed,
}

type Home = Arc<Mutex<Place>>;

fn lock(home: &Home) -> MutexGuard<'_, Place> {
    // Nothing panics while holding the lock; a poisoned one still holds a valid state.
    home.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection's lifecycle state and what outlives any one query: the cancel key, the
/// server parameters and the callbacks for asynchronous messages.
///
/// `pub` only so that the sealed traits of the public API can name it; the module is private.
pub struct Slot {
    home: Home,
    cancel: Option<CancelToken>,
    params: Params,
    on_notice: Option<NoticeHandler>,
    on_notification: Option<NotificationHandler>,
}

/// A connection lent out of its [`Slot`] for one exchange. Give it back with one of its
/// methods. Dropped with the connection still in it (the future that held it was dropped or
/// timed out at an await), it hands the connection to a background recovery: the command is
/// cancelled on the server and the connection drained, within the drain and cancel limits,
/// or closed.
///
/// `pub` only so that the sealed traits of the public API can name it.
pub struct Lease {
    conn: Option<Box<Conn>>,
    home: Home,
    /// Dropped once the connection is home again (given back, closed, or at the end of its
    /// background recovery): a pooled connection's checkout, which returns it to the pool.
    release: Option<Box<dyn Send>>,
}

impl Slot {
    /// A slot holding a freshly connected, idle connection.
    pub(crate) fn new(conn: Box<Conn>) -> Slot {
        Slot {
            cancel: conn.cancel.clone(),
            params: conn.params.clone(),
            home: Arc::new(Mutex::new(Place::Ready(conn))),
            on_notice: None,
            on_notification: None,
        }
    }

    /// The state's name, for `Debug` output.
    pub(crate) fn state_name(&self) -> &'static str {
        match &*lock(&self.home) {
            Place::Ready(_) => "ready",
            Place::Lent => "in use",
            Place::Recovering(_) => "recovering",
            Place::Closed => "closed",
        }
    }

    /// Whether the connection is known to be gone.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(*lock(&self.home), Place::Closed)
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

    /// Waits for a background recovery, if one runs, to end (ready or closed). Dropping this
    /// future leaves the recovery in place: the wait can be resumed.
    pub(crate) async fn settle(&mut self) {
        settle(&self.home).await;
    }

    /// Lends the idle connection out for one exchange, waiting for a recovery to end first.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] when the connection is gone.
    pub(crate) async fn take(&mut self) -> Result<Lease> {
        self.settle().await;
        let mut place = lock(&self.home);
        match std::mem::replace(&mut *place, Place::Lent) {
            Place::Ready(mut conn) => {
                drop(place);
                conn.on_notice.clone_from(&self.on_notice);
                conn.on_notification.clone_from(&self.on_notification);
                Ok(Lease {
                    conn: Some(conn),
                    home: self.home.clone(),
                    release: None,
                })
            }
            Place::Lent => {
                *place = Place::Closed;
                Err(Error::new(
                    ErrorKind::Closed,
                    "the connection is still lent to an earlier query",
                ))
            }
            Place::Recovering(_) | Place::Closed => {
                *place = Place::Closed;
                Err(Error::closed())
            }
        }
    }

    #[cfg(feature = "pool")]
    /// Whether the connection may serve another user: ready and outside a transaction
    /// (ReadyForQuery's status `I`), or still being recovered (its outcome is not known yet).
    /// A recovery that already ended is recorded first. Does not wait.
    pub(crate) fn reusable(&self) -> bool {
        let mut place = lock(&self.home);
        if let Place::Recovering(rx) = &mut *place {
            match rx.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => return true,
                Ok(Some(conn)) => *place = Place::Ready(conn),
                Ok(None) | Err(oneshot::error::TryRecvError::Closed) => *place = Place::Closed,
            }
        }
        match &*place {
            Place::Ready(conn) => conn.tx_status == b'I',
            _ => false,
        }
    }

    #[cfg(feature = "pool")]
    /// Whether the server sent anything, or closed the connection, while it sat idle (a
    /// backend terminated by an administrator or a server shutdown sends a FATAL error and
    /// closes). Reads without waiting; `false` when the connection is not idle here.
    pub(crate) fn has_idle_input(&self) -> bool {
        match &mut *lock(&self.home) {
            Place::Ready(conn) => conn.has_idle_input(),
            _ => false,
        }
    }

    /// Closes the connection politely (Terminate), waiting for a recovery first.
    pub(crate) async fn terminate(mut self) {
        self.settle().await;
        let place = std::mem::replace(&mut *lock(&self.home), Place::Closed);
        if let Place::Ready(conn) = place {
            conn.terminate().await;
        }
    }
}

impl Lease {
    #[cfg(feature = "pool")]
    /// Keeps `release` until the connection is home again (given back, closed, or recovered
    /// in the background), then drops it.
    pub(crate) fn release_after(mut self, release: impl Send + 'static) -> Lease {
        self.release = Some(Box::new(release));
        self
    }

    /// The lent connection.
    #[inline]
    pub(crate) fn conn(&mut self) -> &mut Conn {
        // Every method that takes the connection out consumes the lease.
        self.conn
            .as_mut()
            .expect("a lease holds its connection until it is consumed")
    }

    /// The lent connection, to read from.
    pub(crate) fn conn_ref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until it is consumed")
    }

    /// Gives back a connection that is at ReadyForQuery.
    pub(crate) fn give_back(mut self) {
        if let Some(conn) = self.conn.take() {
            *lock(&self.home) = Place::Ready(conn);
        }
    }

    /// The connection broke (I/O or protocol error): close it.
    pub(crate) fn close(mut self) {
        self.conn = None;
        *lock(&self.home) = Place::Closed;
    }

    /// Cancels the command running on the connection (unless `completed`) and drains it to
    /// ReadyForQuery in the background, and waits for that: the connection is then ready
    /// again, or closed past the drain limits. Dropping this future leaves the recovery
    /// running; the slot's next query waits for it.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] when the connection could not be brought back.
    pub(crate) async fn recover(self, completed: bool) -> Result<()> {
        let home = self.home.clone();
        self.recover_in_background(completed);
        settle(&home).await;
        if matches!(*lock(&home), Place::Closed) {
            return Err(Error::new(
                ErrorKind::Closed,
                "the connection could not be drained and was closed",
            ));
        }
        Ok(())
    }

    /// Cancels the command (unless `completed`) and drains the connection to ReadyForQuery
    /// in a background task, then gives it back (or closes it past the drain limits): for a
    /// stream dropped, cancelled or timed out mid-query. The slot's next [`Slot::take`] (or
    /// [`Slot::settle`]) waits for it. If the slot is dropped meanwhile (its owner went
    /// away), the connection is closed politely once the drain ends.
    pub(crate) fn recover_in_background(mut self, completed: bool) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (tx, rx) = oneshot::channel();
                *lock(&self.home) = Place::Recovering(rx);
                let release = self.release.take();
                runtime.spawn(async move {
                    if let Err(Some(conn)) = tx.send(conn.recover(completed).await) {
                        conn.terminate().await;
                    }
                    drop(release);
                });
            }
            // No runtime to cancel from: closing the socket ends the query on the server.
            Err(_) => *lock(&self.home) = Place::Closed,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let orphan = Lease {
                conn: Some(conn),
                home: self.home.clone(),
                release: self.release.take(),
            };
            orphan.recover_in_background(false);
        }
    }
}

/// Waits for the background recovery in `home`, if one runs, and records its outcome.
async fn settle(home: &Home) {
    let outcome = poll_fn(|cx| match &mut *lock(home) {
        Place::Recovering(rx) => Pin::new(rx).poll(cx).map(Some),
        _ => Poll::Ready(None),
    })
    .await;
    if let Some(outcome) = outcome {
        *lock(home) = match outcome {
            Ok(Some(conn)) => Place::Ready(conn),
            _ => Place::Closed,
        };
    }
}
