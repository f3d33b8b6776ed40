//! How busy one connection is, so that a connection with nothing open on it is closed after
//! `serving.idle_timeout`. It matters for HTTP/2, whose keep-alive pings prove a client is there,
//! not that it needs the connection. A request counts until its response body has been sent, so
//! an open event stream keeps its connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::Response;
use hyper::body::{Frame, SizeHint};

use super::Body;

/// Looks per idle limit: a connection is closed after between one and 1.25 limits of idleness.
const LOOKS: u32 = 4;

/// One connection's requests: how many are open, and how many ever began. A request only
/// counts (two atomic additions, no clock, no wake-up); `idle_for` looks now and then.
#[derive(Default)]
pub(crate) struct Activity {
    open: AtomicUsize,
    begun: AtomicU64,
}

impl Activity {
    /// A request begins; it counts until the returned guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.begun.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Resolves once no request has been open for `limit` straight (at most a quarter more):
    /// it looks every quarter of `limit`; a quarter is quiet when the looks at both its ends
    /// found nothing open and nothing began in between, and four quiet quarters in a row make
    /// `limit`.
    pub(crate) async fn idle_for(&self, limit: Duration) {
        let every = (limit / LOOKS).max(Duration::from_millis(1));
        let mut looks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        looks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut quiet = 0;
        let mut last_begun = self.begun.load(Ordering::Relaxed);
        let mut was_idle = self.open.load(Ordering::Acquire) == 0;
        loop {
            looks.tick().await;
            let begun = self.begun.load(Ordering::Relaxed);
            let idle = self.open.load(Ordering::Acquire) == 0;
            quiet = if idle && was_idle && begun == last_begun { quiet + 1 } else { 0 };
            (last_begun, was_idle) = (begun, idle);
            if quiet == LOOKS {
                return;
            }
        }
    }
}

/// A request in progress on its connection.
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `response`, counting as `busy` until its body has been sent (or dropped).
pub(crate) fn until_sent(response: Response<Body>, busy: Busy) -> Response<Body> {
    response.map(|inner| Tracked { inner, _busy: busy }.boxed())
}

struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_after_the_last_request_ends_and_the_limit_passes() {
        let activity = Arc::new(Activity::default());
        let busy = activity.begin();
        let limit = Duration::from_secs(5);
        let idle = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle_for(limit).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!idle.is_finished(), "never idle while a request is open");
        drop(busy);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let again = activity.begin();
        drop(again);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!idle.is_finished(), "a request restarts the wait");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(idle.is_finished(), "idle once the limit (and at most a quarter more) passed with nothing open");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_ending_just_before_a_look_still_leaves_the_whole_limit() {
        let activity = Arc::new(Activity::default());
        let limit = Duration::from_secs(4);
        let idle = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle_for(limit).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = activity.begin();
        // Open at the look at 1 s, over before the one at 2 s: idle from 1.9 s.
        tokio::time::sleep(Duration::from_millis(1400)).await;
        drop(busy);
        tokio::time::sleep(Duration::from_millis(3600)).await;
        assert!(!idle.is_finished(), "3.6 s of idleness is less than the limit");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(idle.is_finished(), "closed within a quarter past the limit");
    }
}
