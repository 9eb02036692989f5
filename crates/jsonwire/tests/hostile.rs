//! Fake servers that send what a real one never does: truncated and out-of-order messages,
//! huge error fields, a FATAL before the close, a close at every byte of the startup. Each
//! must end in a clear error, never a panic or a hang. (Memory under such servers is measured
//! in `amplification.rs`, alone in its binary.)

mod common;

use std::time::Duration;

use common::fake::{conninfo, fake_server, jsonb_description, msg, query, row};
use jsonwire::{Client, ErrorKind};

#[tokio::test]
async fn huge_error_fields_are_capped() {
    let mut response = jsonb_description();
    let detail = "d".repeat(4 << 20);
    response.extend(msg(
        b'E',
        format!("SERROR\0VERROR\0C22000\0Mbad\0D{detail}\0\0").as_bytes(),
    ));
    response.extend(msg(b'Z', b"I"));
    let (_, err) = query(response, true).await;
    let err = err.unwrap();
    assert_eq!(err.code(), Some("22000"));
    let kept = err.db_error().unwrap().detail().unwrap();
    assert!(kept.len() < 65 * 1024, "{}", kept.len());
    assert!(kept.ends_with("more bytes]"));
}

#[tokio::test]
async fn truncated_and_out_of_order_messages_end_in_clear_errors() {
    let cases: Vec<(&str, Vec<u8>, ErrorKind)> = vec![
        (
            "a row before the description",
            row("{}"),
            ErrorKind::Protocol,
        ),
        (
            "ReadyForQuery before the description",
            msg(b'Z', b"I"),
            ErrorKind::Protocol,
        ),
        (
            "BindComplete between rows",
            [jsonb_description(), row("1"), msg(b'2', b"")].concat(),
            ErrorKind::Protocol,
        ),
        (
            "a description mid-rows",
            [jsonb_description(), row("1"), jsonb_description()].concat(),
            ErrorKind::Protocol,
        ),
        (
            "a row cut short, then EOF",
            [jsonb_description(), row("1"), row("[1,2,3]")[..9].to_vec()].concat(),
            ErrorKind::Closed,
        ),
        (
            "a header cut short, then EOF",
            [jsonb_description(), b"D\x00\x00".to_vec()].concat(),
            ErrorKind::Closed,
        ),
        (
            "a length below four",
            [jsonb_description(), b"D\x00\x00\x00\x02".to_vec()].concat(),
            ErrorKind::Protocol,
        ),
        (
            "a message longer than its body says",
            [jsonb_description(), msg(b'C', b"SELECT 1\0extra")].concat(),
            ErrorKind::Protocol,
        ),
        (
            "CommandComplete and EOF without ReadyForQuery",
            [jsonb_description(), row("1"), msg(b'C', b"SELECT 1\0")].concat(),
            ErrorKind::Closed,
        ),
    ];
    for (what, response, kind) in cases {
        let (rows, err) = query(response, false).await;
        let err = err.unwrap_or_else(|| panic!("{what}: a clean end after {rows:?}"));
        assert_eq!(err.kind(), kind, "{what}: {err}");
    }
}

#[tokio::test]
async fn a_fatal_before_the_close_is_the_error_mid_stream() {
    let mut response = jsonb_description();
    response.extend(row("1"));
    response.extend(msg(
        b'E',
        b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0",
    ));
    let (rows, err) = query(response, false).await;
    assert_eq!(rows, ["1"]);
    let err = err.unwrap();
    assert_eq!(err.code(), Some("57P01"), "{err}");
    assert!(err.to_string().contains("administrator command"), "{err}");
    assert!(err.is_fatal());
}

/// A startup transcript cut after every byte: each prefix, then a close. Every one must be a
/// connect error naming the host (or, for a cut inside a message that announces more, the
/// same), within the connect timeout. The transcripts: a trust login, an MD5 login (the client
/// answers the salt, then finds the server gone) and the start of a SCRAM exchange (the client
/// sends its first message).
#[tokio::test]
async fn a_server_closing_at_every_byte_of_the_startup_is_a_connect_error_naming_it() {
    let mut rest = msg(b'S', b"server_version\x0017.0\0");
    rest.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    rest.extend(msg(b'Z', b"I"));
    let ok = msg(b'R', &0i32.to_be_bytes());
    let mut trust = ok.clone();
    trust.extend(&rest);
    let mut md5 = msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]);
    md5.extend(&ok);
    md5.extend(&rest);
    let sasl = msg(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0");
    for (name, transcript) in [("trust", trust), ("md5", md5), ("scram", sasl)] {
        for cut in 0..transcript.len() {
            let port = fake_server(transcript[..cut].to_vec(), vec![], false).await;
            let started = std::time::Instant::now();
            let err = Client::connect(&format!("{} password=pw", conninfo(port)))
                .await
                .unwrap_err();
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{name} cut {cut}"
            );
            assert_eq!(err.kind(), ErrorKind::Connect, "{name} cut {cut}: {err}");
            assert!(
                err.to_string().contains(&format!("127.0.0.1:{port}")),
                "{name} cut {cut}: {err}"
            );
        }
    }
}
