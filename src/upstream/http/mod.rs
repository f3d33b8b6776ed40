//! Streamable HTTP upstreams: each request is a POST answered with JSON or an event stream. An
//! upstream that answers `server/discover` is spoken to statelessly (`stateless.rs`); any other
//! gets `initialize` and a session (`session.rs`). What both halves share, the endpoint and the
//! reading and routing of what comes back, is `endpoint.rs`, below both.

mod endpoint;
mod session;
mod stateless;

use super::forwarding::Behind;
use super::wire::{Established, Inbox};
use super::{Connection, UpstreamError, handshake};
use crate::model::{self, Secret};
pub(super) use session::SessionHttp;
use stateless::StatelessHttp;

/// Connects to a streamable HTTP upstream in the era its definition allows, and completes that
/// era's handshake.
pub(super) async fn open(
    spec: &model::Upstream,
    url: &url::Url,
    headers: &[(String, Secret)],
    inbox: Inbox,
    behind: Behind,
) -> Result<(Box<dyn Connection>, Established), UpstreamError> {
    let mut endpoint = endpoint::Endpoint::new(&spec.name, url, headers, inbox, behind)?;
    // A stateless (2026-07-28) upstream answers discovery and needs no handshake.
    if spec.era != model::Era::Session {
        match StatelessHttp::discover(endpoint, spec.timeout).await {
            Ok((http, established)) => return Ok((Box::new(http), established)),
            Err(_) if spec.era == model::Era::Stateless => return Err(handshake::not_stateless(spec)),
            Err(back) => endpoint = back,
        }
    }
    let http = SessionHttp::new(endpoint);
    let established = match handshake::initialize(&http, spec).await {
        Ok(e) => e,
        Err(e) => {
            http.shutdown().await;
            return Err(e);
        }
    };
    http.established(&established.protocol_version);
    http.notify("notifications/initialized", None).await;
    Ok((Box::new(http), established))
}
