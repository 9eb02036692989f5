//! The stream's row path, as `RawStream::poll_row` and `Conn::poll_fill` run it, on an
//! in-memory read buffer instead of a socket.
//!
//! Both are private to jsonwire, so this mirrors them on the public sans-IO pieces
//! (`Message::parse`, `DataRow::into_single_value`, `frame_len`); keep it in step with
//! `crates/jsonwire/src/stream.rs` and `conn/mod.rs`.

use bytes::{Buf, Bytes, BytesMut};
use jsonwire::proto::backend::{frame_len, DataRow, Message};
use jsonwire::proto::{JSONB_OID, JSONB_VERSION};

/// The client's default `max_message_size`.
pub const MAX_MESSAGE: usize = 1 << 30;

/// The client's default `read_buffer_size`.
pub const READ_BUFFER_SIZE: usize = 256 * 1024;

/// What the next step over the read buffer produced.
pub enum Next {
    /// A row's JSON text, version byte removed.
    Row(Bytes),
    /// ReadyForQuery: the response is over.
    Done,
    /// No complete message is buffered.
    NeedMore,
}

/// The next row in `buf`, skipping the messages around the rows as the stream does.
///
/// # Panics
/// On anything but a well-formed single-jsonb-column response: the fixtures are, so a panic
/// means the decoder broke.
#[inline]
pub fn next_row(buf: &mut BytesMut) -> Next {
    loop {
        let Some(msg) = Message::parse(buf, MAX_MESSAGE).expect("well-formed response") else {
            return Next::NeedMore;
        };
        match msg {
            Message::DataRow(row) => return Next::Row(jsonb_value(row)),
            Message::ReadyForQuery(_) => return Next::Done,
            Message::RowDescription(columns) => {
                assert!(
                    matches!(&columns[..], [c] if c.type_oid == JSONB_OID && c.format == 1),
                    "expected one binary jsonb column: {columns:?}"
                );
            }
            Message::ParseComplete | Message::BindComplete | Message::CommandComplete(_) => {}
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// `RawStream::value` for binary jsonb: the single value, its version byte checked and
/// removed.
#[inline]
fn jsonb_value(row: DataRow) -> Bytes {
    let mut v = row
        .into_single_value()
        .expect("one column")
        .expect("not NULL");
    assert_eq!(v.first(), Some(&JSONB_VERSION), "jsonb version byte");
    v.advance(1);
    v
}

/// `Conn::poll_fill` with the default read buffer size, where the socket has at most `chunk`
/// bytes ready per read: reserves as the client does, then moves the next bytes of `src`
/// into `buf`.
pub fn fill(buf: &mut BytesMut, src: &mut &[u8], chunk: usize) {
    assert!(!src.is_empty(), "the response ended inside a message");
    let want = match frame_len(buf, MAX_MESSAGE).expect("valid length") {
        Some(total) if total > buf.len() => total - buf.len(),
        _ => 0,
    };
    if buf.is_empty() && buf.capacity() > 4 * READ_BUFFER_SIZE {
        *buf = BytesMut::with_capacity(READ_BUFFER_SIZE);
    }
    let len = buf.len();
    let spare = buf.capacity() - len;
    let min_spare = if want > 0 { want } else { READ_BUFFER_SIZE / 2 };
    if spare < min_spare {
        buf.reserve(want.max(READ_BUFFER_SIZE.saturating_sub(len)));
    }
    let n = chunk.min(buf.capacity() - buf.len()).min(src.len());
    buf.extend_from_slice(&src[..n]);
    *src = &src[n..];
}

/// Decodes every row of a response held whole in `buf`, handing each to `row`.
#[inline]
pub fn drain(buf: &mut BytesMut, mut row: impl FnMut(Bytes)) {
    loop {
        match next_row(buf) {
            Next::Row(v) => row(v),
            Next::Done => return,
            Next::NeedMore => panic!("the response ended inside a message"),
        }
    }
}

/// A response arriving through a socket that has at most `chunk` bytes ready per read,
/// read into the client's read buffer.
pub struct Socket<'a> {
    src: &'a [u8],
    chunk: usize,
    buf: BytesMut,
    /// ReadyForQuery was read: the stream has ended.
    done: bool,
}

impl<'a> Socket<'a> {
    pub fn new(wire: &'a [u8], chunk: usize) -> Socket<'a> {
        Socket {
            src: wire,
            chunk,
            buf: BytesMut::with_capacity(READ_BUFFER_SIZE),
            done: false,
        }
    }

    /// `RawStream::poll_row`: the next buffered row, reading first when none is buffered and
    /// `may_read`.
    #[inline]
    pub fn next_row(&mut self, may_read: bool) -> Next {
        if self.done {
            return Next::Done;
        }
        loop {
            match next_row(&mut self.buf) {
                Next::NeedMore if may_read => fill(&mut self.buf, &mut self.src, self.chunk),
                Next::Done => {
                    self.done = true;
                    return Next::Done;
                }
                next => return next,
            }
        }
    }
}

/// Decodes every row of `wire` arriving `chunk` bytes per read, handing each to `row`.
#[inline]
pub fn drain_reads(wire: &[u8], chunk: usize, mut row: impl FnMut(Bytes)) {
    let mut socket = Socket::new(wire, chunk);
    loop {
        match socket.next_row(true) {
            Next::Row(v) => row(v),
            Next::Done => return,
            Next::NeedMore => unreachable!("reads until a row or the end"),
        }
    }
}
