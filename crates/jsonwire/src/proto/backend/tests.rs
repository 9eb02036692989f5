use bytes::{BufMut, BytesMut};

use super::*;
use crate::error::ErrorKind;

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn data_row(value: Option<&[u8]>) -> Vec<u8> {
    let mut body = vec![0, 1];
    match value {
        Some(v) => {
            body.extend_from_slice(&(v.len() as i32).to_be_bytes());
            body.extend_from_slice(v);
        }
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    frame(b'D', &body)
}

/// A realistic response to Parse/Bind/Describe/Execute/Sync, with asynchronous messages mixed in.
fn query_response() -> Vec<u8> {
    let mut wire = Vec::new();
    wire.extend(frame(b'1', b""));
    wire.extend(frame(b'2', b""));
    let mut desc = vec![0, 1];
    desc.extend_from_slice(b"data\0");
    desc.extend_from_slice(&0u32.to_be_bytes());
    desc.extend_from_slice(&0i16.to_be_bytes());
    desc.extend_from_slice(&3802u32.to_be_bytes());
    desc.extend_from_slice(&(-1i16).to_be_bytes());
    desc.extend_from_slice(&(-1i32).to_be_bytes());
    desc.extend_from_slice(&1i16.to_be_bytes());
    wire.extend(frame(b'T', &desc));
    wire.extend(data_row(Some(b"\x01{\"a\": 1}")));
    wire.extend(frame(b'N', b"SNOTICE\0VNOTICE\0C00000\0Mhello\0\0"));
    wire.extend(data_row(None));
    wire.extend(frame(b'S', b"application_name\0x\0"));
    wire.extend(data_row(Some("\x01{\"é\": \"\\u0000\"}".as_bytes())));
    wire.extend(frame(b'C', b"SELECT 3\0"));
    wire.extend(frame(b'Z', b"I"));
    wire
}

fn parse_all(chunks: &[&[u8]]) -> Vec<Message> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.put_slice(chunk);
        while let Some(m) = Message::parse(&mut buf, 1 << 30).unwrap() {
            out.push(m);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    out
}

#[test]
fn split_at_every_byte_yields_the_same_messages() {
    let wire = query_response();
    let whole = parse_all(&[&wire]);
    assert_eq!(whole.len(), 10);
    for cut in 0..=wire.len() {
        assert_eq!(
            parse_all(&[&wire[..cut], &wire[cut..]]),
            whole,
            "cut at {cut}"
        );
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(parse_all(&bytes), whole);
}

#[test]
fn incomplete_message_leaves_buffer_untouched() {
    let wire = data_row(Some(b"{}"));
    let mut buf = BytesMut::from(&wire[..wire.len() - 1]);
    assert_eq!(Message::parse(&mut buf, 1024).unwrap(), None);
    assert_eq!(buf.len(), wire.len() - 1);
}

#[test]
fn data_row_single_value_and_null() {
    let mut buf = BytesMut::from(&data_row(Some(b"[1,2]"))[..]);
    buf.put_slice(&data_row(None));
    let Some(Message::DataRow(row)) = Message::parse(&mut buf, 1024).unwrap() else {
        panic!()
    };
    assert_eq!(
        row.into_single_value().unwrap().as_deref(),
        Some(&b"[1,2]"[..])
    );
    let Some(Message::DataRow(row)) = Message::parse(&mut buf, 1024).unwrap() else {
        panic!()
    };
    assert_eq!(row.into_single_value().unwrap(), None);
}

#[test]
fn data_row_with_two_columns_is_not_a_single_value() {
    let row = DataRow::new(Bytes::from_static(b"\0\x02\0\0\0\x01a\xff\xff\xff\xff"));
    assert_eq!(
        row.values().unwrap(),
        vec![Some(Bytes::from_static(b"a")), None]
    );
    let err = row.into_single_value().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
}

#[test]
fn data_row_with_a_lying_length_is_a_protocol_error() {
    let row = DataRow::new(Bytes::from_static(b"\0\x01\0\0\0\x09abc"));
    assert_eq!(
        row.clone().into_single_value().unwrap_err().kind(),
        ErrorKind::Protocol
    );
    assert_eq!(row.values().unwrap_err().kind(), ErrorKind::Protocol);
}

#[test]
fn oversized_message_is_refused_before_it_arrives() {
    let mut buf = BytesMut::from(&b"D\x7f\xff\xff\xff"[..]);
    let err = Message::parse(&mut buf, 1 << 20).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}

#[test]
fn length_below_four_is_a_protocol_error() {
    let mut buf = BytesMut::from(&b"Z\0\0\0\x02"[..]);
    assert_eq!(
        Message::parse(&mut buf, 1024).unwrap_err().kind(),
        ErrorKind::Protocol
    );
}

#[test]
fn unknown_message_type_is_a_protocol_error() {
    let mut buf = BytesMut::from(&frame(b'!', b"")[..]);
    let err = Message::parse(&mut buf, 1024).unwrap_err();
    assert!(
        err.to_string()
            .contains("unexpected backend message type '!'"),
        "{err}"
    );
}

#[test]
fn truncated_bodies_are_protocol_errors_not_panics() {
    for (tag, body) in [
        (b'R', &b"\0\0"[..]),
        (b'R', b"\0\0\0\x05\x01"),
        (b'K', b"\0\0\0\x01"),
        (b'T', b"\0\x01name"),
        (b'T', b"\0\x01name\0\0\0"),
        (b'S', b"name\0value"),
        (b'E', b"Mmessage"),
        (b'A', b"\0\0"),
        (b'Z', b""),
        (b'C', b"SELECT 1"),
        (b't', b"\0\x02\0\0\0\x01"),
    ] {
        let mut buf = BytesMut::from(&frame(tag, body)[..]);
        let err = Message::parse(&mut buf, 1024).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{}: {err}", tag as char);
    }
}

#[test]
fn error_response_keeps_every_field() {
    let body = b"SERROR\0VERROR\0C22012\0Mdivision by zero\0Dsome detail\0Hsome hint\0P17\0Fint.c\0L841\0Rint4div\0\0";
    let mut buf = BytesMut::from(&frame(b'E', body)[..]);
    let Some(Message::ErrorResponse(e)) = Message::parse(&mut buf, 1024).unwrap() else {
        panic!()
    };
    assert_eq!(e.severity(), "ERROR");
    assert_eq!(e.code(), "22012");
    assert_eq!(e.message(), "division by zero");
    assert_eq!(e.detail(), Some("some detail"));
    assert_eq!(e.hint(), Some("some hint"));
    assert_eq!(e.position(), Some(17));
    assert_eq!(e.line(), Some(841));
    assert_eq!(e.routine(), Some("int4div"));
}

#[test]
fn authentication_requests() {
    let cases: [(&[u8], Authentication); 6] = [
        (b"\0\0\0\0", Authentication::Ok),
        (b"\0\0\0\x03", Authentication::CleartextPassword),
        (b"\0\0\0\x05abcd", Authentication::Md5Password(*b"abcd")),
        (
            b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
            Authentication::Sasl(vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]),
        ),
        (
            b"\0\0\0\x0br=abc",
            Authentication::SaslContinue(Bytes::from_static(b"r=abc")),
        ),
        (b"\0\0\0\x07", Authentication::Unsupported(7)),
    ];
    for (body, expected) in cases {
        let mut buf = BytesMut::from(&frame(b'R', body)[..]);
        assert_eq!(
            Message::parse(&mut buf, 1024).unwrap(),
            Some(Message::Authentication(expected))
        );
    }
}

#[test]
fn backend_key_data_does_not_pin_the_read_buffer() {
    let mut buf = BytesMut::with_capacity(4096);
    buf.put_slice(&frame(b'K', &[0, 0, 0, 7, 1, 2, 3, 4]));
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + 4096;
    let Some(Message::BackendKeyData { pid, secret }) = Message::parse(&mut buf, 1024).unwrap()
    else {
        panic!()
    };
    assert_eq!((pid, &secret[..]), (7, &[1, 2, 3, 4][..]));
    assert!(
        !range.contains(&(secret.as_ptr() as usize)),
        "the key is a slice of the read buffer"
    );
}

#[test]
fn a_long_sasl_list_is_refused_not_stored() {
    let mut body = 10i32.to_be_bytes().to_vec();
    for _ in 0..100_000 {
        body.extend_from_slice(b"a\0");
    }
    body.push(0);
    let err = Message::decode(b'R', body.into()).unwrap_err();
    assert!(
        err.to_string().contains("more than 16 SASL mechanisms"),
        "{err}"
    );
    let mut body = 10i32.to_be_bytes().to_vec();
    body.extend_from_slice(b"SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0");
    assert!(matches!(
        Message::decode(b'R', body.into()).unwrap(),
        Message::Authentication(Authentication::Sasl(m)) if m.len() == 2
    ));
}

#[test]
fn error_fields_are_capped_with_a_note_of_what_was_cut() {
    let detail = "é".repeat(MAX_FIELD_LEN); // twice the cap in bytes
    let body = format!("SERROR\0C22000\0Mshort\0D{detail}\0\0");
    let Message::ErrorResponse(e) = Message::decode(b'E', body.into_bytes().into()).unwrap() else {
        panic!()
    };
    assert_eq!(e.message(), "short");
    let kept = e.detail().unwrap();
    assert!(kept.len() < MAX_FIELD_LEN + 64, "{}", kept.len());
    assert!(
        kept.ends_with(&format!("… [{} more bytes]", MAX_FIELD_LEN)),
        "{}",
        &kept[kept.len() - 40..]
    );
    assert!(kept.starts_with("éé"));
}

#[test]
fn a_parameter_description_announcing_more_types_than_it_holds_reserves_nothing_for_them() {
    let err = Message::decode(b't', vec![0xff, 0xff].into()).unwrap_err();
    assert!(err.to_string().contains("body ends early"), "{err}");
}
