//! The HTTP listener: accepts connections, routes paths to the streamable HTTP transport or the
//! admin endpoints, and drains connections on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::transport::PeerCertificate;
use crate::transport::first_request::started;
use crate::transport::idle::{self, Activity};

use crate::admin;
use crate::model::DEFAULT_SERVER;
use crate::transport::{Body, ServeContext, full, jsonrpc_http, metadata, sse, streamable_http, websocket};

/// Longest wait for open connections to finish after a shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then drains. Each of `workers` accepts and runs its own
/// connections from the one listening socket (the kernel hands each connection to one of them);
/// with no workers, the current runtime does.
pub(crate) async fn serve(
    listener: TcpListener,
    ctx: Arc<ServeContext>,
    workers: &[tokio::runtime::Handle],
    shutdown: impl Future<Output = ()>,
) {
    // Every connection holds a receiver: draining ends when the last one is dropped.
    let (drain, draining) = watch::channel(false);
    let (stop, stopping) = watch::channel(false);
    let listener = match listener.into_std() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot share the listening socket");
            return;
        }
    };
    let mut loops = Vec::new();
    let current = [tokio::runtime::Handle::current()];
    for handle in if workers.is_empty() { &current[..] } else { workers } {
        let listener = match listener.try_clone() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot share the listening socket");
                continue;
            }
        };
        loops.push(handle.spawn(accept(listener, ctx.clone(), draining.clone(), stopping.clone())));
    }
    drop(listener);
    shutdown.await;
    let _ = stop.send(true);
    for accepting in loops {
        let _ = accepting.await;
    }
    drop(draining);
    let _ = drain.send(true);
    if tokio::time::timeout(DRAIN, drain.closed()).await.is_err() {
        tracing::warn!("connections still open after {DRAIN:?}; closing them");
    }
}

/// Longest wait for a client's TLS handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// How often an HTTP/2 connection is pinged, and how long its answer may take.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// Answers a connection over a cap with 503 and closes it, off the accept loop.
fn refuse_connection(mut stream: tokio::net::TcpStream, peer: std::net::SocketAddr) {
    tracing::warn!(%peer, "refused a connection: the connection cap is reached");
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(crate::transport::connections::REFUSED))
            .await;
        let _ = stream.shutdown().await;
    });
}

/// One serving thread's accept loop, until `stopping` turns true.
async fn accept(
    listener: std::net::TcpListener,
    ctx: Arc<ServeContext>,
    draining: watch::Receiver<bool>,
    mut stopping: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen on this serving thread");
            return;
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let snapshot = ctx.live.snapshot();
                let serving = &snapshot.model.serving;
                let (header_timeout, idle_timeout, tls) = (serving.header_timeout, serving.idle_timeout, snapshot.tls.clone());
                let admitted =
                    ctx.connections.admit(peer.ip(), serving.max_connections, serving.max_connections_per_client);
                drop(snapshot);
                let Some(admitted) = admitted else {
                    refuse_connection(stream, peer);
                    continue;
                };
                // Built per connection so that a reload's `serving.header_timeout` applies to the next one.
                let mut builder = auto::Builder::new(TokioExecutor::new());
                if let Some(timeout) = header_timeout {
                    builder.http1().timer(TokioTimer::new()).header_read_timeout(timeout);
                }
                // An HTTP/2 client that stops answering pings is gone: its connection closes.
                builder
                    .http2()
                    .timer(TokioTimer::new())
                    .keep_alive_interval(Some(H2_KEEP_ALIVE))
                    .keep_alive_timeout(H2_KEEP_ALIVE);
                let (draining, ctx) = (draining.clone(), ctx.clone());
                let limits = Limits { idle_timeout, draining };
                tokio::spawn(async move {
                    let _admitted = admitted;
                    let Some(acceptor) = tls else {
                        let Some(stream) = started(stream, header_timeout, peer).await else { return };
                        return serve_connection(builder, stream, ctx, peer, None, limits).await;
                    };
                    // A client that never finishes its handshake holds nothing for long.
                    let stream = match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    // A client certificate (verified by the handshake) goes with each request.
                    let certificate = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|leaf| PeerCertificate(leaf.as_ref().into()));
                    let Some(stream) = started(stream, header_timeout, peer).await else { return };
                    serve_connection(builder, stream, ctx, peer, certificate, limits).await;
                });
            }
            _ = stopping.changed() => break,
        }
    }
}

/// What ends a connection from the gateway's side: nothing open on it for this long, and the
/// gateway draining.
struct Limits {
    idle_timeout: Option<Duration>,
    draining: watch::Receiver<bool>,
}

/// Serves one connection's requests (a verified client certificate, if any, on each) until it
/// closes, the gateway drains it, or nothing was open on it for `idle_timeout` (which matters
/// for HTTP/2: HTTP/1.1 waits for a next request within `header_timeout`).
async fn serve_connection<I>(
    builder: auto::Builder<TokioExecutor>,
    io: I,
    ctx: Arc<ServeContext>,
    peer: std::net::SocketAddr,
    certificate: Option<PeerCertificate>,
    mut limits: Limits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let counted = activity.clone();
    let service = service_fn(move |mut request: Request<Incoming>| {
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        let busy = counted.begin();
        let ctx = ctx.clone();
        async move { Ok::<_, std::convert::Infallible>(idle::until_sent(route(ctx, peer, request).await, busy)) }
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned();
    tokio::pin!(connection);
    let idle = async {
        match limits.idle_timeout {
            Some(limit) => activity.idle_for(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(idle);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = limits.draining.wait_for(|d| *d), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = &mut idle, if !closing => {
                tracing::debug!(%peer, "closing an idle connection");
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn route(ctx: Arc<ServeContext>, peer: std::net::SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    match path.as_str() {
        "/mcp" | "/mcp/" => streamable_http::handle(ctx, DEFAULT_SERVER, peer, request).await,
        "/rpc" => jsonrpc_http::handle(ctx, DEFAULT_SERVER, peer, request).await,
        "/sse" => sse::open(ctx, DEFAULT_SERVER, peer, "/messages", request).await,
        "/messages" => sse::post(ctx, DEFAULT_SERVER, peer, request).await,
        "/ws" => websocket::upgrade(ctx, DEFAULT_SERVER, peer, request).await,
        "/healthz" | "/readyz" => match crate::transport::screen(&ctx, &request) {
            Some(refused) => refused,
            None if path == "/healthz" => admin::healthz(),
            None => admin::readyz(&ctx.live),
        },
        _ => match path.strip_prefix("/servers/").and_then(|rest| rest.rsplit_once('/')) {
            Some((name, "mcp")) if valid_name(name) => streamable_http::handle(ctx, name, peer, request).await,
            Some((name, "rpc")) if valid_name(name) => jsonrpc_http::handle(ctx, name, peer, request).await,
            Some((name, "sse")) if valid_name(name) => {
                let messages = format!("/servers/{name}/messages");
                sse::open(ctx, name, peer, &messages, request).await
            }
            Some((name, "messages")) if valid_name(name) => sse::post(ctx, name, peer, request).await,
            Some((name, "ws")) if valid_name(name) => websocket::upgrade(ctx, name, peer, request).await,
            _ if path.starts_with(metadata::WELL_KNOWN) => {
                metadata::serve(&ctx, request.method(), &path[metadata::WELL_KNOWN.len()..])
            }
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
