//! A hostile NegotiateProtocolVersion costs the client no memory. Alone in its binary, so
//! that the process's peak resident set belongs to this test.

use std::time::Duration;

use jsonwire::{Client, ErrorKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Peak resident set size in bytes (VmHWM), after optionally resetting it.
fn peak_rss(reset: bool) -> u64 {
    if reset {
        std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// 20 MiB of NUL bytes announced as 20 million unrecognized protocol options once cost 531 MiB
/// (a `String` per byte). Now the message is refused at its header.
#[tokio::test]
async fn a_20_mib_negotiate_protocol_version_is_refused_without_buffering_it() {
    const SIZE: usize = 20 << 20;
    let mut message = vec![b'v'];
    message.extend_from_slice(&((SIZE + 4) as u32).to_be_bytes());
    message.extend_from_slice(&0x30000i32.to_be_bytes());
    message.extend_from_slice(&((SIZE - 8) as i32).to_be_bytes());
    message.resize(SIZE + 5, 0);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut startup = [0u8; 512];
        let _ = sock.read(&mut startup).await.unwrap();
        // The client hangs up part way; the write error is expected.
        let _ = sock.write_all(&message).await;
    });
    let base = peak_rss(true);
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        Client::connect(&format!(
            "host=127.0.0.1 port={port} user=u sslmode=disable max_protocol_version=latest"
        )),
    )
    .await
    .unwrap()
    .unwrap_err();
    let growth = peak_rss(false).saturating_sub(base);
    server.abort();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    // The 20 MiB message itself lives in this test's buffer (allocated before the reset).
    assert!(growth < 4 << 20, "peak RSS grew by {growth} bytes");
}
