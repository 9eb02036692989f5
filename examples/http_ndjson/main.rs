//! An HTTP endpoint that streams a view as NDJSON from a connection pool, in constant memory.
//!
//! ```text
//! cargo run --example http_ndjson                 # starts a throw-away Postgres
//! cargo run --example http_ndjson -- postgres://user@host/db
//! curl -N http://127.0.0.1:3000/ndjson/v_jw_example_order | head
//! ```
//! With a URL, the example creates (and keeps) a table `jw_example_orders` and a view
//! `v_jw_example_order` there. `JSONWIRE_HTTP_ADDR` sets the address (default 127.0.0.1:3000).

mod app;

use std::time::Duration;

use jsonwire::{Client, Config, Pool};
use jsonwire_testkit::PgServer;

const SETUP: &str = "
CREATE TABLE IF NOT EXISTS jw_example_orders (id bigint PRIMARY KEY, doc jsonb NOT NULL);
INSERT INTO jw_example_orders
SELECT i, jsonb_build_object(
    'id', i,
    'status', (ARRAY['paid', 'shipped', 'refunded'])[1 + i % 3],
    'total', round((i * 7.31)::numeric % 500, 2),
    'created_at', timestamptz '2026-01-01' + i * interval '1 minute',
    'items', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || i % 97, 'qty', 1 + i % 4)))
FROM generate_series(1, 100000) i
ON CONFLICT DO NOTHING;
CREATE OR REPLACE VIEW v_jw_example_order AS SELECT doc AS data FROM jw_example_orders;
";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the throw-away server alive until the end of main; it is removed on drop.
    let mut _server = None;
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            let server = PgServer::start()?;
            let url = server.url();
            _server = Some(server);
            url
        }
    };
    Client::connect(&url).await?.batch_execute(SETUP).await?;

    let pool = Pool::builder(&Config::parse(&url)?)
        .max_size(10)
        .wait_timeout(Duration::from_secs(5))
        .build()?;
    let app = app::router(app::App::new(pool, &["v_jw_example_order"]));

    let addr = std::env::var("JSONWIRE_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "serving http://{}/ndjson/v_jw_example_order (Ctrl-C stops)",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
