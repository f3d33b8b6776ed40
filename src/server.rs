//! The HTTP listener: accepts connections, routes paths to the streamable HTTP transport or the
//! admin endpoints, and drains connections on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::admin;
use crate::model::DEFAULT_SERVER;
use crate::transport::{Body, ServeContext, full, jsonrpc_http, sse, streamable_http, websocket};

/// Longest wait for open connections to finish after a shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then drains.
pub async fn serve(listener: TcpListener, ctx: Arc<ServeContext>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                let service = service_fn(move |request| {
                    let ctx = ctx.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(ctx, request).await) }
                });
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {DRAIN:?}; closing them");
    }
}

async fn route(ctx: Arc<ServeContext>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    match path.as_str() {
        "/mcp" | "/mcp/" => streamable_http::handle(ctx, DEFAULT_SERVER, request).await,
        "/rpc" => jsonrpc_http::handle(ctx, DEFAULT_SERVER, request).await,
        "/sse" => sse::open(ctx, DEFAULT_SERVER, "/messages", request),
        "/messages" => sse::post(ctx, DEFAULT_SERVER, request).await,
        "/ws" => websocket::upgrade(ctx, DEFAULT_SERVER, request),
        "/healthz" => admin::healthz(),
        "/readyz" => admin::readyz(&ctx.live),
        _ => match path.strip_prefix("/servers/").and_then(|rest| rest.rsplit_once('/')) {
            Some((name, "mcp")) if valid_name(name) => streamable_http::handle(ctx, name, request).await,
            Some((name, "rpc")) if valid_name(name) => jsonrpc_http::handle(ctx, name, request).await,
            Some((name, "sse")) if valid_name(name) => {
                let messages = format!("/servers/{name}/messages");
                sse::open(ctx, name, &messages, request)
            }
            Some((name, "messages")) if valid_name(name) => sse::post(ctx, name, request).await,
            Some((name, "ws")) if valid_name(name) => websocket::upgrade(ctx, name, request),
            _ => {
                let mut r = Response::new(full(format!(
                    "no route for {path}; MCP is served at /mcp and /servers/<name>/mcp, plain JSON-RPC at /rpc and /servers/<name>/rpc, legacy SSE at /sse and /servers/<name>/sse, WebSocket at /ws and /servers/<name>/ws\n"
                )));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        },
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/')
}
