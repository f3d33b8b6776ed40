//! WebSocket upstreams: one JSON-RPC message per text frame, subprotocol `mcp`, the configured
//! headers on the upgrade request, pings to keep the connection alive.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::UpstreamError;
use super::http_client::{header_map, root_cause};
use super::peer::{Linked, Peer};
use super::wire::Inbox;
use crate::model::Secret;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);

pub(super) async fn connect(
    name: &str,
    url: &url::Url,
    headers: &[(String, Secret)],
    inbox: Inbox,
) -> Result<Linked, UpstreamError> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| UpstreamError::Transport(name.into(), format!("WebSocket request for {url}: {e}")))?;
    request.headers_mut().extend(header_map(name, headers)?);
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("mcp"));
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await;
    let (ws, _) = match connected {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            return Err(UpstreamError::Unreachable(name.into(), format!("connect {url}: {}", root_cause(&e))));
        }
        Err(_) => return Err(UpstreamError::Unreachable(name.into(), format!("connect {url}: timed out"))),
    };
    let (mut sink, mut frames) = ws.split();
    let (peer, mut outbox) = Peer::new(name, inbox);
    let linked = Linked::new(peer.clone());

    let mut writer_closing = linked.closing();
    let writer = peer.clone();
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let (frame, message) = tokio::select! {
                m = outbox.recv() => match m {
                    Some(m) => (Message::Text(String::from_utf8_lossy(&m).into_owned().into()), Some(m)),
                    None => break,
                },
                _ = ping.tick() => (Message::Ping(Default::default()), None),
                _ = &mut writer_closing => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            };
            if sink.send(frame).await.is_err() {
                if let Some(message) = message {
                    writer.unsent(&message);
                }
                break;
            }
        }
        outbox.close();
        while let Ok(message) = outbox.try_recv() {
            writer.unsent(&message);
        }
    });

    let reader = peer.clone();
    let mut reader_closing = linked.closing();
    let upstream = name.to_string();
    tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                f = frames.next() => f,
                _ = &mut reader_closing => break,
            };
            match frame {
                Some(Ok(Message::Text(text))) => reader.receive(text.as_bytes()).await,
                Some(Ok(Message::Binary(_))) => tracing::warn!(upstream = %upstream, "ignored a binary frame"),
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(upstream = %upstream, error = %e, "WebSocket read failed");
                    if matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)) {
                        reader.drop_oversized();
                    }
                    break;
                }
            }
        }
        reader.mark_closed();
    });
    Ok(linked)
}
