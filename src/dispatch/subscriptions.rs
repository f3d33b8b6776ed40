//! `resources/subscribe` and `unsubscribe`. A client subscribes only to a URI its own virtual
//! server publishes (resolving the URI is the check), is recorded with the upstream that serves
//! it, and hears of updates from that upstream only. The upstream is subscribed once for all its
//! clients and released when the last one goes, however it goes (`upstream::Subscribers`).

use std::sync::atomic::Ordering;

use super::Request;
use super::answers::empty;
use super::owner::upstream_failure;
use crate::error::{GatewayError, Kind, Source};
use crate::live::Snapshot;
use crate::protocol::RawJson;
use crate::routing::Published;

pub(super) async fn subscribe(
    snapshot: &Snapshot,
    request: &Request,
    item: &Published,
) -> Result<RawJson, GatewayError> {
    let uri = super::resolve::uri(request)?;
    let upstream = &item.route.upstream;
    let session = request.session();
    if session.is_subscribed(&uri, upstream) {
        return Ok(empty());
    }
    let Some(handle) = snapshot.upstream(upstream) else { return Err(unconfigured(upstream)) };
    handle.subscribe(&uri, &request.link).await.map_err(|e| upstream_failure(upstream, "resources/subscribe", e))?;
    session.subscribe(&uri, upstream);
    // Whatever the client holds when its session ends is released then, once per session.
    if !session.releases_subscriptions.swap(true, Ordering::AcqRel) {
        let (subscribers, id) = (snapshot.subscribers.clone(), session.id.clone());
        session.on_end(Box::new(move || subscribers.release(&id)));
    }
    Ok(empty())
}

/// Unsubscribing from what the client never held is answered `{}`, as the specification asks
/// servers to be lenient here; the upstream is told only when the last subscriber goes.
pub(super) async fn unsubscribe(snapshot: &Snapshot, request: &Request) -> Result<RawJson, GatewayError> {
    let uri = super::resolve::uri(request)?;
    let Some(upstream) = request.session().unsubscribe(&uri) else { return Ok(empty()) };
    let Some(handle) = snapshot.upstream(&upstream) else { return Ok(empty()) };
    handle
        .unsubscribe(&uri, &request.link)
        .await
        .map_err(|e| upstream_failure(&upstream, "resources/unsubscribe", e))?;
    Ok(empty())
}

fn unconfigured(upstream: &str) -> GatewayError {
    GatewayError::new(Kind::Unavailable, Source::Gateway, format!("upstream \"{upstream}\" is not configured"))
}
