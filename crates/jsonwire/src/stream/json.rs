//! [`JsonStream`]: rows deserialized with serde, on top of [`RawStream`].

use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::engine::Stats;
use super::raw::RawStream;
use crate::error::{Error, Result};
use crate::proto::rows::parse_json;

/// A stream of rows deserialized into `T` with serde_json (`serde_json::Value` or any
/// `DeserializeOwned` type), over the same row engine as [`RawStream`].
///
/// A row that does not decode yields an [`ErrorKind::Decode`](crate::ErrorKind::Decode)
/// error naming its ordinal ([`Error::row`]); the stream continues with the next row.
pub struct JsonStream<H, T> {
    raw: RawStream<H>,
    _type: PhantomData<fn() -> T>,
}

impl<H, T: serde::de::DeserializeOwned> JsonStream<H, T> {
    pub(crate) fn new(raw: RawStream<H>) -> JsonStream<H, T> {
        JsonStream {
            raw,
            _type: PhantomData,
        }
    }

    /// Figures about this stream so far.
    pub fn stats(&self) -> Stats {
        self.raw.stats()
    }

    /// The next row, or `None` at the end.
    ///
    /// # Errors
    /// As [`RawStream::try_next`], plus [`ErrorKind::Decode`](crate::ErrorKind::Decode) for
    /// a row that does not decode.
    pub async fn try_next(&mut self) -> Result<Option<T>> {
        poll_fn(|cx| self.poll_decoded(cx)).await.transpose()
    }

    /// Cancels the query; see [`RawStream::cancel`].
    ///
    /// # Errors
    /// As [`RawStream::cancel`].
    pub async fn cancel(self) -> Result<()> {
        self.raw.cancel().await
    }

    /// The underlying raw stream.
    pub fn into_raw(self) -> RawStream<H> {
        self.raw
    }

    fn poll_decoded(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        self.raw.poll_row(cx, true).map(|item| {
            item.map(|row| {
                let row = row?;
                parse_json(&row).map_err(|e| Error::decode(self.raw.rows(), e))
            })
        })
    }
}

impl<H: Unpin, T: serde::de::DeserializeOwned> Stream for JsonStream<H, T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_decoded(cx)
    }
}

impl<H, T> std::fmt::Debug for JsonStream<H, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonStream")
            .field("type", &std::any::type_name::<T>())
            .field("raw", &self.raw)
            .finish()
    }
}
