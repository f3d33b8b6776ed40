//! stdio serving: one client on stdin/stdout, newline-delimited JSON-RPC, for desktop clients
//! that launch a local command. The connection is the session. Logs go to stderr only.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc};

use super::{ServeContext, exchange};
use crate::protocol::jsonrpc::{self, Message, RpcError};
use crate::session::Session;

/// Serves one client until its input ends.
pub async fn serve(
    ctx: Arc<ServeContext>,
    virtual_server: String,
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
) {
    let (out, mut outbox) = mpsc::channel::<Vec<u8>>(256);
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = outbox.recv().await {
            line.push(b'\n');
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    let mut session: Option<Arc<Session>> = None;
    let mut requests = tokio::task::JoinSet::new();
    let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
    let mut lines = BufReader::new(input).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let limit = ctx.live.snapshot().model.serving.max_body_bytes;
        if line.len() > limit {
            let e = RpcError::new(jsonrpc::INVALID_REQUEST, format!("the message is larger than {limit} bytes"));
            let _ = out.send(jsonrpc::encode_error(None, &e.to_json())).await;
            continue;
        }
        if Message::is_batch(line.as_bytes()) {
            let e = RpcError::new(
                jsonrpc::INVALID_REQUEST,
                "JSON-RPC batches are not supported; send one message per line",
            );
            let _ = out.send(jsonrpc::encode_error(None, &e.to_json())).await;
            continue;
        }
        match Message::parse(line.as_bytes()) {
            Err(e) => {
                let _ = out.send(jsonrpc::encode_error(None, &e.to_json())).await;
            }
            Ok(Message::Request { id, method, params }) if method == "initialize" => {
                let version = exchange::negotiated_version(params.as_deref());
                if forwarder.is_none() {
                    let changes = ctx.live.subscribe();
                    forwarder = Some(tokio::spawn(forward_list_changes(changes, virtual_server.clone(), out.clone())));
                }
                session = Some(Session::detached(&virtual_server, version));
                tracing::info!(%virtual_server, version, "stdio client initialized");
                let _ = out.send(exchange::initialize_response(&id, version, &virtual_server)).await;
            }
            Ok(Message::Request { id, method, params }) => {
                let Some(session) =
                    session.clone().or_else(|| (method == "ping").then(|| Session::detached(&virtual_server, "")))
                else {
                    let e = RpcError::new(jsonrpc::INVALID_REQUEST, "send initialize first");
                    let _ = out.send(jsonrpc::encode_error(Some(&id), &e.to_json())).await;
                    continue;
                };
                let (ctx, out) = (ctx.clone(), out.clone());
                requests.spawn(async move {
                    let answer = exchange::answer(&ctx, &session, &id, &method, params.as_deref(), Some(&out)).await;
                    let _ = out.send(answer).await;
                });
            }
            Ok(Message::Notification { method, params }) => {
                if let Some(session) = &session {
                    exchange::notification(session, &method, params.as_deref());
                }
            }
            Ok(Message::Response { .. }) => {}
        }
    }
    tracing::info!("stdio client closed its input");
    // Requests already read are still answered (`echo '…' | mcpgw stdio` works), within a bound.
    let finish = async { while requests.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, finish).await.is_err() {
        tracing::warn!("requests still running {DRAIN:?} after input ended; abandoning them");
    }
    if let Some(f) = forwarder {
        f.abort();
    }
    drop(out);
    let _ = writer.await;
}

/// Longest wait, once input ends, for answers to requests already read.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

async fn forward_list_changes(
    mut changes: broadcast::Receiver<crate::live::CatalogChange>,
    virtual_server: String,
    out: mpsc::Sender<Vec<u8>>,
) {
    loop {
        match changes.recv().await {
            Ok(change) if change.virtual_server == virtual_server => {
                if out.send(jsonrpc::encode_notification(change.kind.list_changed(), None)).await.is_err() {
                    return;
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
