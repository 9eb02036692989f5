//! Encoding of frontend (client to server) messages.
//!
//! Each function appends one message to the caller's buffer and back-fills its length, so a
//! whole query (Parse, Bind, Describe, Execute, Sync) goes out in one write.

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};

/// Protocol version 3.0, as sent in the StartupMessage.
pub const PROTOCOL_VERSION: i32 = 196_608;
/// The request code of a CancelRequest.
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;
/// The request code of an SSLRequest.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;

/// Writes a message with a type byte; `body` fills it in and the length is back-filled.
fn message(
    buf: &mut BytesMut,
    tag: u8,
    body: impl FnOnce(&mut BytesMut) -> Result<()>,
) -> Result<()> {
    buf.put_u8(tag);
    untagged(buf, body)
}

fn untagged(buf: &mut BytesMut, body: impl FnOnce(&mut BytesMut) -> Result<()>) -> Result<()> {
    let start = buf.len();
    buf.put_i32(0);
    if let Err(e) = body(buf) {
        buf.truncate(start.saturating_sub(1));
        return Err(e);
    }
    let len = buf.len() - start;
    let Ok(len32) = i32::try_from(len) else {
        buf.truncate(start.saturating_sub(1));
        return Err(Error::config(format!(
            "message of {len} bytes is too large for the protocol"
        )));
    };
    buf[start..start + 4].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

fn cstr(buf: &mut BytesMut, s: &[u8], what: &str) -> Result<()> {
    if s.contains(&0) {
        return Err(Error::config(format!(
            "{what} contains a NUL byte, which the protocol cannot carry"
        )));
    }
    buf.put_slice(s);
    buf.put_u8(0);
    Ok(())
}

/// `StartupMessage` for protocol 3.0 with the given parameters (`user` is required by the
/// server).
///
/// # Errors
/// A config error when a name or value contains a NUL byte.
pub fn startup(buf: &mut BytesMut, params: &[(&str, &str)]) -> Result<()> {
    startup_version(buf, PROTOCOL_VERSION, params)
}

/// `StartupMessage` asking for protocol `version` (`3 << 16 | minor`).
///
/// # Errors
/// A config error when a name or value contains a NUL byte.
pub fn startup_version(buf: &mut BytesMut, version: i32, params: &[(&str, &str)]) -> Result<()> {
    untagged(buf, |buf| {
        buf.put_i32(version);
        for (name, value) in params {
            cstr(buf, name.as_bytes(), "a startup parameter name")?;
            cstr(buf, value.as_bytes(), name)?;
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// `SSLRequest`: asks the server to switch to TLS; it answers with one byte, `S` or `N`.
pub fn ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(SSL_REQUEST_CODE);
}

/// `CancelRequest` for the backend identified by `pid` and `secret`.
pub fn cancel_request(buf: &mut BytesMut, pid: i32, secret: &[u8]) {
    let len = 12 + secret.len();
    buf.put_i32(len as i32);
    buf.put_i32(CANCEL_REQUEST_CODE);
    buf.put_i32(pid);
    buf.put_slice(secret);
}

/// `PasswordMessage` carrying a cleartext or MD5-hashed password.
///
/// # Errors
/// A config error when the password contains a NUL byte.
pub fn password(buf: &mut BytesMut, password: &[u8]) -> Result<()> {
    message(buf, b'p', |buf| cstr(buf, password, "the password"))
}

/// `SASLInitialResponse` naming the mechanism.
///
/// # Errors
/// Never in practice; the signature matches the other encoders.
pub fn sasl_initial_response(buf: &mut BytesMut, mechanism: &str, data: &[u8]) -> Result<()> {
    message(buf, b'p', |buf| {
        cstr(buf, mechanism.as_bytes(), "the SASL mechanism")?;
        buf.put_i32(data.len() as i32);
        buf.put_slice(data);
        Ok(())
    })
}

/// `SASLResponse`.
///
/// # Errors
/// Never in practice; the signature matches the other encoders.
pub fn sasl_response(buf: &mut BytesMut, data: &[u8]) -> Result<()> {
    message(buf, b'p', |buf| {
        buf.put_slice(data);
        Ok(())
    })
}

/// `Parse` of `query` into the statement `name` ("" is the unnamed statement); parameter types
/// are left for the server to infer.
///
/// # Errors
/// A config error when the query contains a NUL byte.
pub fn parse(buf: &mut BytesMut, name: &str, query: &str) -> Result<()> {
    message(buf, b'P', |buf| {
        cstr(buf, name.as_bytes(), "the statement name")?;
        cstr(buf, query.as_bytes(), "the query text")?;
        buf.put_i16(0);
        Ok(())
    })
}

/// `Bind` of statement `statement` to portal `portal`, all parameters in text format
/// (`None` is SQL NULL), and every result column in `result_format` (0 text, 1 binary).
///
/// # Errors
/// A config error for more than 65,535 parameters or a value over 1 GiB.
pub fn bind<'a, I>(
    buf: &mut BytesMut,
    portal: &str,
    statement: &str,
    params: I,
    result_format: i16,
) -> Result<()>
where
    I: ExactSizeIterator<Item = Option<&'a [u8]>>,
{
    message(buf, b'B', |buf| {
        cstr(buf, portal.as_bytes(), "the portal name")?;
        cstr(buf, statement.as_bytes(), "the statement name")?;
        let n = u16::try_from(params.len()).map_err(|_| {
            Error::config(format!(
                "{} parameters exceed the protocol's limit of 65535",
                params.len()
            ))
        })?;
        buf.put_i16(0);
        buf.put_u16(n);
        for (i, value) in params.enumerate() {
            match value {
                None => buf.put_i32(-1),
                Some(v) => {
                    let len = i32::try_from(v.len()).map_err(|_| {
                        Error::config(format!("parameter ${} is larger than 2 GiB", i + 1))
                    })?;
                    buf.put_i32(len);
                    buf.put_slice(v);
                }
            }
        }
        buf.put_i16(1);
        buf.put_i16(result_format);
        Ok(())
    })
}

/// `Describe` of a portal (`b'P'`) or statement (`b'S'`).
///
/// # Errors
/// A config error when the name contains a NUL byte.
pub fn describe(buf: &mut BytesMut, kind: u8, name: &str) -> Result<()> {
    message(buf, b'D', |buf| {
        buf.put_u8(kind);
        cstr(buf, name.as_bytes(), "the portal name")
    })
}

/// `Execute` of `portal`, returning at most `max_rows` rows (0 means all).
///
/// # Errors
/// A config error when the name contains a NUL byte.
pub fn execute(buf: &mut BytesMut, portal: &str, max_rows: i32) -> Result<()> {
    message(buf, b'E', |buf| {
        cstr(buf, portal.as_bytes(), "the portal name")?;
        buf.put_i32(max_rows);
        Ok(())
    })
}

/// `Flush`: the server sends what it has produced so far (for example a RowDescription)
/// instead of holding it until its output buffer fills or a Sync arrives.
pub fn flush(buf: &mut BytesMut) {
    buf.put_slice(&[b'H', 0, 0, 0, 4]);
}

/// `Sync`: ends the extended-query cycle; the server answers with ReadyForQuery.
pub fn sync(buf: &mut BytesMut) {
    buf.put_slice(&[b'S', 0, 0, 0, 4]);
}

/// `Terminate`: the client is closing the connection.
pub fn terminate(buf: &mut BytesMut) {
    buf.put_slice(&[b'X', 0, 0, 0, 4]);
}

/// A simple `Query`.
///
/// # Errors
/// A config error when the query contains a NUL byte.
pub fn query(buf: &mut BytesMut, sql: &str) -> Result<()> {
    message(buf, b'Q', |buf| cstr(buf, sql.as_bytes(), "the query text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_and_terminate_are_five_bytes() {
        let mut buf = BytesMut::new();
        sync(&mut buf);
        terminate(&mut buf);
        assert_eq!(&buf[..], b"S\0\0\0\x04X\0\0\0\x04");
    }

    #[test]
    fn parse_backfills_length() {
        let mut buf = BytesMut::new();
        parse(&mut buf, "", "SELECT 1").unwrap();
        assert_eq!(&buf[..], b"P\0\0\0\x10\0SELECT 1\0\0\0");
    }

    #[test]
    fn nul_in_query_is_an_error_and_leaves_the_buffer_clean() {
        let mut buf = BytesMut::new();
        sync(&mut buf);
        let err = parse(&mut buf, "", "SELECT '\0'").unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
        assert_eq!(&buf[..], b"S\0\0\0\x04");
    }

    #[test]
    fn bind_encodes_null_and_text_params() {
        let mut buf = BytesMut::new();
        let params: [Option<&[u8]>; 2] = [Some(b"paid"), None];
        bind(&mut buf, "", "", params.into_iter(), 1).unwrap();
        let expected: &[u8] =
            b"B\0\0\0\x1a\0\0\0\0\0\x02\0\0\0\x04paid\xff\xff\xff\xff\0\x01\0\x01";
        assert_eq!(&buf[..], expected);
    }

    #[test]
    fn startup_lists_parameters_and_ends_with_nul() {
        let mut buf = BytesMut::new();
        startup(&mut buf, &[("user", "u")]).unwrap();
        assert_eq!(&buf[..], b"\0\0\0\x10\0\x03\0\0user\0u\0\0");
    }

    #[test]
    fn cancel_request_is_sixteen_bytes() {
        let mut buf = BytesMut::new();
        cancel_request(&mut buf, 7, &[1, 2, 3, 4]);
        assert_eq!(
            &buf[..],
            b"\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x07\x01\x02\x03\x04"
        );
    }
}
