//! A million rows through the client with flat memory. Alone in its binary, so that the
//! process's peak resident set belongs to this test.

mod common;

/// Peak resident set size in bytes (VmHWM), after optionally resetting it.
fn peak_rss(reset: bool) -> u64 {
    if reset {
        // "5" resets the peak RSS counter of this process (proc(5), /proc/pid/clear_refs).
        std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

async fn stream_rows(c: &mut jsonwire::Client, n: u64) -> (u64, u64, jsonwire::Stats) {
    let sql = format!(
        "SELECT jsonb_build_object('id', i, 'name', 'customer ' || i, 'note', repeat('é', 100), 'tags', jsonb_build_array(i % 7, i % 11)) \
         FROM (SELECT generate_series(1, {n}) AS i) s"
    );
    let base = peak_rss(true);
    let mut rows = c.sql(&sql).stream_raw().await.unwrap();
    let mut count = 0;
    while let Some(row) = rows.try_next().await.unwrap() {
        assert!(row.starts_with(b"{"));
        count += 1;
    }
    let growth = peak_rss(false).saturating_sub(base);
    (count, growth, rows.stats())
}

#[tokio::test]
async fn a_million_rows_use_no_more_memory_than_ten_thousand() {
    let mut c = common::client().await;
    let (small_rows, small_growth, _) = stream_rows(&mut c, 10_000).await;
    let (rows, growth, stats) = stream_rows(&mut c, 1_000_000).await;
    assert_eq!(small_rows, 10_000);
    assert_eq!(rows, 1_000_000);
    assert!(stats.bytes > 250_000_000, "{stats:?}");
    // The result is ~300 MB; the client keeps one read buffer. Allow generous slack for the
    // allocator and the runtime, far below anything that grows with the result.
    assert!(
        growth < 16 << 20,
        "peak RSS grew by {growth} bytes over 1M rows ({} bytes over 10k)",
        small_growth
    );
    assert!(stats.buffer_high_water <= 1 << 20, "{stats:?}");
}
