//! The authentication exchange as the server drives it: Authentication messages decoded from
//! arbitrary bytes, and SCRAM-SHA-256's server-first and server-final messages fed to the
//! client. It must refuse bad input with an error and never panic. (Whether a made-up
//! server-final message is refused is not asserted: libFuzzer's comparison tracing could in
//! principle learn the right signature, which the client must then accept.)
#![no_main]

use bytes::Bytes;
use jsonwire::proto::auth::{ChannelBinding, ScramSha256};
use jsonwire::proto::backend::Message;
use libfuzzer_sys::fuzz_target;

/// Iteration counts above this only make an input slow, not interesting.
fn cheap(server_first: &[u8]) -> bool {
    let text = String::from_utf8_lossy(server_first);
    text.split(',')
        .filter_map(|attr| attr.strip_prefix("i="))
        .all(|n| n.parse::<u32>().map_or(true, |n| n <= 64))
}

fuzz_target!(|data: &[u8]| {
    if let Some((&tag, body)) = data.split_first() {
        let _ = Message::decode(tag, Bytes::copy_from_slice(body));
        let _ = Message::decode(b'R', Bytes::copy_from_slice(body));
    }
    let mut parts = data.splitn(2, |&b| b == 0xff);
    let first = parts.next().unwrap_or_default();
    let last = parts.next().unwrap_or_default();
    if !cheap(first) {
        return;
    }
    let mut client = ScramSha256::new(
        "u",
        b"pencil",
        "rOprNGfwEbeRWgbNEkqO",
        ChannelBinding::Unsupported,
    );
    if client.handle_server_first(first).is_ok() {
        let _ = client.verify_server_final(last);
    } else {
        // After a refused server-first message the exchange is over.
        assert!(client.verify_server_final(last).is_err());
    }
});
