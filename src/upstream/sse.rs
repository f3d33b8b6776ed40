//! Legacy HTTP+SSE upstreams (the 2024-11-05 transport): a GET opens the event stream, whose
//! first `endpoint` event names where to POST messages; answers come back on the stream.

use std::time::Duration;

use super::UpstreamError;
use super::http_client::{HttpClient, SendError, uri};
use super::peer::{Linked, Peer};
use super::wire::Inbox;
use crate::model::Secret;
use crate::protocol::sse;

/// Longest wait for the stream to name its message endpoint.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn connect(
    name: &str,
    url: &url::Url,
    headers: &[(String, Secret)],
    inbox: Inbox,
) -> Result<Linked, UpstreamError> {
    let client = HttpClient::new(name, headers)?;
    let unreachable = |e: String| UpstreamError::Unreachable(name.into(), format!("GET {url}: {e}"));
    let mut stream = client
        .get(&uri(name, url)?)
        .header(hyper::header::ACCEPT, hyper::header::HeaderValue::from_static("text/event-stream"))
        .send()
        .await
        .map_err(|e: SendError| unreachable(e.to_string()))?;
    if !stream.status().is_success() {
        return Err(UpstreamError::Transport(name.into(), format!("GET {url}: HTTP {}", stream.status())));
    }
    let mut decoder = sse::Decoder::default();
    let mut early = Vec::new();
    let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, async {
        loop {
            let chunk = stream.chunk().await.map_err(unreachable)?.ok_or_else(|| {
                UpstreamError::Transport(name.into(), "the event stream ended before naming its endpoint".into())
            })?;
            let events = decoder.feed(&chunk);
            if decoder.too_large {
                return Err(UpstreamError::Transport(name.into(), "an event over 64 MiB before the endpoint".into()));
            }
            for event in events {
                if event.event.as_deref() == Some("endpoint") {
                    return url.join(event.data.trim()).map_err(|e| {
                        UpstreamError::Transport(name.into(), format!("bad endpoint {:?}: {e}", event.data))
                    });
                }
                early.push(event);
            }
        }
    })
    .await
    .map_err(|_| UpstreamError::Transport(name.into(), "the event stream named no endpoint in time".into()))??;

    let (peer, mut outbox) = Peer::new(name, inbox);
    let linked = Linked::new(peer.clone());

    // Writer: each message is one POST, in order; the answers arrive on the stream.
    let mut writer_closing = linked.closing();
    let upstream = name.to_string();
    let post_to = uri(name, &endpoint)?;
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                m = outbox.recv() => match m { Some(m) => m, None => break },
                _ = &mut writer_closing => break,
            };
            let sent = client
                .post(&post_to)
                .header(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"))
                .body(message)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(upstream = %upstream, status = %r.status(), "the message endpoint refused a message")
                }
                Err(e) => tracing::warn!(upstream = %upstream, error = %e, "posting a message failed"),
            }
        }
    });

    let reader = peer.clone();
    let upstream_name = name.to_string();
    let mut reader_closing = linked.closing();
    tokio::spawn(async move {
        for event in early {
            reader.receive(event.data.as_bytes()).await;
        }
        loop {
            let chunk = tokio::select! {
                c = stream.chunk() => c,
                _ = &mut reader_closing => break,
            };
            let Ok(Some(chunk)) = chunk else { break };
            for event in decoder.feed(&chunk) {
                if matches!(event.event.as_deref(), None | Some("message")) {
                    reader.receive(event.data.as_bytes()).await;
                }
            }
            if decoder.too_large {
                tracing::warn!(upstream = %upstream_name, "an event over 64 MiB; dropping the stream");
                reader.drop_oversized();
                break;
            }
        }
        reader.mark_closed();
    });
    tracing::debug!(upstream = %name, %endpoint, "legacy SSE session opened");
    Ok(linked)
}
