//! Writes the wire bytes the instruction-count benchmarks decode into `OUT_DIR`, once: the
//! responses are deterministic (`benches/micro/fixtures.rs`), and building them under Callgrind
//! would cost minutes.

use std::path::Path;

#[path = "../../benches/micro/fixtures.rs"]
#[allow(dead_code, clippy::manual_is_multiple_of)]
mod fixtures;

/// Rows of the order result, as `v_test_100k`.
const ORDER_ROWS: u64 = 100_000;
/// Documents of the large result and the size of each.
const LARGE_DOCS: u64 = 100;
const LARGE_DOC_BYTES: usize = 100 << 10;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../benches/micro/fixtures.rs");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);
    let orders: Vec<Vec<u8>> = (0..ORDER_ROWS)
        .map(|i| fixtures::jsonb_text(&fixtures::order(i)))
        .collect();
    write(out, "orders_100k.wire", &fixtures::query_response(&orders));
    let large: Vec<Vec<u8>> = (0..LARGE_DOCS)
        .map(|i| fixtures::jsonb_text(&fixtures::customer(i, LARGE_DOC_BYTES)))
        .collect();
    write(
        out,
        "customers_100kib.wire",
        &fixtures::query_response(&large),
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    if std::fs::read(&path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
