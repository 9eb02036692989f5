//! jsonwire's own connection settings: how a connection reads, what it accepts and how it
//! recovers from an abandoned stream. They have no libpq spelling, so they are set in code.

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
}

/// The default read size; see `BENCHMARKING.md` (chunk strategy) for how it was chosen.
pub(crate) const DEFAULT_READ_BUFFER_SIZE: usize = 64 * 1024;

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            max_message_size: 1 << 30,
            drain_max_bytes: 64 << 20,
            drain_timeout: Duration::from_secs(5),
            binary_results: true,
        }
    }
}

impl Config {
    /// Bytes asked of each socket read (default 64 KiB, at least 4 KiB). The read buffer
    /// holds this much plus at most one incomplete message; after a larger message it
    /// returns to this size. Larger reads mean fewer wake-ups; smaller ones less memory.
    pub fn read_buffer_size(&mut self, bytes: usize) -> &mut Config {
        self.tuning.read_buffer_size = bytes.max(4096);
        self
    }

    /// The bytes asked of each socket read: [`Config::read_buffer_size`].
    pub fn get_read_buffer_size(&self) -> usize {
        self.tuning.read_buffer_size
    }

    /// The largest message accepted from the server (default 1 GiB, Postgres's own limit
    /// for a field). A larger one is a protocol error before any memory is reserved for it.
    pub fn max_message_size(&mut self, bytes: usize) -> &mut Config {
        self.tuning.max_message_size = bytes.max(64);
        self
    }

    /// When a stream is dropped before its end, the query is cancelled and the rest of the
    /// response read and discarded: at most `max_bytes` (default 64 MiB) for at most
    /// `timeout` (default 5 s). Past either limit the connection is closed instead.
    pub fn drain_limits(&mut self, max_bytes: u64, timeout: Duration) -> &mut Config {
        self.tuning.drain_max_bytes = max_bytes;
        self.tuning.drain_timeout = timeout;
        self
    }

    /// Ask for results in binary format (default `true`). For jsonb the binary form is a
    /// version byte and the same text; for json it is the text. `false` asks for text.
    pub fn binary_results(&mut self, binary: bool) -> &mut Config {
        self.tuning.binary_results = binary;
        self
    }
}
