//! Message framing and decoding: whatever the bytes, `Message::parse` consumes exactly one
//! frame (`frame_len`, whether its body decodes or not) or nothing, never panics, and what it consumed plus what it left is the
//! input. libFuzzer's `-malloc_limit_mb` (set by `.ci/fuzz`) catches an allocation out of
//! proportion to the input.
#![no_main]

use bytes::BytesMut;
use jsonwire::proto::backend::{frame_len, Message};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut offset = 0;
    loop {
        let before = buf.len();
        let framed = frame_len(&data[offset..], MAX);
        match Message::parse(&mut buf, MAX) {
            Ok(Some(_)) => {
                let consumed = before - buf.len();
                assert_eq!(framed.unwrap(), Some(consumed));
                offset += consumed;
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "an incomplete frame consumed bytes");
                assert!(matches!(framed, Ok(None)) || matches!(framed, Ok(Some(n)) if n > before));
                break;
            }
            Err(_) => {
                // A bad header consumes nothing; a complete frame with a bad body is consumed.
                let consumed = before - buf.len();
                match framed {
                    Ok(Some(n)) => assert_eq!(consumed, n),
                    _ => assert_eq!(consumed, 0),
                }
                offset += consumed;
                break;
            }
        }
    }
    assert_eq!(&data[offset..], &buf[..], "consumed + rest != input");
});
