//! Keeping an upstream connected: connect, list its items, serve its notifications, and on a
//! lost connection reconnect with backoff (250 ms doubling to `reconnect.max_delay`, reset after
//! 30 s of uptime). A lost upstream's items stay listed for `reconnect.grace`, so clients' lists
//! do not shrink and grow with every restart of a child; calls meanwhile wait for a reconnect
//! that is due soon (`UpstreamHandle::reconnected`). A stop lets in-flight requests finish (up to
//! the upstream's timeout) before closing.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::wire::{Established, Event};
use super::{Shared, UpstreamError, UpstreamHandle, UpstreamState, handshake, open, uri_params};
use crate::protocol::ItemSet;
use crate::session::Note;

const BACKOFF_START: Duration = Duration::from_millis(250);
/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);

pub(super) async fn supervise(handle: Arc<UpstreamHandle>) {
    let name = handle.spec.name.clone();
    let max_delay = handle.spec.reconnect.max_delay;
    let mut stop = handle.stop.subscribe();
    let mut backoff = BACKOFF_START.min(max_delay);
    let mut failures = 0u32;
    // The last failure said at WARN: the same one again is said at DEBUG only.
    let mut last_warned: Option<String> = None;
    // While the connection is lost: when its items are withdrawn, unless it is back by then.
    // A handle replacing another starts with that one's items, under the same rule.
    let mut grace = (!handle.items().is_empty()).then(|| Instant::now() + handle.spec.reconnect.grace);
    while !*stop.borrow() {
        handle.next_attempt(None);
        let (events_tx, mut events) = mpsc::channel::<Event>(64);
        let inbox = handle.inbox(events_tx);
        let limit = open::handshake_limit(&handle.spec);
        let opening = tokio::time::timeout(limit, open::open(&handle.spec, inbox, handle.behind(None)));
        let attempt = tokio::select! {
            r = within_grace(&handle, &mut grace, opening) => {
                r.unwrap_or_else(|_| Err(UpstreamError::Timeout(name.clone(), limit)))
            }
            _ = stop.changed() => break,
        };
        match attempt {
            Ok((conn, established)) => {
                let conn = Arc::new(conn);
                let listing = handshake::fetch_items(conn.as_ref().as_ref(), &established, &handle.spec);
                let items = tokio::select! {
                    r = within_grace(&handle, &mut grace, listing) => r,
                    _ = stop.changed() => { conn.shutdown().await; break }
                };
                match items {
                    Ok(items) => {
                        failures = 0;
                        last_warned = None;
                        tracing::info!(upstream = %name, transport = handle.spec.transport.kind(),
                            protocol_version = %established.protocol_version,
                            tools = items.tools.len(), resources = items.resources.len(),
                            prompts = items.prompts.len(), "upstream connected");
                        handle.connection.store(Some(conn.clone()));
                        resubscribe(&handle, &conn);
                        handle.set_status(UpstreamState::Up, None, 0, Some(&established));
                        handle.set_items(items);
                        handle.attempt_ended();
                        let since = Instant::now();
                        let stopping = serve_events(&handle, &conn, &established, &mut events, &mut stop).await;
                        if stopping {
                            // Calls that loaded this generation just before the stop still find
                            // the connection while it drains.
                            drain_and_close(&handle, conn).await;
                            break;
                        }
                        if since.elapsed() >= STABLE_AFTER {
                            backoff = BACKOFF_START.min(max_delay);
                        }
                        handle.connection.store(None);
                        handle.next_attempt(Some(Instant::now() + backoff));
                        conn.shutdown().await;
                        grace = Some(Instant::now() + handle.spec.reconnect.grace);
                        tracing::warn!(upstream = %name, retry_in = ?backoff, keep_listed_for = ?handle.spec.reconnect.grace,
                            "upstream connection lost; reconnecting");
                        handle.set_status(UpstreamState::Down, Some("connection lost".into()), 0, None);
                    }
                    Err(e) => {
                        conn.shutdown().await;
                        failures += 1;
                        tracing::warn!(upstream = %name, error = %e, "listing the upstream's items failed");
                        handle.set_status(UpstreamState::Down, Some(e.to_string()), failures, None);
                        handle.next_attempt(Some(Instant::now() + backoff));
                        handle.attempt_ended();
                    }
                }
            }
            Err(e) => {
                failures += 1;
                // Said loudly once, and again only when the reason changes, so a long outage does not
                // flood the log and a new cause is never missed.
                let reason = e.to_string();
                if last_warned.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(upstream = %name, error = %e, failures, retry_in = ?backoff, "upstream unavailable");
                    last_warned = Some(reason);
                } else {
                    tracing::debug!(upstream = %name, error = %e, failures, retry_in = ?backoff, "upstream unavailable");
                }
                handle.set_status(UpstreamState::Down, Some(e.to_string()), failures, None);
                handle.next_attempt(Some(Instant::now() + backoff));
                handle.attempt_ended();
            }
        }
        tokio::select! {
            _ = within_grace(&handle, &mut grace, tokio::time::sleep(backoff)) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(max_delay);
    }
    for (_, cell) in handle.clients.lock().await.drain() {
        if let Some(session) = cell.get() {
            session.conn.shutdown().await;
        }
    }
    handle.set_status(UpstreamState::Stopped, None, failures, None);
    handle.attempt_ended();
    handle.stopped.notify_waiters();
    tracing::info!(upstream = %name, "upstream stopped");
}

/// Runs `work`; when the lost connection's grace period ends meanwhile, withdraws its items
/// (the table is rebuilt and clients hear `list_changed`).
async fn within_grace<T>(handle: &UpstreamHandle, grace: &mut Option<Instant>, work: impl Future<Output = T>) -> T {
    tokio::pin!(work);
    loop {
        let Some(until) = *grace else { return work.await };
        tokio::select! {
            r = &mut work => return r,
            _ = tokio::time::sleep_until(until.into()) => {
                *grace = None;
                if !handle.items().is_empty() {
                    tracing::warn!(upstream = %handle.spec.name, after = ?handle.spec.reconnect.grace,
                        "upstream still down; its items are withdrawn until it is back");
                }
                handle.set_items(ItemSet::default());
            }
        }
    }
}

/// Subscribes a fresh connection to every URI clients hold at this upstream (a reconnect, or a
/// reload that restarted it), in the background.
fn resubscribe(handle: &Arc<UpstreamHandle>, conn: &Shared) {
    let uris = handle.outlets.subscribers.uris(&handle.spec.name);
    if uris.is_empty() {
        return;
    }
    let (conn, name, timeout) = (conn.clone(), handle.spec.name.clone(), handle.spec.timeout);
    tokio::spawn(async move {
        for uri in uris {
            if let Err(e) = conn.request("resources/subscribe", Some(&uri_params(&uri)), timeout, None).await {
                tracing::warn!(upstream = %name, %uri, error = %e, "subscribing again after connecting failed");
            }
        }
    });
}

/// Handles notifications until the connection closes (returns false) or a stop is asked (true).
async fn serve_events(
    handle: &UpstreamHandle,
    conn: &Shared,
    established: &Established,
    events: &mut mpsc::Receiver<Event>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        tokio::select! {
            _ = conn.closed() => return false,
            _ = stop.changed() => return true,
            event = events.recv() => match event {
                None => return false,
                Some(Event::Notification { method, .. }) if method.ends_with("/list_changed") => {
                    match handshake::fetch_items(conn.as_ref().as_ref(), established, &handle.spec).await {
                        Ok(items) => handle.set_items(items),
                        Err(e) => tracing::warn!(upstream = %handle.spec.name, error = %e, "refreshing items failed"),
                    }
                }
                Some(Event::Notification { method, params }) => {
                    let params = params.and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok());
                    match note(&handle.spec.name, &method, params) {
                        Some(note) => drop(handle.outlets.notes.send(note)),
                        None => tracing::debug!(upstream = %handle.spec.name, %method, "upstream notification"),
                    }
                }
            }
        }
    }
}

/// An upstream's notification as a note for the sessions, when it is one they may hear.
fn note(upstream: &str, method: &str, params: Option<serde_json::Value>) -> Option<Note> {
    let (upstream, params) = (upstream.to_string(), params?);
    Some(match method {
        "notifications/resources/updated" => {
            let uri = params.get("uri")?.as_str()?.to_string();
            Note::ResourceUpdated { upstream, uri, session: None }
        }
        "notifications/message" => Note::Log { upstream, params },
        "notifications/tasks/status" => Note::TaskStatus { upstream, params },
        "notifications/elicitation/complete" => Note::ElicitationComplete { params },
        _ => return None,
    })
}

/// Lets requests already sent finish (each holds the connection), then closes it. Calls keep
/// finding the connection until those already holding it are done; then it is taken from the
/// handle, so later calls go to a successor (or are told the upstream is unavailable), and any
/// that took it in between finish before it closes: none is cut off mid-request.
async fn drain_and_close(handle: &UpstreamHandle, conn: Shared) {
    let deadline = Instant::now() + handle.spec.timeout;
    // Held here and by the handle; every other holder is a request in flight.
    until_held_by(&conn, 2, deadline).await;
    handle.connection.store(None);
    until_held_by(&conn, 1, deadline).await;
    conn.shutdown().await;
}

async fn until_held_by(conn: &Shared, holders: usize, deadline: Instant) {
    while Arc::strong_count(conn) > holders && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
