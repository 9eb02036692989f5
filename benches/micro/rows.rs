//! The stream's row path on an in-memory read buffer instead of a socket: jsonwire's own
//! sans-IO pieces (`RowDecoder`, `reserve_read`), driven the way `RawStream` and the
//! connection drive them.

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use jsonwire::proto::backend::Message;
use jsonwire::proto::rows::{reserve_read, RowDecoder, RowEvent};
use jsonwire::proto::JSONB_OID;

/// The client's default `max_message_size`.
pub const MAX_MESSAGE: usize = 1 << 30;

/// The client's default `read_buffer_size`.
pub static READ_BUFFER_SIZE: LazyLock<usize> =
    LazyLock::new(|| jsonwire::Config::new().get_read_buffer_size());

/// What the next step over the read buffer produced.
pub enum Next {
    /// A row's JSON text, version byte removed.
    Row(Bytes),
    /// ReadyForQuery: the response is over.
    Done,
    /// No complete message is buffered.
    NeedMore,
}

/// Reads the messages before the rows (ParseComplete, BindComplete, RowDescription) and
/// returns the decoder for the rows, or `None` if the buffer holds less than that.
///
/// # Panics
/// On anything but a well-formed single-jsonb-column response: the fixtures are, so a panic
/// means the decoder broke.
fn preamble(buf: &mut BytesMut) -> Option<RowDecoder> {
    loop {
        match Message::parse(buf, MAX_MESSAGE).expect("well-formed response")? {
            Message::ParseComplete | Message::BindComplete => {}
            Message::RowDescription(columns) => {
                assert!(
                    matches!(&columns[..], [c] if c.type_oid == JSONB_OID && c.format == 1),
                    "expected one binary jsonb column: {columns:?}"
                );
                return Some(RowDecoder::for_columns(&columns, MAX_MESSAGE).expect("jsonb column"));
            }
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// The next row in `buf`, as `RawStream::poll_row` takes it.
#[inline]
fn next_row(decoder: &mut RowDecoder, buf: &mut BytesMut) -> Next {
    loop {
        match decoder.next(buf).expect("well-formed rows") {
            RowEvent::Row(v) => return Next::Row(v),
            RowEvent::Done { error: None, .. } => return Next::Done,
            RowEvent::Done { error: Some(e), .. } => panic!("server error in a fixture: {e}"),
            RowEvent::Async(_) => {}
            RowEvent::NeedMore => return Next::NeedMore,
        }
    }
}

/// The connection's fill step with the default read buffer size, where the socket has at most
/// `chunk` bytes ready per read: reserves as the client does, then moves the next bytes of
/// `src` into `buf`.
pub fn fill(buf: &mut BytesMut, src: &mut &[u8], chunk: usize) {
    assert!(!src.is_empty(), "the response ended inside a message");
    reserve_read(buf, *READ_BUFFER_SIZE, MAX_MESSAGE).expect("valid length");
    let n = chunk.min(buf.capacity() - buf.len()).min(src.len());
    buf.extend_from_slice(&src[..n]);
    *src = &src[n..];
}

/// Decodes every row of a response held whole in `buf`, handing each to `row`.
#[inline]
pub fn drain(buf: &mut BytesMut, mut row: impl FnMut(Bytes)) {
    let mut decoder = preamble(buf).expect("a whole response");
    loop {
        match next_row(&mut decoder, buf) {
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
    decoder: Option<RowDecoder>,
    /// ReadyForQuery was read: the stream has ended.
    done: bool,
}

impl<'a> Socket<'a> {
    pub fn new(wire: &'a [u8], chunk: usize) -> Socket<'a> {
        Socket {
            src: wire,
            chunk,
            buf: BytesMut::with_capacity(*READ_BUFFER_SIZE),
            decoder: None,
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
            let Some(decoder) = self.decoder.as_mut() else {
                self.decoder = preamble(&mut self.buf);
                if self.decoder.is_none() {
                    fill(&mut self.buf, &mut self.src, self.chunk);
                }
                continue;
            };
            match next_row(decoder, &mut self.buf) {
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
