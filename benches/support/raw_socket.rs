//! The physical limit: a minimal reader that asks for the same result as jsonwire and throws the
//! rows away.
//!
//! It sends the same `Parse`/`Bind` (binary results)/`Describe`/`Execute`/`Sync` as jsonwire in
//! one write, reads the socket in 1 MiB blocks with blocking reads, and frames the response with
//! nothing but the header: type byte, length, skip. A `DataRow` is counted and its value length
//! read (to check the byte total against `bench_expected`); nothing is copied, decoded or
//! allocated per row. What this reader achieves is what the server and the socket can deliver,
//! the denominator of every ratio in the report.
//!
//! How it waits matters as much as what it does ([`Pacing`]): a reader woken for every segment
//! the server sends slows the server down. The reference is the paced reader; the eager one is
//! kept beside it to show the difference. [`RawSocket::copy_out`] reads the same rows as
//! `COPY ... TO STDOUT`, to show what the server produces without the extended protocol.
//!
//! The handshake (not measured) is jsonwire's sans-IO startup machine driven over this blocking
//! socket, so trust, cleartext, MD5 and SCRAM logins all work, with the same policy checks.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use jsonwire::proto::frontend;
use jsonwire::proto::startup::{
    AuthPolicy, ChannelBindingPolicy, Encryption, ProtocolVersion, Startup, StartupSettings, Step,
};

/// Bytes asked of each `read`.
pub const BLOCK: usize = 1 << 20;

/// How the reader waits for the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Read as soon as anything arrived: on loopback the reader is woken for every segment the
    /// server writes (8 KiB), and the server pays for each wake-up.
    Eager,
    /// After the first [`PACE_AFTER`] bytes of a response, wait until [`PACED_LOWAT`] bytes are
    /// queued (`SO_RCVLOWAT`, TCP only), or [`PACED_TIMEOUT`] passed, so the tail is not held.
    /// The first row is read as eagerly as [`Pacing::Eager`] reads it.
    Paced,
}

/// Bytes of a response read eagerly before a paced reader starts waiting for more.
pub const PACE_AFTER: u64 = 1 << 20;
/// The low-water mark of a paced reader.
pub const PACED_LOWAT: usize = 256 << 10;
/// How long a paced read waits for its low-water mark before it takes what is there.
pub const PACED_TIMEOUT: Duration = Duration::from_millis(1);

/// What one query delivered.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawResult {
    /// `DataRow`s received before the stop (all of them without one).
    pub rows: u64,
    /// JSON text bytes in those rows (the jsonb version byte excluded).
    pub bytes: u64,
    /// Bytes read from the socket, framing included.
    pub wire_bytes: u64,
    /// `read` calls that returned data: `wire_bytes / reads` is how much the socket held each
    /// time the reader came back for more.
    pub reads: u64,
    /// From the write of the query to the first `DataRow` header.
    pub time_to_first_row: Option<Duration>,
    /// From the write of the query to `ReadyForQuery`.
    pub elapsed: Duration,
}

enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.write_all(buf),
            Sock::Unix(s) => s.write_all(buf),
        }
    }
}

/// Where to connect, from a jsonwire connection string.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    dbname: String,
}

impl Target {
    fn open(&self) -> io::Result<Sock> {
        if self.host.starts_with('/') {
            let path = format!("{}/.s.PGSQL.{}", self.host, self.port);
            Ok(Sock::Unix(UnixStream::connect(path)?))
        } else {
            let s = TcpStream::connect((self.host.as_str(), self.port))?;
            s.set_nodelay(true)?;
            Ok(Sock::Tcp(s))
        }
    }
}

/// One authenticated connection.
pub struct RawSocket {
    target: Target,
    sock: Sock,
    buf: Vec<u8>,
    backend_key: Option<(i32, Vec<u8>)>,
    pacing: Pacing,
    /// The socket's low-water mark now (1: the kernel's default).
    lowat: usize,
}

impl std::fmt::Debug for RawSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSocket")
            .field("host", &self.target.host)
            .field("port", &self.target.port)
            .finish_non_exhaustive()
    }
}

fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn jw_error(e: jsonwire::Error) -> io::Error {
    io::Error::other(e.to_string())
}

impl RawSocket {
    /// Connects and logs in with a `postgres://` URL or `key=value` string (first host only).
    ///
    /// # Errors
    /// An unreadable string, a refused connection, or a failed login.
    pub fn connect(conninfo: &str) -> io::Result<RawSocket> {
        let config = jsonwire::Config::parse(conninfo).map_err(jw_error)?;
        let target = Target {
            host: config
                .get_hosts()
                .first()
                .cloned()
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config.get_user().unwrap_or("postgres").to_owned(),
            password: config.get_password().map(str::to_owned),
            dbname: config
                .get_dbname()
                .or(config.get_user())
                .unwrap_or("postgres")
                .to_owned(),
        };
        let sock = target.open()?;
        let mut conn = RawSocket {
            target,
            sock,
            buf: vec![0; BLOCK],
            backend_key: None,
            pacing: Pacing::Eager,
            lowat: 1,
        };
        conn.startup()?;
        Ok(conn)
    }

    /// Connects as [`RawSocket::connect`] does and waits for the socket as `pacing` says.
    ///
    /// # Errors
    /// As [`RawSocket::connect`], or the socket refusing the read timeout.
    pub fn connect_paced(conninfo: &str, pacing: Pacing) -> io::Result<RawSocket> {
        let mut conn = RawSocket::connect(conninfo)?;
        if let (Pacing::Paced, Sock::Tcp(s)) = (pacing, &conn.sock) {
            s.set_read_timeout(Some(PACED_TIMEOUT))?;
            conn.pacing = Pacing::Paced;
        }
        Ok(conn)
    }

    /// Sets the socket's low-water mark, if it differs from the current one.
    fn set_lowat(&mut self, lowat: usize) -> io::Result<()> {
        if let (true, Sock::Tcp(s)) = (lowat != self.lowat, &self.sock) {
            set_rcvlowat(s, lowat)?;
            self.lowat = lowat;
        }
        Ok(())
    }

    /// One read into `buf`, paced as configured: `Ok(0)` only at the end of the stream. `seen`
    /// is what this response delivered so far.
    fn read_paced(&mut self, from: usize, seen: u64) -> io::Result<usize> {
        if self.pacing == Pacing::Paced && seen >= PACE_AFTER {
            self.set_lowat(PACED_LOWAT)?;
        }
        loop {
            match self.sock.read(&mut self.buf[from..]) {
                // The timeout passed with nothing queued: the server is slower than the mark.
                Err(e) if self.pacing == Pacing::Paced && is_timeout(&e) => continue,
                r => return r,
            }
        }
    }

    fn send(&mut self, msg: &BytesMut) -> io::Result<()> {
        self.sock.write_all(msg)
    }

    /// Logs in by driving jsonwire's startup machine (the same one its connections use) over
    /// this blocking socket; SCRAM keys are derived on this thread.
    fn startup(&mut self) -> io::Result<()> {
        let settings = StartupSettings {
            params: vec![
                ("user".into(), self.target.user.clone()),
                ("database".into(), self.target.dbname.clone()),
                ("client_encoding".into(), "UTF8".into()),
                ("application_name".into(), "jsonwire-bench-raw".into()),
            ],
            user: self.target.user.clone(),
            password: self.target.password.clone().map(String::into_bytes),
            require_auth: AuthPolicy::any(),
            channel_binding: ChannelBindingPolicy::Prefer,
            min_protocol: ProtocolVersion::V3_0,
            max_protocol: ProtocolVersion::V3_0,
            nonce: format!("{:x}{:x}", std::process::id(), nanos()),
        };
        let mut machine = Startup::new(settings, Encryption::Plain);
        let mut pending = BytesMut::new();
        loop {
            let step = machine.advance(&mut pending).map_err(jw_error)?;
            let out = machine.output().split();
            if !out.is_empty() {
                self.send(&out)?;
            }
            match step {
                Step::Write | Step::Parameter(..) | Step::Notice(_) => {}
                Step::Read => {
                    let n = self.sock.read(&mut self.buf)?;
                    if n == 0 {
                        return Err(protocol_error("the server closed the connection"));
                    }
                    pending.extend_from_slice(&self.buf[..n]);
                }
                Step::DeriveKey(job) => machine.salted_password(&job.run()).map_err(jw_error)?,
                Step::Ready(session) => {
                    self.backend_key = session.backend_key.map(|k| (k.pid, k.secret.to_vec()));
                    return Ok(());
                }
                other => return Err(protocol_error(format!("unexpected startup step {other:?}"))),
            }
        }
    }

    /// Sends a CancelRequest for this connection's backend on a new connection.
    fn cancel(&self) -> io::Result<()> {
        let Some((pid, secret)) = &self.backend_key else {
            return Ok(());
        };
        let mut out = BytesMut::new();
        frontend::cancel_request(&mut out, *pid, secret);
        let mut sock = self.target.open()?;
        sock.write_all(&out)?;
        // The server closes the connection once it has read the request.
        let mut byte = [0u8; 1];
        let _ = sock.read(&mut byte);
        Ok(())
    }

    /// Runs `sql` with text parameters, reading the whole result.
    ///
    /// # Errors
    /// A server error, or the connection failing.
    pub fn query(&mut self, sql: &str, params: &[&str]) -> io::Result<RawResult> {
        self.extended(sql, params, None)
    }

    /// Runs `sql` and stops after `stop_after` rows: cancels the query and discards the rest
    /// (the discarded rows are not counted; `elapsed` ends at the stop).
    ///
    /// # Errors
    /// A server error other than the cancel, or the connection failing.
    pub fn query_until(
        &mut self,
        sql: &str,
        params: &[&str],
        stop_after: u64,
    ) -> io::Result<RawResult> {
        self.extended(sql, params, Some(stop_after.max(1)))
    }

    /// Runs `COPY (select) TO STDOUT` in text or binary format, reading every row as a
    /// `CopyData` message. In binary format `bytes` is the JSON text of a jsonb column, as for
    /// [`RawSocket::query`]; in text format it is the escaped COPY text, newline excluded.
    ///
    /// # Errors
    /// A server error, or the connection failing.
    pub fn copy_out(&mut self, select: &str, binary: bool) -> io::Result<RawResult> {
        let sql = format!(
            "COPY ({select}) TO STDOUT{}",
            if binary { " (FORMAT binary)" } else { "" }
        );
        let mut out = BytesMut::with_capacity(256);
        frontend::query(&mut out, &sql).map_err(jw_error)?;
        let rows = if binary {
            Rows::CopyBinary
        } else {
            Rows::CopyText
        };
        self.run(&sql, out, rows, None)
    }

    fn extended(
        &mut self,
        sql: &str,
        params: &[&str],
        stop_after: Option<u64>,
    ) -> io::Result<RawResult> {
        let mut out = BytesMut::with_capacity(256);
        frontend::parse(&mut out, "", sql)
            .and_then(|()| {
                let values = params.iter().map(|p| Some(p.as_bytes()));
                frontend::bind(&mut out, "", "", values, 1)
            })
            .and_then(|()| frontend::describe(&mut out, b'P', ""))
            .and_then(|()| frontend::execute(&mut out, "", 0))
            .map_err(jw_error)?;
        frontend::sync(&mut out);
        self.run(sql, out, Rows::DataRow, stop_after)
    }

    /// Sends `out` and reads the response to ReadyForQuery, counting the rows `kind` says.
    fn run(
        &mut self,
        sql: &str,
        out: BytesMut,
        kind: Rows,
        stop_after: Option<u64>,
    ) -> io::Result<RawResult> {
        let mut result = RawResult::default();
        self.set_lowat(1)?;
        let started = Instant::now();
        self.send(&out)?;
        let mut stopped = false;
        let mut error: Option<String> = None;
        let (mut start, mut end, mut skip) = (0usize, 0usize, 0usize);
        let row_tag = kind.tag();
        loop {
            if start == end {
                (start, end) = (0, 0);
            } else if self.buf.len() - end < BLOCK / 4 {
                self.buf.copy_within(start..end, 0);
                (start, end) = (0, end - start);
            }
            let n = self.read_paced(end, result.wire_bytes)?;
            if n == 0 {
                return Err(protocol_error("the server closed the connection"));
            }
            result.wire_bytes += n as u64;
            result.reads += 1;
            end += n;
            let take = skip.min(end - start);
            start += take;
            skip -= take;
            while end - start >= 5 {
                let b = &self.buf[start..end];
                let total = 1 + u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
                if b[0] == row_tag {
                    let Some(value) = kind.value_len(b, total, result.rows == 0) else {
                        break;
                    };
                    if !stopped && value.is_some() {
                        result.rows += 1;
                        result.bytes += value.unwrap_or(0);
                        if result.rows == 1 {
                            result.time_to_first_row = Some(started.elapsed());
                        }
                        if stop_after == Some(result.rows) {
                            result.elapsed = started.elapsed();
                            stopped = true;
                            self.cancel()?;
                        }
                    }
                    if total > b.len() {
                        skip = total - b.len();
                        start = end;
                        break;
                    }
                    start += total;
                    continue;
                }
                if total > b.len() {
                    if total > self.buf.len() {
                        self.buf.resize(total, 0);
                    }
                    break;
                }
                match b[0] {
                    b'E' => error = Some(error_message(&b[5..total])),
                    b'Z' => {
                        if !stopped {
                            result.elapsed = started.elapsed();
                        }
                        return match error {
                            Some(e) if !(stopped && e.contains("57014")) => {
                                Err(protocol_error(format!("{sql}: {e}")))
                            }
                            _ => Ok(result),
                        };
                    }
                    _ => {}
                }
                start += total;
            }
        }
    }
}

/// Which messages carry the rows, and how a row's length is read from the front of one.
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// `DataRow` of one binary jsonb column: count, i32 length, version byte, text.
    DataRow,
    /// `CopyData`, one text line per row.
    CopyText,
    /// `CopyData` of binary COPY: the file header before the first row, a tuple per message
    /// (i16 field count, i32 length, version byte, text), and a trailer message of `-1`.
    CopyBinary,
}

/// The binary COPY file header: signature, flags, header extension length.
const COPY_BINARY_HEADER: usize = 11 + 4 + 4;

impl Rows {
    fn tag(self) -> u8 {
        match self {
            Rows::DataRow => b'D',
            Rows::CopyText | Rows::CopyBinary => b'd',
        }
    }

    /// From the front of a row message `b` (`total` bytes long, maybe not all buffered):
    /// `None` when more must be buffered to tell, `Some(None)` for a message that is not a row
    /// (the binary COPY trailer), `Some(Some(n))` for a row of `n` JSON bytes.
    fn value_len(self, b: &[u8], total: usize, first: bool) -> Option<Option<u64>> {
        let at = match self {
            Rows::CopyText => return Some(Some((total - 6) as u64)),
            Rows::DataRow => 7,
            Rows::CopyBinary if total == 7 => return Some(None),
            Rows::CopyBinary if first => 7 + COPY_BINARY_HEADER,
            Rows::CopyBinary => 7,
        };
        let len = b.get(at..at + 4)?;
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        Some(Some(u64::try_from(len - 1).unwrap_or(0)))
    }
}

/// Sets `SO_RCVLOWAT`: the kernel wakes a reader of `sock` only once `lowat` bytes are queued
/// (or the read timeout passes). No crate this workspace uses exposes the option (socket2,
/// nix and rustix do not), so it is one `setsockopt` call.
#[allow(unsafe_code)]
fn set_rcvlowat(sock: &TcpStream, lowat: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(lowat).unwrap_or(libc::c_int::MAX);
    // SAFETY: `sock` is an open socket for the whole call (it is borrowed); the option value is
    // a `c_int` that lives on the stack across the call, and the length passed is its size, so
    // the kernel reads exactly the bytes of `value` and writes nothing.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
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

/// A blocking read that ran into its timeout.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// `SQLSTATE: message` from an ErrorResponse body.
fn error_message(body: &[u8]) -> String {
    let (mut code, mut message) = ("", "");
    for field in body.split(|&b| b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = std::str::from_utf8(value).unwrap_or("?");
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    format!("{code}: {message}")
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
