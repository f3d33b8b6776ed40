//! Event-stream answers over HTTP: a request answered as `text/event-stream`, its messages
//! (progress, requests to the client) first and its answer last, on a task of its own that
//! stops when the stream is dropped.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use tokio::sync::mpsc;

use super::Body;
use crate::protocol::sse;

/// An event-stream response around `body`.
pub(super) fn response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// An event stream carrying what `work` sends on its outbound channel (progress, requests to the
/// client), then the answer it returns. Dropping the stream (the client went away) drops `work`,
/// which cancels the request upstream.
pub(super) fn of<F, Fut>(work: F) -> Response<Body>
where
    F: FnOnce(mpsc::Sender<Vec<u8>>) -> Fut,
    Fut: std::future::Future<Output = Vec<u8>> + Send + 'static,
{
    let (task, rx) = spawn_answering(work);
    let stream = futures_util::stream::unfold((rx, AbortOnDrop(task)), |(mut rx, task)| async move {
        let message = rx.recv().await.filter(|m| !m.is_empty())?;
        let frame: Result<Frame<Bytes>, Infallible> = Ok(Frame::data(Bytes::from(sse::encode(&message, None))));
        Some((frame, (rx, task)))
    });
    response(BodyExt::boxed(StreamBody::new(stream)))
}

/// Runs `work` on its own task; its messages (progress, requests to the client), then its answer,
/// then `ANSWERED`, arrive on the receiver. The marker ends the stream even while a copy of the
/// sender lives on (a `per_client` upstream session keeps its client's latest link).
pub(super) fn spawn_answering<F, Fut>(work: F) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<Vec<u8>>)
where
    F: FnOnce(mpsc::Sender<Vec<u8>>) -> Fut,
    Fut: std::future::Future<Output = Vec<u8>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
    let answering = work(tx.clone());
    let task = tokio::spawn(async move {
        let answer = answering.await;
        if tx.send(answer).await.is_ok() {
            let _ = tx.send(ANSWERED).await;
        }
    });
    (task, rx)
}

/// Follows the answer on an answering channel: no message is empty.
const ANSWERED: Vec<u8> = Vec::new();

/// Aborts the request task when the response stream is dropped (the client disconnected).
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
