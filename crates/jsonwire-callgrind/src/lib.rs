//! The instruction-count tier of the jsonwire benchmarks: the client's CPU path on wire bytes,
//! with no server and no socket, counted by Callgrind (through gungraun), so that a change of a
//! few percent shows the same on a busy machine as on an idle one.
//!
//! `benches/callgrind.rs` measures what this library drives:
//!
//! - `decode_100k`: a 100,000-row response of ~450-byte order documents (as `v_test_100k`),
//!   framed and split into rows by jsonwire's row path (`RowDecoder`, `reserve_read`, reads of
//!   the default read size), each row handed out raw, parsed into `serde_json::Value`, or
//!   deserialized into the order struct (with `parse_json`, the stream's own parse), as
//!   `stream_raw`, `stream::<Value>` and `stream::<Order>` do;
//! - `large`: the same for a 10 MiB response of 100 customer documents of 100 KiB;
//! - `startup`: the client's side of a SCRAM-SHA-256 login, from the startup message through
//!   the server's messages (a recorded transcript) to the proof and the server's signature;
//! - `config`: `Config::parse` of three connection strings.
//!
//! The responses are built deterministically by `build.rs` from `benches/micro/fixtures.rs` in
//! the exact byte format the server sends (not captured from a server: a 45 MB capture is not
//! something to commit). The gate (`jsonwire-benchgate --callgrind`) compares the counts with
//! `benches/callgrind-baseline.json`.

use std::hint::black_box;

use bytes::Bytes;
use jsonwire::proto::rows::parse_json;
use serde::de::DeserializeOwned;

#[path = "../../../benches/micro/fixtures.rs"]
#[allow(dead_code, missing_docs, clippy::manual_is_multiple_of)]
pub mod fixtures;

#[path = "../../../benches/micro/rows.rs"]
#[allow(dead_code, missing_docs, clippy::manual_is_multiple_of)]
pub mod rows;

/// Rows of the order response.
pub const ORDER_ROWS: u64 = 100_000;
/// Documents of the large response.
pub const LARGE_DOCS: u64 = 100;

/// The order response of `build.rs`: ParseComplete … ReadyForQuery.
pub fn orders_wire() -> Bytes {
    Bytes::from_static(include_bytes!(concat!(
        env!("OUT_DIR"),
        "/orders_100k.wire"
    )))
}

/// The large-document response of `build.rs`.
pub fn customers_wire() -> Bytes {
    Bytes::from_static(include_bytes!(concat!(
        env!("OUT_DIR"),
        "/customers_100kib.wire"
    )))
}

/// How the rows are consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each row's `Bytes`, untouched.
    Raw,
    /// Parsed into `serde_json::Value`.
    Value,
    /// Deserialized into a struct.
    Typed,
}

/// What a decode saw: rows and JSON bytes.
pub type Seen = (u64, u64);

/// Decodes every row of `wire` as a stream in `mode` does; typed rows as `T`. The bytes arrive
/// in reads of the client's default read size, as from a socket that always has that much.
pub fn decode<T: DeserializeOwned>(wire: &[u8], mode: Mode) -> Seen {
    let chunk = *rows::READ_BUFFER_SIZE;
    let (mut n, mut bytes) = (0u64, 0u64);
    rows::drain_reads(wire, chunk, |row| {
        n += 1;
        bytes += row.len() as u64;
        match mode {
            Mode::Raw => {
                black_box(&row);
            }
            Mode::Value => {
                let v: serde_json::Value = parse_json(&row).expect("valid JSON");
                black_box(v);
                if cfg!(feature = "slowed-fixture") && n.is_multiple_of(20) {
                    let again: serde_json::Value = parse_json(&row).expect("JSON");
                    black_box(again);
                }
            }
            Mode::Typed => {
                let v: T = parse_json(&row).expect("a fixture document");
                black_box(v);
            }
        }
    });
    (n, bytes)
}

/// The client's side of a SCRAM-SHA-256 login against a recorded server (RFC 7677's example
/// exchange, framed as Postgres sends it): encodes the startup message, parses every server
/// message, computes the proof and checks the server's signature. Returns the messages read.
pub fn scram_login() -> usize {
    use jsonwire::proto::auth::{ChannelBinding, ScramSha256};
    use jsonwire::proto::backend::{Authentication, Message};
    use jsonwire::proto::frontend;

    let mut out = bytes::BytesMut::new();
    frontend::startup(
        &mut out,
        &[
            ("user", "user"),
            ("database", "shop"),
            ("client_encoding", "UTF8"),
            ("application_name", "jsonwire"),
        ],
    )
    .expect("encodable");
    let mut server = bytes::BytesMut::from(&login_transcript()[..]);
    let mut scram = None;
    let mut messages = 0;
    while let Some(msg) = Message::parse(&mut server, 1 << 30).expect("well-formed transcript") {
        messages += 1;
        out.clear();
        match msg {
            Message::Authentication(Authentication::Sasl(_)) => {
                // RFC 7677's user name, which its signatures cover (Postgres clients send "").
                let s =
                    ScramSha256::new("user", b"pencil", CLIENT_NONCE, ChannelBinding::Unsupported);
                frontend::sasl_initial_response(&mut out, "SCRAM-SHA-256", &s.client_first())
                    .expect("encodable");
                scram = Some(s);
            }
            Message::Authentication(Authentication::SaslContinue(data)) => {
                let s = scram.as_mut().expect("SASL started");
                let reply = s.handle_server_first(&data).expect("valid server-first");
                frontend::sasl_response(&mut out, &reply).expect("encodable");
            }
            Message::Authentication(Authentication::SaslFinal(data)) => {
                let s = scram.as_mut().expect("SASL started");
                s.verify_server_final(&data)
                    .expect("the server's signature");
            }
            Message::ReadyForQuery(_) => break,
            other => {
                black_box(other);
            }
        }
        black_box(&out);
    }
    messages
}

/// RFC 7677, section 3.
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// What a Postgres server sends during a SCRAM-SHA-256 login, with RFC 7677's exchange.
pub fn login_transcript() -> Vec<u8> {
    fn message(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
        out.push(tag);
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
    }
    fn auth(code: u32, data: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(data);
        body
    }
    let mut out = Vec::new();
    message(&mut out, b'R', &auth(10, b"SCRAM-SHA-256\0\0"));
    message(&mut out, b'R', &auth(11, SERVER_FIRST));
    message(&mut out, b'R', &auth(12, SERVER_FINAL));
    message(&mut out, b'R', &auth(0, b""));
    for (name, value) in [
        ("application_name", "jsonwire"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("default_transaction_read_only", "off"),
        ("in_hot_standby", "off"),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", "off"),
        ("server_encoding", "UTF8"),
        ("server_version", "17.10"),
        ("session_authorization", "user"),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "Etc/UTC"),
    ] {
        let body = [name.as_bytes(), b"\0", value.as_bytes(), b"\0"].concat();
        message(&mut out, b'S', &body);
    }
    let mut key = 4242i32.to_be_bytes().to_vec();
    key.extend_from_slice(&0x1234_5678i32.to_be_bytes());
    message(&mut out, b'K', &key);
    message(&mut out, b'Z', b"I");
    out
}

/// Connection strings applications pass, simple to elaborate.
pub const CONFIG_STRINGS: [&str; 3] = [
    "postgresql://app@localhost/shop",
    "postgresql://order%40export:s3cr%3At%2F%25@db1.eu-west.example.com:5433,\
db2.eu-west.example.com:5434,[fd00::12]:5435/orders%20eu?sslmode=require&connect_timeout=10\
&application_name=nightly%20export&target_session_attrs=read-write",
    "host=/var/run/postgresql,db2.example.com port=5432,5433 \
dbname='order history' user=app password='it\\'s a \\\\secret' \
application_name = 'nightly export' connect_timeout=10 sslmode=disable",
];

/// Parses every string of [`CONFIG_STRINGS`].
pub fn parse_configs() -> usize {
    CONFIG_STRINGS
        .iter()
        .map(|s| {
            let c = jsonwire::Config::parse(black_box(s)).expect("a valid string");
            c.get_hosts().len()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures::{Customer, Order};

    #[test]
    fn the_fixtures_decode_whole_in_every_mode() {
        let wire = orders_wire();
        let raw = decode::<Order>(&wire, Mode::Raw);
        assert_eq!(raw.0, ORDER_ROWS);
        assert_eq!(decode::<Order>(&wire, Mode::Typed), raw);
        let large = customers_wire();
        assert_eq!(decode::<Customer>(&large, Mode::Value).0, LARGE_DOCS);
        assert!(decode::<Customer>(&large, Mode::Raw).1 >= LARGE_DOCS * (100 << 10));
    }

    #[test]
    fn the_login_transcript_verifies_and_configs_parse() {
        assert_eq!(scram_login(), 4 + 13 + 1 + 1);
        assert_eq!(parse_configs(), 1 + 3 + 2);
    }
}
