//! Read pacing: past the first MiB of a response, the reader is woken once a block is queued in
//! the socket instead of for every segment the server writes.
//!
//! On loopback Postgres writes a result 8 KiB at a time, and a reader that is always waiting
//! gets each write as its own wake-up; the server pays for every one of them (a context switch
//! on a busy core) and produces the 1M-row result a quarter slower than for a reader that waits
//! for 256 KiB (BENCHMARKING.md, "How the reader waits changes the server's pace"). Linux lets a
//! reader say how much it waits for: `SO_RCVLOWAT`. Raising it is safe only if it comes down
//! again when the server stops short of it (the tail of a result, a slow query trickling rows):
//! a timer of [`PACE_WAIT`] drops it back to 1, and Linux signals a reader whose queued bytes
//! meet the lowered mark at once (`tcp_set_rcvlowat` calls `tcp_data_ready`).
//!
//! The first [`PACE_AFTER`] bytes of every response are read eagerly, so the first row and
//! small results never wait. Only TCP on Linux is paced: other systems do not promise the
//! wake-up when the mark is lowered, and unix sockets ignore the mark for readiness.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::Socket;

/// Bytes of a response read as soon as they arrive before pacing starts.
pub(crate) const PACE_AFTER: u64 = 1 << 20;

/// How long a paced read waits for its mark before it takes whatever is queued.
pub(crate) const PACE_WAIT: Duration = Duration::from_millis(1);

/// The most a read asks for before pacing starts: an eager read finds a few KiB on loopback,
/// so a larger buffer would only hold memory on idle connections and small results.
pub(crate) const EAGER_READ_SIZE: usize = 64 * 1024;

/// The pacing state of one connection.
pub(crate) struct Pacer {
    /// The low-water mark of a paced read; 0 when this socket is not paced.
    mark: usize,
    /// The socket's low-water mark now (1 is the kernel's default).
    lowat: usize,
    /// Bytes received since the last request was sent.
    response_bytes: u64,
    /// The wait for the mark timed out; the next read takes whatever is queued.
    tail: bool,
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Pacer {
    /// A pacer waiting for `mark` bytes once a response is past its first MiB, if `socket`
    /// can be paced; else one that never changes the socket.
    pub(crate) fn new(socket: &Socket, enabled: bool, mark: usize) -> Pacer {
        let mark = if enabled && cfg!(target_os = "linux") && socket.tcp_fd().is_some() {
            mark.max(2)
        } else {
            0
        };
        Pacer {
            mark,
            lowat: 1,
            response_bytes: 0,
            tail: false,
            timer: None,
            armed: false,
        }
    }

    /// The bytes to ask of the next read: `configured` once the response is past its first
    /// MiB, at most [`EAGER_READ_SIZE`] before that.
    #[inline]
    pub(crate) fn read_size(&self, configured: usize) -> usize {
        if self.response_bytes >= PACE_AFTER {
            configured
        } else {
            configured.min(EAGER_READ_SIZE)
        }
    }

    /// A request was sent: what arrives next is a new response, read eagerly at first.
    pub(crate) fn request_sent(&mut self, socket: &Socket) -> io::Result<()> {
        self.response_bytes = 0;
        self.tail = false;
        self.armed = false;
        self.set_lowat(socket, 1)
    }

    /// Before a read: raise the mark once the response is past its first MiB.
    #[inline]
    pub(crate) fn before_read(&mut self, socket: &Socket) -> io::Result<()> {
        if self.mark > 0 && !self.tail && self.response_bytes >= PACE_AFTER {
            self.set_lowat(socket, self.mark)?;
        }
        Ok(())
    }

    /// A read returned `n` bytes.
    #[inline]
    pub(crate) fn after_read(&mut self, n: usize) {
        self.response_bytes += n as u64;
        self.tail = false;
        self.armed = false;
    }

    /// The socket had nothing to read. Pending while a paced read may still wait for its mark
    /// (or when it is not paced at all); Ready once the wait timed out and the mark is back at
    /// 1: read again, and the reader is woken by whatever is queued.
    pub(crate) fn poll_timeout(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
    ) -> Poll<io::Result<()>> {
        if self.lowat <= 1 {
            return Poll::Pending;
        }
        let deadline = Instant::now() + PACE_WAIT;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        ready!(timer.as_mut().poll(cx));
        self.armed = false;
        self.tail = true;
        Poll::Ready(self.set_lowat(socket, 1))
    }

    fn set_lowat(&mut self, socket: &Socket, lowat: usize) -> io::Result<()> {
        if lowat == self.lowat {
            return Ok(());
        }
        if let Some(fd) = socket.tcp_fd() {
            set_rcvlowat(fd, lowat)?;
        }
        self.lowat = lowat;
        Ok(())
    }
}

/// Sets `SO_RCVLOWAT` on a socket: readiness is signalled only once `lowat` bytes are queued
/// (a read still returns whatever is there). No crate in reach exposes the option (socket2,
/// nix and rustix do not), so it is the one `setsockopt` call of the crate; the benchmark that
/// needs it is the throughput group (BENCHMARKING.md).
#[allow(unsafe_code)]
fn set_rcvlowat(fd: std::os::fd::BorrowedFd<'_>, lowat: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(lowat).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is borrowed, so the socket stays open for the whole call; the option value
    // is a `c_int` on the stack that outlives the call, and the length passed is exactly its
    // size, so the kernel reads only the bytes of `value` and writes nothing.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
