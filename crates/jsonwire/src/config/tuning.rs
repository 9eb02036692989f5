//! Settings of an open connection: how it reads, what it accepts from the server, how long it
//! waits, how it recovers from an abandoned stream, and its TCP keepalives. The keepalive keys
//! are libpq's; the others are jsonwire's own. All of them print in `Config`'s `Display` and
//! parse back.

use std::time::Duration;

use super::Config;

/// See the setters on [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tuning {
    pub(crate) read_buffer_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) drain_max_bytes: u64,
    pub(crate) drain_timeout: Duration,
    pub(crate) binary_results: bool,
    /// `None`: queries run as long as the server lets them.
    pub(crate) query_timeout: Option<Duration>,
    /// `None`: `connect_timeout`, else ten seconds.
    pub(crate) cancel_timeout: Option<Duration>,
    pub(crate) max_parameters: usize,
    pub(crate) keepalives: bool,
    /// `None` for these four: the operating system's default.
    pub(crate) keepalives_idle: Option<Duration>,
    pub(crate) keepalives_interval: Option<Duration>,
    pub(crate) keepalives_count: Option<u32>,
    pub(crate) tcp_user_timeout: Option<Duration>,
    pub(crate) read_pacing: bool,
}

/// The default read size of a paced read (past the first MiB of a response; before it reads
/// ask for at most 64 KiB): its half, 256 KiB, is the low-water mark that let the server
/// produce a large result fastest. See `BENCHMARKING.md` (chunk strategy, and "How the reader
/// waits changes the server's pace").
pub(crate) const DEFAULT_READ_BUFFER_SIZE: usize = 512 * 1024;

/// How many distinct ParameterStatus names a connection keeps by default. Postgres reports
/// about twenty; the cap stops a hostile server from growing the map for the connection's life.
pub(crate) const DEFAULT_MAX_PARAMETERS: usize = 256;

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            max_message_size: 1 << 30,
            drain_max_bytes: 64 << 20,
            drain_timeout: Duration::from_secs(5),
            binary_results: true,
            query_timeout: None,
            cancel_timeout: None,
            max_parameters: DEFAULT_MAX_PARAMETERS,
            keepalives: true,
            keepalives_idle: None,
            keepalives_interval: None,
            keepalives_count: None,
            tcp_user_timeout: None,
            read_pacing: true,
        }
    }
}

/// Zero means "the system default" for the keepalive settings, as in libpq.
fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

impl Config {
    /// Bytes asked of each socket read once a response is past its first MiB (default
    /// 512 KiB, at least 4 KiB; before that, reads ask for at most 64 KiB); key
    /// `read_buffer_size`. The read buffer holds this much plus at most one incomplete
    /// message, and grows for a larger message only as its bytes arrive; after it, the buffer
    /// returns to this size. With [`Config::read_pacing`], a paced read waits for half of it.
    /// Larger reads mean fewer wake-ups of client and server; smaller ones less memory.
    pub fn read_buffer_size(&mut self, bytes: usize) -> &mut Config {
        self.tuning.read_buffer_size = bytes.max(4096);
        self
    }

    /// The bytes asked of each socket read: [`Config::read_buffer_size`].
    pub fn get_read_buffer_size(&self) -> usize {
        self.tuning.read_buffer_size
    }

    /// The largest message accepted from the server (default 1 GiB, Postgres's own limit
    /// for a field; at least 64 bytes); key `max_message_size`. A larger one is a protocol
    /// error, and a message is never given memory before its bytes arrive.
    pub fn max_message_size(&mut self, bytes: usize) -> &mut Config {
        self.tuning.max_message_size = bytes.max(64);
        self
    }

    /// The largest message accepted from the server: [`Config::max_message_size`].
    pub fn get_max_message_size(&self) -> usize {
        self.tuning.max_message_size
    }

    /// When a stream is dropped, cancelled or timed out before its end, the rest of the
    /// response is read and discarded: at most `max_bytes` (default 64 MiB) for at most
    /// `timeout` (default 5 s); keys `drain_max_bytes` and `drain_timeout`. Past either limit
    /// the connection is closed instead.
    pub fn drain_limits(&mut self, max_bytes: u64, timeout: Duration) -> &mut Config {
        self.tuning.drain_max_bytes = max_bytes;
        self.tuning.drain_timeout = timeout;
        self
    }

    /// The drain limits (bytes, time): [`Config::drain_limits`].
    pub fn get_drain_limits(&self) -> (u64, Duration) {
        (self.tuning.drain_max_bytes, self.tuning.drain_timeout)
    }

    /// Pace reads of large results (default `true`; key `read_pacing`; TCP on Linux only): past the first MiB of
    /// a response, the reader is woken once half the read buffer is queued in the socket (or
    /// after 1 ms, up to 4 ms while the server streams steadily, so the end of a result or a
    /// slow query's rows are never held back longer) instead of for every few KiB the server
    /// writes. The server spends less on waking the reader and produces a large result up to
    /// a quarter sooner; the first rows and small results are read as before. See BENCHMARKING.md, "How the reader waits changes the server's
    /// pace".
    pub fn read_pacing(&mut self, paced: bool) -> &mut Config {
        self.tuning.read_pacing = paced;
        self
    }

    /// Whether large results are read paced: [`Config::read_pacing`].
    pub fn get_read_pacing(&self) -> bool {
        self.tuning.read_pacing
    }

    /// Ask for results in binary format (default `true`); key `binary_results`. For jsonb the
    /// binary form is a version byte and the same text; for json it is the text. `false` asks
    /// for text.
    pub fn binary_results(&mut self, binary: bool) -> &mut Config {
        self.tuning.binary_results = binary;
        self
    }

    /// Whether results are asked for in binary format: [`Config::binary_results`].
    pub fn get_binary_results(&self) -> bool {
        self.tuning.binary_results
    }

    /// The time allowed for each query (default: no limit; zero also means none); key
    /// `query_timeout`. It runs from sending the query to the end of its rows: the wait for
    /// the result description and every wait for rows. A query past it is cancelled on the
    /// server (CancelRequest), its stream ends with
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout), and the connection is drained in
    /// the background for the next query (or closed past the drain limits).
    /// [`Query::timeout`](crate::Query::timeout) sets it for one query.
    pub fn query_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.tuning.query_timeout = nonzero(timeout);
        self
    }

    /// The time allowed for each query: [`Config::query_timeout`].
    pub fn get_query_timeout(&self) -> Option<Duration> {
        self.tuning.query_timeout
    }

    /// The time allowed for a CancelRequest's own connection (default: `connect_timeout`,
    /// else 10 s); key `cancel_timeout`. A cancel connection that does not finish in time is
    /// abandoned; the query's connection does not wait for it.
    pub fn cancel_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.tuning.cancel_timeout = nonzero(timeout);
        self
    }

    /// The cancel connection's time limit, if set: [`Config::cancel_timeout`].
    pub fn get_cancel_timeout(&self) -> Option<Duration> {
        self.tuning.cancel_timeout
    }

    /// How many distinct server parameters (ParameterStatus names) the connection keeps
    /// (default 256, at least 16); key `max_parameters`. Further names are logged and dropped,
    /// so a server cannot grow the client's memory for the connection's life.
    pub fn max_parameters(&mut self, count: usize) -> &mut Config {
        self.tuning.max_parameters = count.max(16);
        self
    }

    /// How many server parameters are kept: [`Config::max_parameters`].
    pub fn get_max_parameters(&self) -> usize {
        self.tuning.max_parameters
    }

    /// Whether TCP keepalives are on (default `true`, as in libpq); libpq's key `keepalives`
    /// (`1` or `0`). With them a peer that vanishes (host down, network cut) is noticed while
    /// the client waits for it, within `keepalives_idle + keepalives_interval ×
    /// keepalives_count`. A peer whose host still answers but whose process stopped
    /// (SIGSTOP, a deadlock) is only noticed by a query timeout.
    pub fn keepalives(&mut self, on: bool) -> &mut Config {
        self.tuning.keepalives = on;
        self
    }

    /// Idle time before the first keepalive probe (zero: the system default, two hours on
    /// Linux); libpq's key `keepalives_idle`, in seconds.
    pub fn keepalives_idle(&mut self, idle: Duration) -> &mut Config {
        self.tuning.keepalives_idle = nonzero(idle);
        self
    }

    /// Time between unanswered keepalive probes (zero: the system default, 75 s on Linux);
    /// libpq's key `keepalives_interval`, in seconds.
    pub fn keepalives_interval(&mut self, interval: Duration) -> &mut Config {
        self.tuning.keepalives_interval = nonzero(interval);
        self
    }

    /// Unanswered probes before the connection is declared dead (zero: the system default, 9
    /// on Linux); libpq's key `keepalives_count`.
    pub fn keepalives_count(&mut self, count: u32) -> &mut Config {
        self.tuning.keepalives_count = (count > 0).then_some(count);
        self
    }

    /// How long sent data may stay unacknowledged before the connection is closed (zero: the
    /// system default); libpq's key `tcp_user_timeout`, in milliseconds (Linux only; ignored
    /// elsewhere). Unlike libpq, which ignores it when keepalives are off, it applies either
    /// way. With keepalives on, Linux also uses it in place of their probe count.
    pub fn tcp_user_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.tuning.tcp_user_timeout = nonzero(timeout);
        self
    }

    /// The keepalive settings: on or off, idle, interval, count (`None` for the system
    /// default). See [`Config::keepalives`].
    pub fn get_keepalives(&self) -> (bool, Option<Duration>, Option<Duration>, Option<u32>) {
        let t = &self.tuning;
        (
            t.keepalives,
            t.keepalives_idle,
            t.keepalives_interval,
            t.keepalives_count,
        )
    }

    /// The TCP user timeout, if set: [`Config::tcp_user_timeout`].
    pub fn get_tcp_user_timeout(&self) -> Option<Duration> {
        self.tuning.tcp_user_timeout
    }
}
