//! The row path of a single-JSON-column result, sans-IO: from the read buffer to each row's
//! JSON text.
//!
//! [`RowDecoder`] is what a stream runs over its read buffer; [`reserve_read`] is how the
//! buffer is grown before each socket read; [`parse_json`] is how a `Value` or typed stream
//! parses a row's text. They are public so that benchmarks and fuzz targets drive the same
//! code the client does.

use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;

use super::backend::{self, tag, Column, Message, HEADER_LEN};
use super::{JSONB_OID, JSONB_VERSION, JSON_OID};
use crate::error::{DbError, Error, ErrorKind, Result};

/// What the next step over the read buffer produced.
#[derive(Debug, PartialEq, Eq)]
pub enum RowEvent {
    /// One row's JSON text (SQL NULL is `null`), a zero-copy slice of the buffer.
    Row(Bytes),
    /// A message the connection handles wherever it arrives: NoticeResponse,
    /// ParameterStatus or NotificationResponse.
    Async(Message),
    /// ReadyForQuery: the response is over. `error` is the server error that ended the
    /// command, if any; `status` the transaction status byte.
    Done {
        /// Transaction status: `I` idle, `T` in a transaction, `E` in a failed transaction.
        status: u8,
        /// The ErrorResponse that ended the command.
        error: Option<Box<DbError>>,
    },
    /// No complete message is buffered: read more.
    NeedMore,
}

/// Decodes the rows of a result that has exactly one `json` or `jsonb` column, after its
/// RowDescription.
#[derive(Debug, Clone)]
pub struct RowDecoder {
    jsonb_binary: bool,
    max_message_size: usize,
    completed: bool,
    error: Option<Box<DbError>>,
}

impl RowDecoder {
    /// A decoder for the result `columns` describe.
    ///
    /// # Errors
    /// [`ErrorKind::Column`] unless there is exactly one column of type json or jsonb; the
    /// message names the columns and their types.
    pub fn for_columns(columns: &[Column], max_message_size: usize) -> Result<RowDecoder> {
        let jsonb_binary = match columns {
            [c] if c.type_oid == JSONB_OID => c.format == 1,
            [c] if c.type_oid == JSON_OID => false,
            [c] => {
                return Err(Error::new(
                    ErrorKind::Column,
                    format!(
                        "column \"{}\" has type {}; expected json or jsonb (cast it, e.g. to_jsonb(...))",
                        c.name,
                        type_name(c.type_oid)
                    ),
                ))
            }
            _ => {
                let names: Vec<String> = columns
                    .iter()
                    .map(|c| format!("\"{}\" {}", c.name, type_name(c.type_oid)))
                    .collect();
                return Err(Error::new(
                    ErrorKind::Column,
                    format!(
                        "the query returns {} columns ({}); expected exactly one json or jsonb column",
                        columns.len(),
                        names.join(", ")
                    ),
                ));
            }
        };
        Ok(RowDecoder {
            jsonb_binary,
            max_message_size,
            completed: false,
            error: None,
        })
    }

    /// Whether the command has ended (CommandComplete or ErrorResponse seen): only
    /// ReadyForQuery is still to come, so no cancel is needed to stop it.
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// The next event from the front of `buf`, removing what it consumed.
    ///
    /// # Errors
    /// A protocol error for a malformed or unexpected message, a row without exactly one
    /// value, or an unknown jsonb binary version; the server's error when it ends the session
    /// (severity FATAL or PANIC, e.g. 57P01 after `pg_terminate_backend`). The connection
    /// cannot be trusted after either.
    #[inline]
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<RowEvent> {
        loop {
            // Rows are nearly every message: take them without building a `Message`.
            if buf.first() == Some(&tag::DATA_ROW) {
                let Some(total) = backend::frame_len(buf, self.max_message_size)? else {
                    return Ok(RowEvent::NeedMore);
                };
                if buf.len() < total {
                    return Ok(RowEvent::NeedMore);
                }
                // Checked in place, then split off and trimmed once: the row costs one
                // reference to the buffer and no other step over its bytes.
                let body = &buf[HEADER_LEN..total];
                let Some(at) = backend::single_value_at(body)? else {
                    buf.advance(total);
                    return Ok(RowEvent::Row(Bytes::from_static(b"null")));
                };
                let at = HEADER_LEN + at + self.version_len(&body[at..])?;
                let mut row = buf.split_to(total).freeze();
                row.advance(at);
                return Ok(RowEvent::Row(row));
            }
            let Some(msg) = Message::parse(buf, self.max_message_size)? else {
                return Ok(RowEvent::NeedMore);
            };
            match msg {
                Message::CommandComplete(_) => self.completed = true,
                // A FATAL or PANIC ends the session: the server closes the socket next, with
                // no ReadyForQuery, and this is the reason to give rather than the EOF.
                Message::ErrorResponse(db) if matches!(db.severity(), "FATAL" | "PANIC") => {
                    self.completed = true;
                    return Err(Error::db(db));
                }
                Message::ErrorResponse(db) => {
                    self.completed = true;
                    self.error = Some(db);
                }
                Message::ReadyForQuery(status) => {
                    self.completed = true;
                    return Ok(RowEvent::Done {
                        status,
                        error: self.error.take(),
                    });
                }
                Message::NoticeResponse(_)
                | Message::ParameterStatus { .. }
                | Message::NotificationResponse(_) => return Ok(RowEvent::Async(msg)),
                other => {
                    return Err(Error::protocol(format!(
                        "unexpected {} while reading query results",
                        other.name()
                    )))
                }
            }
        }
    }

    /// The bytes before a value's JSON text: jsonb's version byte in binary results, else none.
    #[inline]
    fn version_len(&self, value: &[u8]) -> Result<usize> {
        if !self.jsonb_binary {
            return Ok(0);
        }
        match value.first() {
            Some(&JSONB_VERSION) => Ok(1),
            Some(&other) => Err(Error::protocol(format!(
                "unsupported jsonb binary format version {other}"
            ))),
            None => Err(Error::protocol("empty jsonb binary value")),
        }
    }
}

/// Makes room in `buf` for the next socket read of up to `read_size` bytes, or more when the
/// message at its front is known to be larger.
///
/// A large message gets room only as its bytes arrive: each step at most doubles what is
/// buffered, so a header announcing 1 GiB costs one read buffer until the bytes come, and a
/// 16 MB row takes about ten allocations (`log2(16 MB / read_size)` plus one). An empty
/// buffer that a large message grew past four times `read_size` is replaced by a fresh one of
/// `read_size`, so memory returns to the configured bound after a large row.
///
/// # Errors
/// A protocol error when the message at the front announces more than `max_message_size`.
pub fn reserve_read(buf: &mut BytesMut, read_size: usize, max_message_size: usize) -> Result<()> {
    let missing = match backend::frame_len(buf, max_message_size)? {
        Some(total) if total > buf.len() => total - buf.len(),
        _ => 0,
    };
    if buf.is_empty() && buf.capacity() > 4 * read_size {
        *buf = BytesMut::with_capacity(read_size);
    }
    let len = buf.len();
    let want = missing.min(len.max(read_size / 2));
    let spare = buf.capacity() - len;
    let min_spare = if want > 0 { want } else { read_size / 2 };
    if spare < min_spare {
        // Ask for exactly the read size in all: once the rows handed out are dropped,
        // `reserve` moves the partial message to the front of the same allocation instead
        // of growing it.
        buf.reserve(want.max(read_size.saturating_sub(len)));
    }
    Ok(())
}

/// Parses one row's JSON text into `T`, as [`JsonStream`](crate::JsonStream) does.
///
/// The row is checked as UTF-8 once, whole, and parsed as a `str`, so serde_json skips the
/// check it otherwise makes on every string it reads from bytes: 8.6% fewer instructions into
/// `serde_json::Value` and 14.9% fewer into a struct on 100,000 order rows (the
/// instruction-count tier, `decode_100k`). Rows are UTF-8, since the client asks for
/// `client_encoding` UTF8; one that is not is parsed from its bytes, so the error is
/// serde_json's own, naming the position of the offending byte.
///
/// # Errors
/// serde_json's error for text that is not JSON, or not the JSON `T` expects.
#[inline]
pub fn parse_json<T: DeserializeOwned>(json: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(json) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(json),
    }
}

fn type_name(oid: u32) -> String {
    let name = match oid {
        16 => "boolean",
        17 => "bytea",
        18 => "\"char\"",
        19 => "name",
        20 => "bigint",
        21 => "smallint",
        23 => "integer",
        25 => "text",
        26 => "oid",
        114 => "json",
        142 => "xml",
        700 => "real",
        701 => "double precision",
        705 => "unknown",
        1042 => "character",
        1043 => "character varying",
        1082 => "date",
        1114 => "timestamp without time zone",
        1184 => "timestamp with time zone",
        1700 => "numeric",
        2249 => "record",
        2950 => "uuid",
        3802 => "jsonb",
        _ => return format!("with OID {oid}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn column(type_oid: u32, format: i16) -> Column {
        Column {
            name: "data".into(),
            table_oid: 0,
            column_id: 0,
            type_oid,
            type_size: -1,
            type_modifier: -1,
            format,
        }
    }

    fn row(value: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 1];
        body.extend_from_slice(&(value.len() as i32).to_be_bytes());
        body.extend_from_slice(value);
        frame(b'D', &body)
    }

    fn events(decoder: &mut RowDecoder, wire: &[u8], split: usize) -> Vec<RowEvent> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in [&wire[..split], &wire[split..]] {
            buf.extend_from_slice(chunk);
            loop {
                match decoder.next(&mut buf).unwrap() {
                    RowEvent::NeedMore => break,
                    e => out.push(e),
                }
            }
        }
        out
    }

    #[test]
    fn rows_notices_and_the_end_at_every_split() {
        let mut wire = row(b"\x01{\"a\": 1}");
        wire.extend(frame(b'N', b"SNOTICE\0C00000\0Mhi\0\0"));
        wire.extend(frame(b'D', b"\0\x01\xff\xff\xff\xff"));
        wire.extend(frame(b'C', b"SELECT 2\0"));
        wire.extend(frame(b'Z', b"I"));
        for split in 0..=wire.len() {
            let mut d = RowDecoder::for_columns(&[column(JSONB_OID, 1)], 1 << 20).unwrap();
            let got = events(&mut d, &wire, split);
            assert_eq!(got.len(), 4, "split {split}");
            assert_eq!(got[0], RowEvent::Row(Bytes::from_static(b"{\"a\": 1}")));
            assert!(matches!(
                got[1],
                RowEvent::Async(Message::NoticeResponse(_))
            ));
            assert_eq!(got[2], RowEvent::Row(Bytes::from_static(b"null")));
            assert_eq!(
                got[3],
                RowEvent::Done {
                    status: b'I',
                    error: None
                }
            );
        }
    }

    #[test]
    fn an_error_is_reported_with_ready_for_query() {
        let mut wire = row(b"[1]");
        wire.extend(frame(
            b'E',
            b"SERROR\0VERROR\0C22012\0Mdivision by zero\0\0",
        ));
        wire.extend(frame(b'Z', b"I"));
        let mut d = RowDecoder::for_columns(&[column(JSON_OID, 1)], 1 << 20).unwrap();
        let got = events(&mut d, &wire, 0);
        assert_eq!(got[0], RowEvent::Row(Bytes::from_static(b"[1]")));
        let RowEvent::Done { error: Some(e), .. } = &got[1] else {
            panic!("{got:?}")
        };
        assert_eq!(e.code(), "22012");
        assert!(d.completed());
    }

    #[test]
    fn unknown_jsonb_version_and_unexpected_messages_are_protocol_errors() {
        let mut d = RowDecoder::for_columns(&[column(JSONB_OID, 1)], 1 << 20).unwrap();
        let mut buf = BytesMut::from(&row(b"\x02{}")[..]);
        assert_eq!(d.next(&mut buf).unwrap_err().kind(), ErrorKind::Protocol);
        let mut buf = BytesMut::from(&frame(b'1', b"")[..]);
        assert!(d
            .next(&mut buf)
            .unwrap_err()
            .to_string()
            .contains("unexpected ParseComplete"));
    }

    #[test]
    fn columns_other_than_one_json_are_refused_by_name_and_type() {
        let err = RowDecoder::for_columns(&[column(25, 0)], 1024).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Column);
        assert!(err.to_string().contains("\"data\" has type text"), "{err}");
        let err =
            RowDecoder::for_columns(&[column(JSONB_OID, 1), column(23, 1)], 1024).unwrap_err();
        assert!(err.to_string().contains("2 columns"), "{err}");
        let err = RowDecoder::for_columns(&[], 1024).unwrap_err();
        assert!(err.to_string().contains("0 columns"), "{err}");
    }

    #[test]
    fn reserve_read_keeps_the_buffer_at_the_read_size() {
        let mut buf = BytesMut::new();
        reserve_read(&mut buf, 64 * 1024, 1 << 30).unwrap();
        assert!(buf.capacity() >= 64 * 1024 && buf.capacity() < 128 * 1024);
        // A 1 GiB message announced at the front: no room for it before its bytes arrive.
        buf.extend_from_slice(b"D\x40\x00\x00\x00\x00\x01");
        reserve_read(&mut buf, 64 * 1024, 1 << 30).unwrap();
        assert!(buf.capacity() < 256 * 1024, "{}", buf.capacity());
        // Consumed and empty again: back to the read size.
        buf.clear();
        reserve_read(&mut buf, 64 * 1024, 1 << 30).unwrap();
        assert!(buf.capacity() < 128 * 1024, "{}", buf.capacity());
    }

    /// Feeds a message the way the socket does (each read fills the spare room) and returns
    /// the number of allocations and the largest capacity.
    fn grow(message: usize, read_size: usize) -> (usize, usize) {
        let mut buf = BytesMut::new();
        let mut header = vec![b'D'];
        header.extend_from_slice(&((message - 1) as u32).to_be_bytes());
        let (mut allocations, mut high) = (0, 0);
        let mut sent = 0;
        while sent < message {
            let before = buf.capacity();
            reserve_read(&mut buf, read_size, 1 << 30).unwrap();
            if buf.capacity() != before {
                allocations += 1;
            }
            high = high.max(buf.capacity());
            let n = (buf.capacity() - buf.len()).min(message - sent);
            for i in sent..sent + n {
                buf.put_u8(header.get(i).copied().unwrap_or(b'x'));
            }
            sent += n;
        }
        (allocations, high)
    }

    #[test]
    fn a_large_row_grows_the_buffer_as_it_arrives_in_few_allocations() {
        let read = 64 * 1024;
        for message in [100 * 1024, 1 << 20, 16 << 20] {
            let (allocations, high) = grow(message, read);
            let steps = (message / read).ilog2() as usize + 2;
            assert!(allocations <= steps, "{message}: {allocations} > {steps}");
            // Within a small multiple of what actually arrived, plus the read buffer.
            assert!(high <= 2 * message + read, "{message}: {high}");
        }
    }

    #[test]
    fn parse_json_reads_a_utf8_row_as_text_and_reports_errors_as_serde_json_does() {
        use serde_json::{json, Value};

        let v: Value =
            parse_json("{\"name\": \"Zoë \\u00e9\", \"n\": [1, 2.5, null]}".as_bytes()).unwrap();
        assert_eq!(v, json!({"name": "Zoë é", "n": [1, 2.5, null]}));
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            id: i64,
        }
        let cases: [&[u8]; 4] = [
            b"{\"name\": \"Zo\xeb\"}",
            b"{\"id\": \"two\"}",
            b"{\"id\": 1",
            b"{\"id\": 1} x",
        ];
        for row in cases {
            let ours = parse_json::<Value>(row).err().map(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(row)
                .err()
                .map(|e| e.to_string());
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(row));
            let ours = parse_json::<Doc>(row).unwrap_err().to_string();
            let theirs = serde_json::from_slice::<Doc>(row).unwrap_err().to_string();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(row));
        }
        let invalid = parse_json::<Value>(cases[0]).unwrap_err().to_string();
        assert!(
            invalid.starts_with("invalid unicode code point"),
            "{invalid}"
        );
    }
}
