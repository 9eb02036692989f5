//! The HTTP side of the example: one route that streams a view's rows as NDJSON from the pool.
//! Kept apart from `main.rs` so that the workspace's test (`tests/http_example.rs`) serves the
//! same router.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::{BufMut as _, Bytes, BytesMut};
use jsonwire::{ErrorKind, Pool, RawStream};

/// Rows read from the socket per body chunk, and their size cap: a response holds one chunk
/// and the connection's read buffer at a time, whatever the view's size.
const CHUNK_ROWS: usize = 1024;
const CHUNK_BYTES: usize = 64 * 1024;

/// What the handlers share: the pool, and the views the endpoint may serve.
#[derive(Clone)]
pub struct App {
    pool: Pool,
    views: Arc<[String]>,
}

impl App {
    /// An app serving `views` (and nothing else) from `pool`.
    pub fn new(pool: Pool, views: &[&str]) -> App {
        App {
            pool,
            views: views.iter().map(|v| (*v).to_owned()).collect(),
        }
    }
}

/// `GET /ndjson/{view}`: every row of the view, one JSON document per line.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/ndjson/{view}", get(ndjson))
        .with_state(app)
}

async fn ndjson(State(app): State<App>, Path(view): Path<String>) -> Response {
    if !app.views.contains(&view) {
        return (StatusCode::NOT_FOUND, "no such view\n").into_response();
    }
    // The stream owns a pooled connection, so it can be the body: when the client goes away
    // mid-body, hyper drops the body, which cancels the query on the server and gives the
    // connection back to the pool once it is drained.
    match app.pool.query(&view).stream_raw().await {
        Ok(rows) => (
            [(header::CONTENT_TYPE, "application/x-ndjson")],
            Body::from_stream(lines(rows)),
        )
            .into_response(),
        Err(e) if e.kind() == ErrorKind::PoolTimeout => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The rows as body chunks: every row already received (up to [`CHUNK_ROWS`] rows and about
/// [`CHUNK_BYTES`]), each followed by a newline. An error after the first chunk ends the body
/// early, which the client sees as a truncated response.
fn lines(
    rows: RawStream<Pool>,
) -> impl futures_util::Stream<Item = jsonwire::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(rows, |mut rows| async move {
        let Some(chunk) = rows.next_chunk(CHUNK_ROWS, CHUNK_BYTES).await? else {
            return Ok(None);
        };
        let len = chunk.iter().map(|row| row.len() + 1).sum();
        let mut out = BytesMut::with_capacity(len);
        for row in chunk {
            out.put_slice(&row);
            out.put_u8(b'\n');
        }
        Ok(Some((out.freeze(), rows)))
    })
}
