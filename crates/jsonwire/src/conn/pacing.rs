//! Read pacing: past the first MiB of a response, the reader is woken once a block is queued in
//! the socket instead of for every segment the server writes.
//!
//! On loopback Postgres writes a result 8 KiB at a time, and a reader that is always waiting
//! gets each write as its own wake-up; the server pays for every one of them (a context switch
//! on a busy core) and produces the 1M-row result a quarter slower than for a reader that waits
//! for 256 KiB (BENCHMARKING.md, "How the reader waits changes the server's pace"). Linux lets a
//! reader say how much it waits for: `SO_RCVLOWAT`. Raising it is safe only if the reader
//! still takes what arrived when the server stops short of it (the tail of a result, a slow
//! query trickling rows): after a wait of [`PACE_WAIT`] a plain TCP socket is read at once,
//! whatever is queued, with its mark left in place (one `recv`); with nothing queued, or on a
//! TLS socket (which must read through its session), the mark drops back to 1, and Linux
//! signals a reader whose queued bytes meet the lowered mark at once (`tcp_set_rcvlowat` calls
//! `tcp_data_ready`).
//!
//! The wait adapts to the server's pace: a wait that timed out with a block queued (an eighth
//! of the mark or more: the server streams, only slower than a mark per wait) makes the next
//! one about as long as the server takes to queue the mark, up to [`PACE_WAIT_MAX`], so a
//! steady stream wakes the reader once per mark rather than once per millisecond; a wait
//! that found less, or nothing, puts it back to [`PACE_WAIT`], so a slow query's rows are not
//! held longer.
//!
//! The first [`PACE_AFTER`] bytes of every response are read eagerly, so the first row and
//! small results never wait. Only TCP on Linux is paced: other systems do not promise the
//! wake-up when the mark is lowered, and unix sockets ignore the mark for readiness.

use std::io;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::Socket;
use crate::error::{Error, Result};

/// What a failed `setsockopt(SO_RCVLOWAT)` was doing, for its error.
pub(crate) const LOWAT_CONTEXT: &str = "setting the socket's receive low-water mark";

/// Bytes of a response read as soon as they arrive before pacing starts.
pub(crate) const PACE_AFTER: u64 = 1 << 20;

/// How long a paced read waits for its mark before it takes whatever is queued, at the start
/// of a response and after a wait that found less than a block.
pub(crate) const PACE_WAIT: Duration = Duration::from_millis(1);

/// The longest a paced read waits for its mark: what the end of a steadily streamed result
/// can be held back at most.
pub(crate) const PACE_WAIT_MAX: Duration = Duration::from_millis(4);

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
    timer: timer::PaceTimer,
    /// The timer runs for the current wait.
    armed: bool,
    /// How long the next paced read waits for its mark.
    wait: Duration,
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
            timer: timer::PaceTimer::new(),
            armed: false,
            wait: PACE_WAIT,
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
        self.wait = PACE_WAIT;
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
    /// (or when it is not paced at all). Once the wait timed out: `Some(n)` when the bytes
    /// queued meanwhile were read into `buf` (`n`, 0 at the end of the stream), with the mark
    /// left in place; `None` when nothing could be read that way and the mark is back at 1:
    /// read again, and the reader is woken by whatever arrives.
    pub(crate) fn poll_timeout(
        &mut self,
        cx: &mut Context<'_>,
        socket: &Socket,
        buf: &mut bytes::BytesMut,
    ) -> Poll<Result<Option<usize>>> {
        if self.lowat <= 1 {
            return Poll::Pending;
        }
        let timer = if self.armed {
            Ok(())
        } else {
            self.armed = true;
            self.timer.arm(cx, self.wait)
        };
        let expired = match timer {
            Ok(()) => ready!(self.timer.poll_expired(cx)),
            Err(e) => Err(e),
        };
        self.armed = false;
        if let Err(e) = expired {
            // Without a timer a raised mark could hold bytes back: read unpaced from now on.
            tracing::debug!(error = %e, "read pacing timer failed; reading without pacing");
            self.mark = 0;
            return Poll::Ready(self.lower(socket));
        }
        match socket.read_queued(buf) {
            Some(Ok(n)) => {
                self.wait = next_wait(self.wait, n, self.mark);
                return Poll::Ready(Ok(Some(n)));
            }
            Some(Err(e)) if e.kind() != io::ErrorKind::WouldBlock => {
                return Poll::Ready(Err(Error::io("reading from the server", e)))
            }
            _ => {}
        }
        Poll::Ready(self.lower(socket))
    }

    /// Drops the mark back to 1 until the next read returns bytes: read again, and the reader
    /// is woken by whatever arrives.
    fn lower(&mut self, socket: &Socket) -> Result<Option<usize>> {
        self.tail = true;
        self.wait = PACE_WAIT;
        self.set_lowat(socket, 1)
            .map(|()| None)
            .map_err(|e| Error::io(LOWAT_CONTEXT, e))
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

/// The wait after one of `wait` that timed out with `found` bytes queued, for a mark of
/// `mark` bytes: as long as the server took to queue the mark at the pace it just showed, within
/// [`PACE_WAIT`] and [`PACE_WAIT_MAX`]; [`PACE_WAIT`] when it queued less than an eighth of it.
fn next_wait(wait: Duration, found: usize, mark: usize) -> Duration {
    if found == 0 || found < mark / 8 {
        return PACE_WAIT;
    }
    let scaled = wait.as_nanos() * mark as u128 / found as u128;
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX)).clamp(PACE_WAIT, PACE_WAIT_MAX)
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

/// The timer of a paced wait: a timerfd registered with the runtime's I/O driver, so arming it
/// is one `timerfd_settime` and its expiry arrives like a socket's readiness. A tokio `Sleep`
/// costs more here: re-arming one that fired takes the time driver's lock (contended with the
/// runtime thread that fires timers) and wakes that thread to shorten its wait, for every
/// paced read whose mark was not met within its wait (BENCHMARKING.md, "Paced reads").
#[cfg(target_os = "linux")]
mod timer {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, RawFd};
    use std::task::{ready, Context, Poll};
    use std::time::Duration;

    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    struct Fd(TimerFd);

    impl AsRawFd for Fd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }

    /// A one-shot timer, created on the connection's first paced wait.
    pub(super) struct PaceTimer {
        fd: Option<AsyncFd<Fd>>,
    }

    impl PaceTimer {
        pub(super) fn new() -> PaceTimer {
            PaceTimer { fd: None }
        }

        /// Starts a wait of `after`, replacing any earlier one.
        #[allow(unsafe_code)]
        pub(super) fn arm(&mut self, cx: &mut Context<'_>, after: Duration) -> io::Result<()> {
            let fd = match &mut self.fd {
                Some(fd) => fd,
                None => {
                    let flags = TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC;
                    let timer = Fd(TimerFd::new(ClockId::CLOCK_MONOTONIC, flags)?);
                    // SAFETY: the descriptor is owned by `timer` (an `OwnedFd` inside
                    // `TimerFd`), which the `AsyncFd` owns from here on and never closes or
                    // replaces while registered: it is closed only when the `AsyncFd` drops,
                    // after deregistering it.
                    let registered =
                        unsafe { AsyncFd::register_with_interest(timer, Interest::READABLE)? };
                    self.fd.insert(registered)
                }
            };
            // The expiry of an earlier wait may still be flagged: it is not this wait's.
            if let Poll::Ready(Ok(mut stale)) = fd.poll_read_ready(cx) {
                stale.clear_ready();
            }
            let expiration = Expiration::OneShot(TimeSpec::from_duration(after));
            fd.get_ref().0.set(expiration, TimerSetTimeFlags::empty())?;
            Ok(())
        }

        /// Ready once the wait armed last has passed.
        pub(super) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let Some(fd) = &self.fd else {
                return Poll::Ready(Err(io::Error::other("the pacing timer was never armed")));
            };
            let mut expired = ready!(fd.poll_read_ready(cx))?;
            expired.clear_ready();
            Poll::Ready(Ok(()))
        }
    }
}

/// Reads are paced on Linux only; elsewhere there is never a paced wait to time.
#[cfg(not(target_os = "linux"))]
mod timer {
    use std::io;
    use std::task::{Context, Poll};
    use std::time::Duration;

    pub(super) struct PaceTimer;

    impl PaceTimer {
        pub(super) fn new() -> PaceTimer {
            PaceTimer
        }

        pub(super) fn arm(&mut self, _: &mut Context<'_>, _: Duration) -> io::Result<()> {
            Err(io::ErrorKind::Unsupported.into())
        }

        pub(super) fn poll_expired(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: usize = 256 * 1024;

    #[test]
    fn a_wait_that_found_a_block_grows_toward_the_time_the_mark_takes() {
        // A quarter of the mark in 1 ms: the mark takes 4 ms.
        assert_eq!(
            next_wait(PACE_WAIT, MARK / 4, MARK),
            Duration::from_millis(4)
        );
        // Half of it in 1 ms, then in 2 ms: the server's pace did not change.
        let wait = next_wait(PACE_WAIT, MARK / 2, MARK);
        assert_eq!(wait, Duration::from_millis(2));
        assert_eq!(next_wait(wait, MARK / 2, MARK), Duration::from_millis(4));
    }

    #[test]
    fn the_wait_stays_within_its_bounds() {
        assert_eq!(next_wait(PACE_WAIT, MARK / 8, MARK), PACE_WAIT_MAX);
        // More than the mark queued: the server is faster than the wait assumed.
        assert_eq!(next_wait(PACE_WAIT_MAX, MARK * 2, MARK), PACE_WAIT * 2);
        assert_eq!(next_wait(PACE_WAIT * 2, MARK * 4, MARK), PACE_WAIT);
        assert_eq!(next_wait(PACE_WAIT, usize::MAX, 2), PACE_WAIT);
    }

    #[test]
    fn a_wait_that_found_little_or_nothing_goes_back_to_the_shortest() {
        assert_eq!(next_wait(PACE_WAIT_MAX, 0, MARK), PACE_WAIT);
        assert_eq!(next_wait(PACE_WAIT_MAX, MARK / 8 - 1, MARK), PACE_WAIT);
        // One small row after a long wait: a slow query, not a stream.
        assert_eq!(next_wait(Duration::from_millis(3), 600, MARK), PACE_WAIT);
    }
}
