//! The row decoder: the events it yields do not depend on how the bytes arrive (all at once,
//! or split at any point), it never panics, and a row is always a slice of the input.
#![no_main]

use bytes::BytesMut;
use jsonwire::proto::backend::Column;
use jsonwire::proto::rows::{RowDecoder, RowEvent};
use jsonwire::proto::JSONB_OID;
use libfuzzer_sys::fuzz_target;

fn decoder(binary: bool) -> RowDecoder {
    let column = Column {
        name: "data".into(),
        table_oid: 0,
        column_id: 0,
        type_oid: JSONB_OID,
        type_size: -1,
        type_modifier: -1,
        format: i16::from(binary),
    };
    RowDecoder::for_columns(&[column], 1 << 20).unwrap()
}

/// Every event as text, up to and including the first error or the end.
fn events(binary: bool, chunks: &[&[u8]]) -> Vec<String> {
    let mut d = decoder(binary);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match d.next(&mut buf) {
                Ok(RowEvent::NeedMore) => break,
                Ok(e @ RowEvent::Done { .. }) => {
                    out.push(format!("{e:?}"));
                    return out;
                }
                Ok(e) => out.push(format!("{e:?}")),
                Err(e) => {
                    out.push(format!("error: {e}"));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, wire)) = data.split_first() else {
        return;
    };
    let binary = control & 1 == 1;
    let split = usize::from(control >> 1) * wire.len() / 127;
    let split = split.min(wire.len());
    let whole = events(binary, &[wire]);
    let parts = events(binary, &[&wire[..split], &wire[split..]]);
    assert_eq!(whole, parts, "split at {split}");
});
