//! Opening a connection to an upstream: the transport its definition names, then the era's
//! handshake (`server/discover` first for stdio and streamable HTTP upstreams, `initialize`
//! when it is not answered or not tried).

use super::forwarding::Behind;
use super::handshake;
use super::rest_api::RestConnection;
use super::wire::{Established, Inbox};
use super::{Connection, UpstreamError, sse, stdio, websocket};
use crate::model::{self, Transport};

/// How long a connection and its handshake may take in all: the upstream's timeout once (an
/// upstream that hangs holds readiness no longer), plus, for a stdio child that may be
/// session-based, the short discovery probe it may leave unanswered.
pub(super) fn handshake_limit(spec: &model::Upstream) -> std::time::Duration {
    match spec.transport {
        Transport::Stdio(_) if spec.era == model::Era::Auto => spec.timeout + stdio::PROBE,
        _ => spec.timeout,
    }
}

/// Connects and completes the handshake.
pub(super) async fn open(
    spec: &model::Upstream,
    inbox: Inbox,
    behind: Behind,
) -> Result<(Box<dyn Connection>, Established), UpstreamError> {
    // A child that exits during the handshake is explained by its exit status and last words.
    let mut last_words = None;
    let conn: Box<dyn Connection> = match &spec.transport {
        Transport::Stdio(cmd) => {
            let stdio = stdio::StdioConnection::spawn(&spec.name, cmd, inbox)?;
            last_words = Some(stdio.last_words());
            // A stateless (2026-07-28) child answers discovery and needs no handshake.
            if spec.era != model::Era::Session {
                match stdio.discover(spec.timeout).await {
                    Some(established) => return Ok((Box::new(stdio), established)),
                    None if spec.era == model::Era::Stateless => {
                        stdio.shutdown().await;
                        return Err(handshake::not_stateless(spec));
                    }
                    None => {}
                }
            }
            Box::new(stdio)
        }
        Transport::StreamableHttp { url, headers } => {
            return super::http::open(spec, url, headers, inbox, behind).await;
        }
        Transport::Sse { url, headers } => Box::new(sse::connect(&spec.name, url, headers, inbox).await?),
        Transport::WebSocket { url, headers } => Box::new(websocket::connect(&spec.name, url, headers, inbox).await?),
        Transport::Rest(api) => {
            let rest = RestConnection::new(&spec.name, api, inbox)?;
            return Ok((Box::new(rest), handshake::rest_established(spec)));
        }
    };
    let established = match handshake::initialize(conn.as_ref(), spec).await {
        Ok(e) => e,
        Err(e) => {
            let e = match last_words {
                Some(words) => words.explain(&spec.name, e).await,
                None => e,
            };
            conn.shutdown().await;
            return Err(e);
        }
    };
    conn.notify("notifications/initialized", None).await;
    Ok((conn, established))
}
