//! Streams typed orders and raw JSON from Postgres.
//!
//! ```text
//! cargo run --example stream_orders                 # starts a throw-away Postgres
//! cargo run --example stream_orders -- postgres://user@host/db
//! ```
//! With a URL, the example creates (and keeps) a table `jw_example_orders` and a view
//! `v_jw_example_order` there.

use jsonwire::Client;
use jsonwire_testkit::PgServer;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Order {
    id: i64,
    status: String,
    total: f64,
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    sku: String,
    qty: u32,
}

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

    let mut client = Client::connect(&url).await?;
    client.batch_execute(SETUP).await?;

    // Typed rows, filtered on the server with a bound parameter.
    let mut orders = client
        .query("v_jw_example_order")
        .filter("data->>'status' = $1")
        .bind("paid")
        .order_by("data->>'created_at' DESC")
        .limit(10_000)
        .stream::<Order>()
        .await?;
    let (mut count, mut revenue, mut units) = (0u64, 0.0, 0u64);
    while let Some(order) = orders.try_next().await? {
        count += 1;
        revenue += order.total;
        units += order.items.iter().map(|i| u64::from(i.qty)).sum::<u64>();
        if count == 1 {
            println!(
                "newest paid order: #{} ({}, first sku {})",
                order.id, order.status, order.items[0].sku
            );
        }
    }
    let stats = orders.stats();
    println!(
        "{count} paid orders, revenue {revenue:.2}, {units} units; first row after {:?}, all in {:?}",
        stats.time_to_first_row.unwrap_or_default(),
        stats.elapsed
    );
    drop(orders);

    // Raw JSON text, zero-copy: write every document of the view to a sink.
    let mut raw = client
        .sql("SELECT data FROM v_jw_example_order")
        .stream_raw()
        .await?;
    let mut bytes = 0;
    while let Some(json) = raw.try_next().await? {
        bytes += json.len();
    }
    let stats = raw.stats();
    println!(
        "raw: {} rows, {bytes} bytes of JSON in {:?} ({:.0} MB/s), read buffer peak {} KiB",
        stats.rows,
        stats.elapsed,
        bytes as f64 / 1e6 / stats.elapsed.as_secs_f64(),
        stats.buffer_high_water / 1024
    );
    Ok(())
}
