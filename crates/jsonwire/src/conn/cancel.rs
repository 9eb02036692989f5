//! CancelRequest: a separate connection that asks the server to cancel a running command.
//!
//! When the connection used TLS, so does its cancel request (as libpq 17 does): the cancel key
//! is a secret a network observer must not learn, and endpoints that refuse plaintext (TLS-only
//! proxies and poolers) must still receive it. Such a request never falls back to plaintext.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::tls::TlsConnect;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::frontend;

#[derive(Clone, Debug)]
pub(crate) enum CancelAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Cancels the command running on a connection, from anywhere: another task, another thread.
///
/// Get one from [`Client::cancel_token`](crate::Client::cancel_token). Cancellation is a
/// request: the server may have finished the command already, in which case nothing happens.
#[derive(Clone)]
pub struct CancelToken {
    pub(crate) addr: CancelAddr,
    pub(crate) pid: i32,
    pub(crate) secret: Bytes,
    pub(crate) timeout: Duration,
    /// `Some` when the connection used TLS: the request goes the same way.
    pub(crate) tls: Option<TlsConnect>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("addr", &self.addr)
            .field("pid", &self.pid)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl CancelToken {
    /// The process id of the backend this token cancels.
    pub fn backend_pid(&self) -> i32 {
        self.pid
    }

    /// Whether cancel requests travel over TLS (they do when the connection did).
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Sends a CancelRequest and waits until the server has taken it (it closes the
    /// connection once it has signalled the backend).
    ///
    /// # Errors
    /// A connect or timeout error when the server cannot be reached.
    pub async fn cancel_query(&self) -> Result<()> {
        self.cancel_query_marking(&AtomicBool::new(false)).await
    }

    /// [`CancelToken::cancel_query`], sending the request only if it is the first to set
    /// `gate` (just before writing it): whoever sets the gate first instead keeps the request
    /// from ever being sent, even if this future is running on another thread at that moment.
    pub(crate) async fn cancel_query_marking(&self, gate: &AtomicBool) -> Result<()> {
        let mut msg = BytesMut::with_capacity(16);
        frontend::cancel_request(&mut msg, self.pid, &self.secret);
        let work = async {
            let connect_err = |e| {
                let to = match &self.addr {
                    CancelAddr::Tcp(addr) => addr.to_string(),
                    CancelAddr::Unix(path) => path.display().to_string(),
                };
                Error::new(
                    ErrorKind::Connect,
                    format!("cancel request: could not connect to {to}"),
                )
                .with_source(e)
            };
            match &self.addr {
                CancelAddr::Tcp(addr) => {
                    let mut s = TcpStream::connect(addr).await.map_err(connect_err)?;
                    match &self.tls {
                        None => {
                            if gate.swap(true, Ordering::AcqRel) {
                                return Ok(());
                            }
                            send_and_wait(&mut s, &msg).await
                        }
                        Some(tls) => {
                            if !tls.direct {
                                start_tls(&mut s).await?;
                            }
                            let mut s = tls.handshake(s).await.map_err(|e| {
                                Error::new(e.kind(), "cancel request").with_source(e)
                            })?;
                            if gate.swap(true, Ordering::AcqRel) {
                                return Ok(());
                            }
                            send_and_wait(&mut s, &msg).await
                        }
                    }
                }
                CancelAddr::Unix(path) => {
                    let mut s = UnixStream::connect(path).await.map_err(connect_err)?;
                    if gate.swap(true, Ordering::AcqRel) {
                        return Ok(());
                    }
                    send_and_wait(&mut s, &msg).await
                }
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!("cancel request timed out after {:?}", self.timeout),
                ))
            })
    }
}

/// SSLRequest on the cancel connection; anything but `S` ends the request unsent.
async fn start_tls(s: &mut TcpStream) -> Result<()> {
    let mut request = BytesMut::with_capacity(8);
    frontend::ssl_request(&mut request);
    s.write_all(&request)
        .await
        .map_err(|e| Error::io("sending the cancel request", e))?;
    let mut answer = [0u8; 1];
    s.read_exact(&mut answer)
        .await
        .map_err(|e| Error::io("cancel request: waiting for the SSL response", e))?;
    if answer[0] != b'S' {
        return Err(Error::new(
            ErrorKind::Connect,
            "cancel request: the server refused TLS, and the connection used TLS; the cancel \
             key was not sent in plaintext",
        ));
    }
    Ok(())
}

async fn send_and_wait<S>(s: &mut S, msg: &[u8]) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.write_all(msg)
        .await
        .map_err(|e| Error::io("sending the cancel request", e))?;
    s.flush()
        .await
        .map_err(|e| Error::io("sending the cancel request", e))?;
    let mut sink = [0u8; 64];
    // The server sends nothing back; EOF means it processed the request.
    loop {
        match s.read(&mut sink).await {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => continue,
        }
    }
}
