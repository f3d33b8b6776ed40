//! WebSocket serving: `GET /ws` (or `/servers/<name>/ws`) upgrades to a WebSocket carrying one
//! JSON-RPC message per text frame, subprotocol `mcp` when offered. The connection is the session.
//! Pings keep it alive; errors close it with the matching close code.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::conversation::Conversation;
use super::http::{admit, header_has, status};
use super::{Body, ServeContext, empty};
use crate::session::{Binding, Caller};

/// A ping goes out this often; a peer that stops answering is dropped by TCP keep-alive or the next write.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Messages queued for a client that is not reading before its requests wait.
const QUEUE: usize = 256;

/// Answers the upgrade request and serves the WebSocket once the upgrade completes.
pub(crate) async fn upgrade(
    ctx: Arc<ServeContext>,
    virtual_server: &str,
    peer: std::net::SocketAddr,
    mut request: Request<Incoming>,
) -> Response<Body> {
    // Credentials are checked at the upgrade; the connection is then the caller's.
    let (snapshot, caller) = match admit(&ctx, virtual_server, &request, peer, Binding::WebSocket).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let headers = request.headers();
    let is_upgrade = request.method() == Method::GET
        && headers.get(UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && headers
            .get(CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"));
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY).filter(|_| is_upgrade) else {
        let mut r = status(StatusCode::UPGRADE_REQUIRED);
        r.headers_mut().insert(UPGRADE, HeaderValue::from_static("websocket"));
        return r;
    };
    if headers.get(SEC_WEBSOCKET_VERSION).is_none_or(|v| v != "13") {
        let mut r = status(StatusCode::UPGRADE_REQUIRED);
        r.headers_mut().insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return r;
    }
    let accept = derive_accept_key(key.as_bytes());
    let offers_mcp = header_has(headers.get(SEC_WEBSOCKET_PROTOCOL), "mcp");
    let limit = snapshot.model.serving.max_body_bytes;
    let on_upgrade = hyper::upgrade::on(&mut request);
    let server = virtual_server.to_string();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default().max_message_size(Some(limit)).max_frame_size(Some(limit));
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                serve(ctx, server, caller, ws).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).expect("base64 is a valid header value"));
    if offers_mcp {
        h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mcp"));
    }
    r
}

async fn serve<S>(ctx: Arc<ServeContext>, virtual_server: String, caller: Caller, ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tracing::info!(%virtual_server, "WebSocket client connected");
    let (mut sink, mut frames) = ws.split();
    let (out, mut outbox) = mpsc::channel::<Vec<u8>>(QUEUE);
    let (close_tx, mut close_rx) = mpsc::channel::<CloseFrame>(1);
    // The writer owns the sink, so a client that does not read slows only its own requests.
    let mut shutting_down = ctx.shutting_down.clone();
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let frame = tokio::select! {
                // A close decided by the reader goes out before anything else, even when the queue has ended.
                biased;
                close = close_rx.recv() => {
                    let _ = sink.send(Message::Close(close)).await;
                    break;
                }
                m = outbox.recv() => match m {
                    Some(m) => Message::Text(String::from_utf8_lossy(&m).into_owned().into()),
                    None => break,
                },
                _ = ping.tick() => Message::Ping(Default::default()),
                _ = async { let _ = shutting_down.wait_for(|s| *s).await; } => {
                    let going_away = CloseFrame { code: CloseCode::Away, reason: "mcpgw is shutting down".into() };
                    let _ = sink.send(Message::Close(Some(going_away))).await;
                    break;
                }
            };
            if sink.send(frame).await.is_err() {
                break;
            }
        }
    });
    let mut conversation = Conversation::new(ctx, virtual_server, caller, out);
    while let Some(frame) = frames.next().await {
        let close = match frame {
            Ok(Message::Text(text)) => {
                conversation.receive(text.as_bytes()).await;
                continue;
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Close(_)) => None,
            Ok(Message::Binary(_)) => {
                Some(CloseFrame { code: CloseCode::Unsupported, reason: "MCP messages are text frames".into() })
            }
            Err(WsError::Capacity(_)) => Some(CloseFrame { code: CloseCode::Size, reason: "message too large".into() }),
            // RFC 6455 §7.4.1: 1007 for a text frame that is not UTF-8.
            Err(WsError::Utf8(_)) => {
                Some(CloseFrame { code: CloseCode::Invalid, reason: "text frames are UTF-8".into() })
            }
            Err(_) => None,
        };
        if let Some(frame) = close {
            let _ = close_tx.send(frame).await;
            // Complete the closing handshake: read until the client's Close (or a short deadline),
            // so the socket is not reset under the client while it still has our Close to read.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Some(Ok(frame)) = frames.next().await {
                    if matches!(frame, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        break;
    }
    tracing::info!("WebSocket client disconnected");
    conversation.abandon();
    drop(conversation);
    drop(close_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}
