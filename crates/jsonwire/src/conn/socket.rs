//! The transport under a connection: TCP, TLS over TCP, or a Unix-domain socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

/// A connected socket.
pub(crate) enum Socket {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
    /// Briefly, while a TCP socket is handed to the TLS handshake.
    Upgrading,
}

fn upgrading() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket is being upgraded to TLS",
    )
}

impl Socket {
    /// Whether the connection is encrypted.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Socket::Tls(_))
    }
}

impl Socket {
    /// The TCP socket underneath, for socket options such as read pacing (a TLS stream's
    /// options are those of its TCP socket).
    pub(crate) fn tcp_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        match self {
            Socket::Tcp(s) => Some(s.as_fd()),
            Socket::Tls(s) => Some(s.get_ref().0.as_fd()),
            Socket::Unix(_) | Socket::Upgrading => None,
        }
    }
}

impl Socket {
    /// One non-blocking read from a plain TCP socket straight into the spare capacity of
    /// `buf`, past tokio's readiness state: `None` for other sockets (TLS must read through
    /// its session). A paced read whose wait timed out takes what is queued this way, at the
    /// cost of one `recv`, instead of lowering the low-water mark and waiting for the kernel
    /// to signal the socket (two `setsockopt`s and a round trip through the runtime's I/O
    /// driver); the socket keeps its mark, and tokio's registration stays valid: the kernel
    /// signals the next time the mark is met.
    #[allow(unsafe_code)]
    pub(crate) fn read_queued(&self, buf: &mut bytes::BytesMut) -> Option<io::Result<usize>> {
        use bytes::BufMut;
        let Socket::Tcp(s) = self else {
            return None;
        };
        let spare = buf.spare_capacity_mut();
        let r = socket2::SockRef::from(s).recv(spare);
        if let Ok(n) = r {
            // SAFETY: `recv` wrote the first `n` bytes of the spare capacity (socket2's
            // contract: the kernel fills `buf[..n]`, and `n` is at most its length), so
            // exactly those bytes are initialized and may become part of the buffer.
            unsafe { buf.advance_mut(n) };
        }
        Some(r)
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Tls(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
            Socket::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }
}
