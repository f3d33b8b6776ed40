//! Health and readiness: `/healthz` says the process is up; `/readyz` reports every upstream's
//! state and the last reload as JSON, 200 once each upstream's first connection attempt ended.

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;

use crate::live::Live;
use crate::protocol::ItemKind;
use crate::transport::{Body, full};

pub(crate) fn healthz() -> Response<Body> {
    respond(StatusCode::OK, b"{\"status\":\"ok\"}".to_vec())
}

pub(crate) fn readyz(live: &Live) -> Response<Body> {
    let snapshot = live.snapshot();
    let mut upstreams = serde_json::Map::new();
    for up in &snapshot.model.upstreams {
        let Some(handle) = snapshot.upstream(&up.name) else {
            continue;
        };
        let items = handle.items();
        let mut entry = serde_json::to_value(&*handle.status()).unwrap_or_default();
        entry["transport"] = json!(up.transport.kind());
        entry["tools"] = json!(items.of(ItemKind::Tool).len());
        entry["resources"] = json!(items.of(ItemKind::Resource).len());
        entry["resource_templates"] = json!(items.of(ItemKind::ResourceTemplate).len());
        entry["prompts"] = json!(items.of(ItemKind::Prompt).len());
        upstreams.insert(up.name.clone(), entry);
    }
    let ready = snapshot.settled();
    let body = json!({
        "ready": ready,
        "generation": snapshot.table.generation,
        "upstreams": upstreams,
        "collisions": snapshot.table.collisions,
        "drift": snapshot.table.drift,
        "last_reload": &*live.reload_status(),
    });
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    respond(code, serde_json::to_vec_pretty(&body).unwrap_or_default())
}

fn respond(code: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
