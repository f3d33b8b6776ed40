//! Health and readiness: `/healthz` says the process is up; `/readyz` reports every upstream's
//! state and the last reload as JSON, 200 once each upstream's first connection attempt ended.

use std::collections::{BTreeSet, HashMap};

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
    // What each upstream contributes to the catalogs: its items that passed its own filters,
    // won their names and are listed by some virtual server, each counted once.
    let mut published: HashMap<&str, [BTreeSet<&str>; 4]> = HashMap::new();
    for server in snapshot.table.virtual_servers() {
        let Some(catalog) = snapshot.table.catalog(server) else { continue };
        for kind in ItemKind::ALL {
            for item in catalog.list(kind) {
                published.entry(&item.route.upstream).or_default()[kind as usize].insert(&item.public_key);
            }
        }
    }
    let mut upstreams = serde_json::Map::new();
    for up in &snapshot.model.upstreams {
        let Some(handle) = snapshot.upstream(&up.name) else {
            continue;
        };
        let counts = published.get(up.name.as_str());
        let count = |kind: ItemKind| counts.map_or(0, |c| c[kind as usize].len());
        let mut entry = serde_json::to_value(&*handle.status()).unwrap_or_default();
        if entry["state"] == "up" && !snapshot.routes_items_of(&up.name) {
            // Connected, and the table routing its items is being built: a moment more.
            entry["state"] = json!("connecting");
        }
        entry["transport"] = json!(up.transport.kind());
        entry["tools"] = json!(count(ItemKind::Tool));
        entry["resources"] = json!(count(ItemKind::Resource));
        entry["resource_templates"] = json!(count(ItemKind::ResourceTemplate));
        entry["prompts"] = json!(count(ItemKind::Prompt));
        upstreams.insert(up.name.clone(), entry);
    }
    let ready = snapshot.settled();
    let mut last_reload = serde_json::to_value(&*live.reload_status()).unwrap_or_default();
    if let Some(at) = last_reload.get("at").and_then(serde_json::Value::as_u64) {
        last_reload["at"] = json!(rfc3339(at));
    }
    let body = json!({
        "ready": ready,
        "generation": snapshot.table.generation,
        "upstreams": upstreams,
        "collisions": snapshot.table.collisions,
        "drift": snapshot.table.drift,
        "last_reload": last_reload,
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

/// Seconds since the Unix epoch as an RFC 3339 UTC timestamp (`2026-11-24T09:30:00Z`).
fn rfc3339(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm), in 400-year eras.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_512_345), "2026-11-24T09:25:45Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }
}
