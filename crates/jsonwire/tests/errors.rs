//! What a user reads when something fails: each error says its context once, the cause is its
//! `source()`, and the chain an error reporter prints (anyhow's `{:#}`) holds every part once.

mod common;

use std::error::Error as _;

use common::{chain, client, server};
use jsonwire::{Client, ErrorKind};

/// Every message in `err`'s chain appears exactly once in the rendered chain, which is also
/// what `{:#}` prints.
fn assert_each_part_once(err: &jsonwire::Error) -> String {
    let rendered = chain(err);
    assert_eq!(format!("{err:#}"), rendered);
    let mut part: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(p) = part {
        let text = p.to_string();
        assert!(!text.is_empty(), "an empty message in {rendered:?}");
        assert_eq!(
            rendered.matches(&text).count(),
            1,
            "{text:?} is said more than once in {rendered:?}"
        );
        part = p.source();
    }
    rendered
}

#[tokio::test]
async fn a_refused_connection_names_the_address_and_the_os_error_is_the_source() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Client::connect(&format!("host=127.0.0.1 port={port} user=u"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert_eq!(
        err.to_string(),
        format!("could not connect to 127.0.0.1:{port}")
    );
    let io = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    let rendered = assert_each_part_once(&err);
    assert!(rendered.ends_with(&io.to_string()), "{rendered}");
}

#[tokio::test]
async fn a_tls_failure_says_which_check_failed_once_and_keeps_the_tls_error_as_source() {
    let s = server();
    let files = s.tls().expect("the test server runs with ssl=on");
    let err = Client::connect(&format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        s.port(),
        files.unknown_ca_cert.display()
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert!(err.to_string().contains("unknown CA"), "{err:#}");
    let tls = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(|io| io.get_ref())
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .expect("the rustls error is behind the source");
    let rendered = assert_each_part_once(&err);
    assert!(rendered.contains(&tls.to_string()), "{rendered}");
}

#[tokio::test]
async fn a_decode_error_names_the_row_and_the_serde_error_is_the_source() {
    let mut c = client().await;
    let mut rows = c
        .sql("SELECT to_jsonb(1) AS data UNION ALL SELECT to_jsonb('two'::text)")
        .stream::<i64>()
        .await
        .unwrap();
    assert_eq!(rows.try_next().await.unwrap(), Some(1));
    let err = rows.try_next().await.unwrap_err();
    assert_eq!((err.kind(), err.row()), (ErrorKind::Decode, Some(2)));
    assert_eq!(
        err.to_string(),
        "row 2: invalid JSON for the requested type"
    );
    let serde = err
        .source()
        .and_then(|s| s.downcast_ref::<serde_json::Error>())
        .expect("the serde_json::Error is the source");
    let rendered = assert_each_part_once(&err);
    assert!(rendered.ends_with(&serde.to_string()), "{rendered}");
}

#[tokio::test]
async fn a_server_error_shows_severity_sqlstate_message_and_detail_once() {
    let mut c = client().await;
    let err = c
        .sql("SELECT 'x'::jsonb AS data")
        .stream_raw()
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Server, Some("22P02")));
    assert_eq!(
        err.to_string(),
        "ERROR 22P02: invalid input syntax for type json\nDETAIL: Token \"x\" is invalid."
    );
    assert!(err.source().is_none());
    assert_each_part_once(&err);

    let s = server();
    let err = Client::connect(&format!(
        "host={} port={} user=postgres dbname=no_such_db",
        s.host(),
        s.port()
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("3D000"), "{err:#}");
    assert_eq!(
        err.to_string(),
        "FATAL 3D000: database \"no_such_db\" does not exist"
    );
    assert_each_part_once(&err);
}
