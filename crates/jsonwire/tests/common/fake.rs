//! Fake servers for the hostile-bytes tests: a startup transcript, then a scripted response.

use std::time::Duration;

use jsonwire::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

pub fn ready_session() -> Vec<u8> {
    let mut v = msg(b'R', &0i32.to_be_bytes());
    v.extend(msg(b'S', b"server_version\x0017.0\0"));
    v.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
    v.extend(msg(b'Z', b"I"));
    v
}

pub fn jsonb_description() -> Vec<u8> {
    let mut body = vec![0, 1];
    body.extend_from_slice(b"data\0");
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&3802u32.to_be_bytes());
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1]);
    let mut v = msg(b'1', b"");
    v.extend(msg(b'2', b""));
    v.extend(msg(b'T', &body));
    v
}

pub fn row(json: &str) -> Vec<u8> {
    let mut body = vec![0, 1];
    body.extend_from_slice(&(json.len() as i32 + 1).to_be_bytes());
    body.push(1);
    body.extend_from_slice(json.as_bytes());
    msg(b'D', &body)
}

/// Accepts one connection: sends `startup` after the startup packet, then `response` after
/// the query, then closes (or, with `linger`, waits for the client to close first).
pub async fn fake_server(startup: Vec<u8>, response: Vec<u8>, linger: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap_or(0);
        // sslmode=prefer asks for TLS first; this server has none.
        if buf[..n] == [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f] {
            let _ = sock.write_all(b"N").await;
            let _ = sock.read(&mut buf).await;
        }
        if sock.write_all(&startup).await.is_err() {
            return;
        }
        if !response.is_empty() {
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(&response).await;
        }
        if linger {
            while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
        }
    });
    port
}

pub fn conninfo(port: u16) -> String {
    format!("host=127.0.0.1 port={port} user=x connect_timeout=10")
}

/// Runs one query against a fake server whose response is `response`, and returns the rows
/// and the error that ended the stream (`None` for a clean end), bounded by 10 s.
pub async fn query(response: Vec<u8>, linger: bool) -> (Vec<String>, Option<jsonwire::Error>) {
    let port = fake_server(ready_session(), response, linger).await;
    let mut c = Client::connect(&conninfo(port)).await.unwrap();
    let work = async {
        let mut rows = match c.sql("SELECT data FROM t").stream_raw().await {
            Ok(rows) => rows,
            Err(e) => return (vec![], Some(e)),
        };
        let mut got = vec![];
        loop {
            match rows.try_next().await {
                Ok(Some(r)) => got.push(String::from_utf8(r.to_vec()).unwrap()),
                Ok(None) => return (got, None),
                Err(e) => return (got, Some(e)),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("the client hung")
}
