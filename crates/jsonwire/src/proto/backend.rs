//! Decoding of backend (server to client) messages.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{DbError, Error, Result};

/// Message type bytes of the backend messages this client understands ("Message Formats").
pub mod tag {
    #![allow(missing_docs)]
    pub const AUTHENTICATION: u8 = b'R';
    pub const BACKEND_KEY_DATA: u8 = b'K';
    pub const BIND_COMPLETE: u8 = b'2';
    pub const CLOSE_COMPLETE: u8 = b'3';
    pub const COMMAND_COMPLETE: u8 = b'C';
    pub const DATA_ROW: u8 = b'D';
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    pub const ERROR_RESPONSE: u8 = b'E';
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    pub const NO_DATA: u8 = b'n';
    pub const NOTICE_RESPONSE: u8 = b'N';
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    pub const PARAMETER_STATUS: u8 = b'S';
    pub const PARSE_COMPLETE: u8 = b'1';
    pub const PORTAL_SUSPENDED: u8 = b's';
    pub const READY_FOR_QUERY: u8 = b'Z';
    pub const ROW_DESCRIPTION: u8 = b'T';
}

/// The size of a message header: one type byte and a four-byte length.
pub const HEADER_LEN: usize = 5;

/// The most protocol options a NegotiateProtocolVersion may list. A server lists only options
/// the client sent, and jsonwire sends none; the cap keeps a hostile list from costing a
/// `String` per byte (a 20 MiB message of NUL bytes once cost 531 MiB).
pub const MAX_NEGOTIATE_OPTIONS: usize = 64;

/// A decoded backend message. Bodies are zero-copy slices of the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An `Authentication*` request.
    Authentication(Authentication),
    /// Process id and secret key for cancel requests.
    BackendKeyData {
        /// The backend's process id.
        pid: i32,
        /// The secret key (four bytes in protocol 3.0).
        secret: Bytes,
    },
    /// `BindComplete`.
    BindComplete,
    /// `CloseComplete`.
    CloseComplete,
    /// `CommandComplete` with its tag, e.g. `SELECT 42`.
    CommandComplete(Bytes),
    /// One row.
    DataRow(DataRow),
    /// The query string was empty.
    EmptyQueryResponse,
    /// An error; the current command is aborted.
    ErrorResponse(Box<DbError>),
    /// The server does not support the requested minor version or some protocol options.
    NegotiateProtocolVersion {
        /// The newest protocol version the server supports for the major version asked for,
        /// as `major << 16 | minor` (196608 is 3.0).
        version: i32,
        /// Protocol options the server did not recognise (at most
        /// [`MAX_NEGOTIATE_OPTIONS`]; a message listing more is a protocol error).
        unrecognized: Vec<String>,
    },
    /// The statement or portal returns no rows.
    NoData,
    /// A notice (warning, info, …); never ends a command.
    NoticeResponse(Box<DbError>),
    /// A `NOTIFY` delivered to this session.
    NotificationResponse(Notification),
    /// Types of a prepared statement's parameters.
    ParameterDescription(Vec<u32>),
    /// A run-time parameter's current value.
    ParameterStatus {
        /// Parameter name.
        name: String,
        /// Its value.
        value: String,
    },
    /// `ParseComplete`.
    ParseComplete,
    /// Execute's row limit was reached.
    PortalSuspended,
    /// The server is ready for a new query; the byte is the transaction status.
    ReadyForQuery(u8),
    /// Describes the columns of the rows to come.
    RowDescription(Vec<Column>),
}

/// An asynchronous notification (`LISTEN`/`NOTIFY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Process id of the notifying backend.
    pub pid: i32,
    /// The channel name.
    pub channel: String,
    /// The payload.
    pub payload: String,
}

/// The authentication request variants ("AuthenticationOk" and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Authentication succeeded.
    Ok,
    /// A cleartext password is required.
    CleartextPassword,
    /// An MD5-hashed password is required, with this salt.
    Md5Password([u8; 4]),
    /// SASL, with the mechanisms the server offers.
    Sasl(Vec<String>),
    /// A SASL challenge.
    SaslContinue(Bytes),
    /// The SASL outcome (server signature).
    SaslFinal(Bytes),
    /// A method this client does not implement; the code is the request's subtype.
    Unsupported(i32),
}

/// One field of a `RowDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// OID of the source table, or 0.
    pub table_oid: u32,
    /// Attribute number in the source table, or 0.
    pub column_id: i16,
    /// Type OID.
    pub type_oid: u32,
    /// Type size (`pg_type.typlen`).
    pub type_size: i16,
    /// Type modifier.
    pub type_modifier: i32,
    /// Format code: 0 text, 1 binary.
    pub format: i16,
}

/// A `DataRow` body: column count followed by length-prefixed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    body: Bytes,
}

impl DataRow {
    /// Wraps a DataRow body (the bytes after the header).
    pub fn new(body: Bytes) -> DataRow {
        DataRow { body }
    }

    /// The number of bytes in the body.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether the body is empty (never true for a well-formed row).
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The value of a row that has exactly one column; `None` for SQL NULL.
    ///
    /// # Errors
    /// A protocol error when the row does not have exactly one column or its length
    /// disagrees with the message length.
    pub fn into_single_value(mut self) -> Result<Option<Bytes>> {
        Ok(single_value_at(&self.body)?.map(|at| {
            self.body.advance(at);
            self.body
        }))
    }

    /// Every value of the row, in column order; `None` for SQL NULL.
    ///
    /// # Errors
    /// A protocol error when a length points past the end of the message.
    pub fn values(&self) -> Result<Vec<Option<Bytes>>> {
        let mut body = self.body.clone();
        if body.len() < 2 {
            return Err(Error::protocol("DataRow without a column count"));
        }
        let count = body.get_u16() as usize;
        let mut values = Vec::with_capacity(count.min(body.len() / 4));
        for _ in 0..count {
            if body.len() < 4 {
                return Err(Error::protocol("DataRow ends inside a value length"));
            }
            let len = body.get_i32();
            if len == -1 {
                values.push(None);
                continue;
            }
            if len < 0 || len as usize > body.len() {
                return Err(Error::protocol(format!(
                    "DataRow value length {len} is out of bounds"
                )));
            }
            values.push(Some(body.split_to(len as usize)));
        }
        if !body.is_empty() {
            return Err(Error::protocol("DataRow has bytes after its last value"));
        }
        Ok(values)
    }
}

/// The length of the complete message at the start of `buf` (header included), if its header
/// has arrived.
///
/// # Errors
/// A protocol error when the length field is below 4 or the message would exceed `max_len`.
#[inline]
pub fn frame_len(buf: &[u8], max_len: usize) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len < 4 {
        return Err(Error::protocol(format!(
            "message '{}' has an invalid length {len}",
            printable(buf[0])
        )));
    }
    if len > max_len {
        return Err(Error::protocol(format!(
            "message '{}' of {len} bytes exceeds the limit of {max_len} bytes (max_message_size)",
            printable(buf[0])
        )));
    }
    Ok(Some(len + 1))
}

/// Where the value of a one-column DataRow `body` (the bytes after the header) starts, or
/// `None` for SQL NULL: the rule of [`DataRow::into_single_value`], on a slice, so the row path
/// can check a row before it splits it off the read buffer.
///
/// # Errors
/// A protocol error when the row does not have exactly one column or its length disagrees
/// with the message length.
#[inline]
pub(crate) fn single_value_at(body: &[u8]) -> Result<Option<usize>> {
    let Some((head, value)) = body.split_first_chunk::<6>() else {
        return Err(Error::protocol(
            "DataRow shorter than its column count and length",
        ));
    };
    let count = u16::from_be_bytes([head[0], head[1]]);
    if count != 1 {
        return Err(Error::protocol(format!(
            "DataRow has {count} columns, expected 1"
        )));
    }
    let len = i32::from_be_bytes([head[2], head[3], head[4], head[5]]);
    if len == -1 && value.is_empty() {
        return Ok(None);
    }
    if len < 0 || len as usize != value.len() {
        return Err(Error::protocol(format!(
            "DataRow value length {len} disagrees with the {} bytes that follow",
            value.len()
        )));
    }
    Ok(Some(head.len()))
}

fn printable(tag: u8) -> char {
    if tag.is_ascii_graphic() {
        tag as char
    } else {
        '?'
    }
}

impl Message {
    /// The message's name in the protocol documentation, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Authentication(_) => "Authentication",
            Message::BackendKeyData { .. } => "BackendKeyData",
            Message::BindComplete => "BindComplete",
            Message::CloseComplete => "CloseComplete",
            Message::CommandComplete(_) => "CommandComplete",
            Message::DataRow(_) => "DataRow",
            Message::EmptyQueryResponse => "EmptyQueryResponse",
            Message::ErrorResponse(_) => "ErrorResponse",
            Message::NegotiateProtocolVersion { .. } => "NegotiateProtocolVersion",
            Message::NoData => "NoData",
            Message::NoticeResponse(_) => "NoticeResponse",
            Message::NotificationResponse(_) => "NotificationResponse",
            Message::ParameterDescription(_) => "ParameterDescription",
            Message::ParameterStatus { .. } => "ParameterStatus",
            Message::ParseComplete => "ParseComplete",
            Message::PortalSuspended => "PortalSuspended",
            Message::ReadyForQuery(_) => "ReadyForQuery",
            Message::RowDescription(_) => "RowDescription",
        }
    }

    /// Decodes one message from the front of `buf`, removing it.
    ///
    /// Returns `Ok(None)` and leaves `buf` untouched when the message is incomplete.
    ///
    /// # Errors
    /// A protocol error for a malformed message, an unknown type byte, or a length above
    /// `max_len`.
    pub fn parse(buf: &mut BytesMut, max_len: usize) -> Result<Option<Message>> {
        let Some(total) = frame_len(buf, max_len)? else {
            return Ok(None);
        };
        if buf.len() < total {
            return Ok(None);
        }
        let tag = buf[0];
        let mut frame = buf.split_to(total).freeze();
        frame.advance(HEADER_LEN);
        Message::decode(tag, frame).map(Some)
    }

    /// Decodes the body of a message whose type byte is `tag`.
    ///
    /// # Errors
    /// A protocol error for a malformed body or an unknown type byte.
    pub fn decode(tag: u8, body: Bytes) -> Result<Message> {
        let mut r = Reader { tag, buf: body };
        let msg = match tag {
            tag::DATA_ROW => return Ok(Message::DataRow(DataRow { body: r.buf })),
            tag::AUTHENTICATION => Message::Authentication(r.authentication()?),
            tag::BACKEND_KEY_DATA => {
                let pid = r.i32()?;
                let key = std::mem::take(&mut r.buf);
                if key.is_empty() || key.len() > 256 {
                    return Err(r.bad("secret key length out of range"));
                }
                // Copied: the key lives as long as the connection, and a slice would pin the
                // whole read buffer it arrived in.
                let secret = Bytes::copy_from_slice(&key);
                Message::BackendKeyData { pid, secret }
            }
            tag::BIND_COMPLETE => Message::BindComplete,
            tag::CLOSE_COMPLETE => Message::CloseComplete,
            tag::COMMAND_COMPLETE => Message::CommandComplete(r.cstr_bytes()?),
            tag::EMPTY_QUERY_RESPONSE => Message::EmptyQueryResponse,
            tag::ERROR_RESPONSE => Message::ErrorResponse(Box::new(r.fields()?)),
            tag::NOTICE_RESPONSE => Message::NoticeResponse(Box::new(r.fields()?)),
            tag::NEGOTIATE_PROTOCOL_VERSION => {
                let version = r.i32()?;
                let n = r.i32()?;
                let n = usize::try_from(n)
                    .map_err(|_| r.bad("negative count of unrecognized options"))?;
                if n > MAX_NEGOTIATE_OPTIONS {
                    return Err(r.bad(&format!(
                        "{n} unrecognized protocol options listed; at most {MAX_NEGOTIATE_OPTIONS} are accepted"
                    )));
                }
                let mut unrecognized = Vec::with_capacity(n);
                for _ in 0..n {
                    unrecognized.push(r.cstr()?);
                }
                Message::NegotiateProtocolVersion {
                    version,
                    unrecognized,
                }
            }
            tag::NO_DATA => Message::NoData,
            tag::NOTIFICATION_RESPONSE => Message::NotificationResponse(Notification {
                pid: r.i32()?,
                channel: r.cstr()?,
                payload: r.cstr()?,
            }),
            tag::PARAMETER_DESCRIPTION => {
                let n = r.u16()?;
                let mut types = Vec::with_capacity((n as usize).min(r.buf.len() / 4));
                for _ in 0..n {
                    types.push(r.u32()?);
                }
                Message::ParameterDescription(types)
            }
            tag::PARAMETER_STATUS => Message::ParameterStatus {
                name: r.cstr()?,
                value: r.cstr()?,
            },
            tag::PARSE_COMPLETE => Message::ParseComplete,
            tag::PORTAL_SUSPENDED => Message::PortalSuspended,
            tag::READY_FOR_QUERY => Message::ReadyForQuery(r.u8()?),
            tag::ROW_DESCRIPTION => {
                let n = r.u16()?;
                let mut columns = Vec::with_capacity((n as usize).min(r.buf.len() / 19));
                for _ in 0..n {
                    columns.push(Column {
                        name: r.cstr()?,
                        table_oid: r.u32()?,
                        column_id: r.i16()?,
                        type_oid: r.u32()?,
                        type_size: r.i16()?,
                        type_modifier: r.i32()?,
                        format: r.i16()?,
                    });
                }
                Message::RowDescription(columns)
            }
            other => {
                return Err(Error::protocol(format!(
                    "unexpected backend message type '{}' (0x{other:02x})",
                    printable(other)
                )))
            }
        };
        if !r.buf.is_empty() {
            return Err(r.bad("trailing bytes after the message body"));
        }
        Ok(msg)
    }
}

/// The most SASL mechanisms an AuthenticationSASL message may offer.
const MAX_SASL_MECHANISMS: usize = 16;

/// The longest error or notice field kept, in bytes: an error outlives the read buffer it
/// arrived in (callers log it, keep it, send it on), so one field cannot hold more than this.
pub const MAX_FIELD_LEN: usize = 64 * 1024;

/// A field's text, cut at [`MAX_FIELD_LEN`] (on a character boundary) with a note saying how
/// much was left out.
fn capped(bytes: Bytes) -> String {
    if bytes.len() <= MAX_FIELD_LEN {
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let mut end = MAX_FIELD_LEN;
    // Back up to the start of a UTF-8 character.
    while end > 0 && (bytes[end] & 0xc0) == 0x80 {
        end -= 1;
    }
    let mut s = String::from_utf8_lossy(&bytes[..end]).into_owned();
    s.push_str(&format!("… [{} more bytes]", bytes.len() - end));
    s
}

struct Reader {
    tag: u8,
    buf: Bytes,
}

impl Reader {
    fn bad(&self, what: &str) -> Error {
        Error::protocol(format!(
            "malformed '{}' message: {what}",
            printable(self.tag)
        ))
    }

    fn need(&self, n: usize) -> Result<()> {
        if self.buf.len() < n {
            Err(self.bad("body ends early"))
        } else {
            Ok(())
        }
    }

    fn u8(&mut self) -> Result<u8> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    fn i16(&mut self) -> Result<i16> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    fn u16(&mut self) -> Result<u16> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    fn i32(&mut self) -> Result<i32> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    fn u32(&mut self) -> Result<u32> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    fn cstr_bytes(&mut self) -> Result<Bytes> {
        let Some(nul) = self.buf.iter().position(|&b| b == 0) else {
            return Err(self.bad("string without its NUL terminator"));
        };
        let s = self.buf.split_to(nul);
        self.buf.advance(1);
        Ok(s)
    }

    fn cstr(&mut self) -> Result<String> {
        let bytes = self.cstr_bytes()?;
        // The server encodes text in client_encoding, which we set to UTF8; be lenient with
        // what an older or misconfigured server sends rather than fail a whole message.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn authentication(&mut self) -> Result<Authentication> {
        Ok(match self.i32()? {
            0 => Authentication::Ok,
            3 => Authentication::CleartextPassword,
            5 => {
                self.need(4)?;
                let mut salt = [0; 4];
                self.buf.copy_to_slice(&mut salt);
                Authentication::Md5Password(salt)
            }
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let m = self.cstr()?;
                    if m.is_empty() {
                        break;
                    }
                    // A String per name would turn a long list of one-byte names into many
                    // times its size; Postgres offers two.
                    if mechanisms.len() == MAX_SASL_MECHANISMS {
                        return Err(self.bad("more than 16 SASL mechanisms"));
                    }
                    mechanisms.push(m);
                }
                Authentication::Sasl(mechanisms)
            }
            11 => Authentication::SaslContinue(std::mem::take(&mut self.buf)),
            12 => Authentication::SaslFinal(std::mem::take(&mut self.buf)),
            other => {
                self.buf.clear();
                Authentication::Unsupported(other)
            }
        })
    }

    /// Error and notice fields ("Error and Notice Message Fields").
    fn fields(&mut self) -> Result<DbError> {
        let mut e = DbError::default();
        let mut localized_severity = None;
        loop {
            let code = self.u8()?;
            if code == 0 {
                break;
            }
            let value = capped(self.cstr_bytes()?);
            let number = |v: &str| v.parse::<u32>().ok();
            match code {
                b'S' => localized_severity = Some(value),
                b'V' => e.severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                b'P' => e.position = number(&value),
                b'p' => e.internal_position = number(&value),
                b'q' => e.internal_query = Some(value),
                b'W' => e.where_ = Some(value),
                b's' => e.schema = Some(value),
                b't' => e.table = Some(value),
                b'c' => e.column = Some(value),
                b'd' => e.datatype = Some(value),
                b'n' => e.constraint = Some(value),
                b'F' => e.file = Some(value),
                b'L' => e.line = number(&value),
                b'R' => e.routine = Some(value),
                _ => {}
            }
        }
        if e.severity.is_empty() {
            e.severity = localized_severity.unwrap_or_else(|| "ERROR".into());
        }
        if e.code.is_empty() {
            e.code = "XX000".into();
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests;
