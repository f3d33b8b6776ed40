use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Request, handle};
use crate::error::{GatewayError, Kind, Source};
use crate::live::{Live, Snapshot};
use crate::policy::{Chain, Denial, Policy, Subject};
use crate::protocol::{Item, ItemKind, ItemSet, jsonrpc};
use crate::session::{Caller, Link, Session, events};
use crate::upstream::fake::{FakeUpstream, Heard};
use crate::upstream::{Outlets, UpstreamError, UpstreamHandle};
use crate::{config, routing};

/// A gateway of fake upstreams: `upstreams` are (name, tools, resources), each answering with
/// `answer`, on the config `yaml`.
struct Gateway {
    live: Arc<Live>,
    heard: HashMap<String, Heard>,
}

type Answer = fn(&str, &Value) -> Result<Value, UpstreamError>;

fn gateway(yaml: &str, upstreams: &[(&str, &[&str], &[&str], Answer)]) -> Gateway {
    let loaded = config::parse(Path::new("g.yaml"), yaml).unwrap();
    let (model, ds) = crate::model::validate(&loaded, &HashMap::<String, String>::new(), Path::new("."));
    let model = model.unwrap_or_else(|| panic!("{ds:?}"));
    let outlets = Outlets { items_changed: Arc::default(), notes: events::notes(), subscribers: Arc::default() };
    let (mut handles, mut items, mut heard) = (HashMap::new(), HashMap::new(), HashMap::new());
    for (name, tools, resources, answer) in upstreams {
        let make = |kind: ItemKind, keys: &[&str]| -> Vec<Item> {
            keys.iter().map(|k| Item::from_json(kind, json!({ kind.key_field(): k, "x-kept": 1 })).unwrap()).collect()
        };
        let set = ItemSet {
            tools: make(ItemKind::Tool, tools),
            resources: make(ItemKind::Resource, resources),
            ..ItemSet::default()
        };
        let (fake, log) = FakeUpstream::new(*answer);
        let spec = model.upstream(name).unwrap().clone();
        items.insert(name.to_string(), Arc::new(set.clone()));
        handles.insert(name.to_string(), UpstreamHandle::connected(spec, Box::new(fake), set, outlets.clone()));
        heard.insert(name.to_string(), log);
    }
    let table = routing::build(1, &model, &items);
    let snapshot = Snapshot::new(Arc::new(model), Arc::new(table), handles, outlets.subscribers.clone());
    Gateway { live: Arc::new(Live::new(snapshot, outlets.notes)), heard }
}

impl Gateway {
    fn session(&self, virtual_server: &str) -> Arc<Session> {
        Session::detached(virtual_server, "2025-11-25", Caller::local())
    }

    async fn ask(&self, session: &Arc<Session>, method: &str, params: Value) -> Result<Value, GatewayError> {
        let request = Request::new(jsonrpc::raw(&1), Link::unreachable(session), method, Some(jsonrpc::raw(&params)));
        handle(&self.live, &request).await.map(|r| serde_json::from_str(r.get()).unwrap())
    }

    /// The methods upstream `name` was sent, in order.
    fn heard(&self, name: &str) -> Vec<(String, Value)> {
        self.heard[name].lock().unwrap().clone()
    }

    fn deny(&self, key: &'static str) {
        let current = self.live.snapshot();
        let mut next = Snapshot::new(
            current.model.clone(),
            current.table.clone(),
            current.upstreams.clone(),
            current.subscribers.clone(),
        );
        next.policy = Chain::of(vec![Box::new(DenyKey(key))]);
        self.live.swap(next);
    }
}

/// Answers every call with its own params, and everything else with `{}`.
fn echo(method: &str, params: &Value) -> Result<Value, UpstreamError> {
    Ok(if method == "tools/call" { json!({ "content": [], "sent": params }) } else { json!({}) })
}

struct DenyKey(&'static str);

impl Policy for DenyKey {
    fn name(&self) -> &'static str {
        "deny-key"
    }

    fn check(&self, subject: &Subject<'_>) -> Result<(), Denial> {
        match subject.item {
            Some(item) if item.public_key == self.0 => Err(Denial::Refused(GatewayError::forbidden("denied"))),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn a_call_reaches_its_owner_under_the_upstreams_name_with_everything_else_untouched() {
    let yaml = "upstreams:\n  a:\n    url: 'http://a/mcp'\n    tools:\n      rename: { echo: say }\n      shape: { echo: { arguments: { fixed: { value: 7 } } } }\n";
    let gw = gateway(yaml, &[("a", &["echo"], &[], echo)]);
    let session = gw.session("default");
    let params = json!({"name": "a_say", "arguments": {"x": 1}, "_meta": {"progressToken": "t", "other": [1]}});
    let result = gw.ask(&session, "tools/call", params).await.unwrap();
    let sent = &result["sent"];
    assert_eq!((&sent["name"], &sent["arguments"]), (&json!("echo"), &json!({"x": 1, "fixed": 7})));
    assert_eq!(sent["_meta"]["other"], json!([1]), "members the gateway does not own pass as they came");
    let token = sent["_meta"]["progressToken"].as_str().unwrap();
    assert!(token.starts_with("mcpgw-"), "progress is routed back by a token of the gateway's own, not {token:?}");
    let unknown = gw.ask(&session, "tools/call", json!({"name": "a_echo"})).await.unwrap_err();
    assert_eq!(
        (unknown.kind, unknown.source, unknown.message.as_str()),
        (Kind::InvalidParams, Source::Client, "unknown tool: a_echo")
    );
    let nowhere = gw.ask(&session, "tools/teleport", json!({})).await.unwrap_err();
    assert_eq!(nowhere.kind, Kind::MethodNotFound);
    assert_eq!(gw.heard("a").len(), 1, "only the known tool reached the upstream");
}

#[tokio::test]
async fn lists_are_paged_and_filtered_by_the_decision_that_refuses_calls() {
    let yaml = "serving: { page_size: 2 }\nupstreams:\n  a: { url: 'http://a/mcp' }\n";
    let gw = gateway(yaml, &[("a", &["one", "two", "three"], &[], echo)]);
    let session = gw.session("default");
    let first = gw.ask(&session, "tools/list", json!({})).await.unwrap();
    assert_eq!(first["tools"].as_array().unwrap().len(), 2);
    assert_eq!(first["tools"][0]["x-kept"], 1, "items are listed as the upstream described them");
    let cursor = first["nextCursor"].as_str().unwrap().to_string();
    let second = gw.ask(&session, "tools/list", json!({"cursor": cursor})).await.unwrap();
    assert_eq!(second["tools"].as_array().unwrap().len(), 1);
    assert!(second.get("nextCursor").is_none());

    gw.deny("a_two");
    let listed = gw.ask(&session, "tools/list", json!({})).await.unwrap();
    let names: Vec<&str> = listed["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_one", "a_three"]);
    assert!(listed.get("nextCursor").is_none(), "pages are cut from what the caller may see");
    let refused = gw.ask(&session, "tools/call", json!({"name": "a_two"})).await.unwrap_err();
    assert_eq!((refused.kind, refused.source, refused.code()), (Kind::Forbidden, Source::Policy, jsonrpc::FORBIDDEN));
    assert!(gw.heard("a").iter().all(|(m, _)| m != "tools/call"), "a refused call never reaches the upstream");
}

#[tokio::test]
async fn an_upstreams_failure_keeps_its_source() {
    fn failing(method: &str, params: &Value) -> Result<Value, UpstreamError> {
        match params["name"].as_str() {
            Some("own") => {
                Err(UpstreamError::Rpc(jsonrpc::raw(&json!({"code": -32050, "message": "busy", "data": {"x": 1}}))))
            }
            Some("slow") => Err(UpstreamError::Timeout("a".into(), std::time::Duration::from_secs(1))),
            _ => echo(method, params),
        }
    }
    let gw = gateway("upstreams:\n  a: { url: 'http://a/mcp' }\n", &[("a", &["own", "slow"], &[], failing)]);
    let session = gw.session("default");
    let own = gw.ask(&session, "tools/call", json!({"name": "a_own"})).await.unwrap_err();
    assert_eq!(
        own.to_json(),
        r#"{"code":-32050,"message":"busy","data":{"x":1}}"#,
        "forwarded as the upstream sent it"
    );
    assert_eq!((own.kind, own.source), (Kind::Upstream(-32050), Source::Upstream));
    let slow = gw.ask(&session, "tools/call", json!({"name": "a_slow"})).await.unwrap_err();
    assert_eq!((slow.kind, slow.source, slow.code()), (Kind::Timeout, Source::Upstream, jsonrpc::UPSTREAM_TIMEOUT));
}

#[tokio::test]
async fn a_resource_is_subscribed_once_and_released_when_its_last_subscriber_goes() {
    let yaml = "upstreams:\n  a: { url: 'http://a/mcp' }\nvirtual_servers:\n  default: { resources: ['*'] }\n  bare: { tools: ['*'] }\n";
    let gw = gateway(yaml, &[("a", &[], &["a://r"], echo)]);
    let (one, two, outsider) = (gw.session("default"), gw.session("default"), gw.session("bare"));
    let uri = json!({"uri": "a://r"});
    assert_eq!(gw.ask(&one, "resources/subscribe", uri.clone()).await.unwrap(), json!({}));
    assert_eq!(gw.ask(&two, "resources/subscribe", uri.clone()).await.unwrap(), json!({}));
    let refused = gw.ask(&outsider, "resources/subscribe", uri.clone()).await.unwrap_err();
    assert_eq!(refused.kind, Kind::ResourceNotFound, "a virtual server that does not publish it cannot subscribe");
    assert_eq!(gw.ask(&one, "resources/unsubscribe", uri.clone()).await.unwrap(), json!({}));
    let heard = |gw: &Gateway| gw.heard("a").into_iter().map(|(m, _)| m).collect::<Vec<_>>();
    assert_eq!(heard(&gw), ["resources/subscribe"], "one subscription upstream, still held by `two`");
    two.end();
    // The release runs on a task of its own.
    for _ in 0..100 {
        if heard(&gw).len() == 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(heard(&gw), ["resources/subscribe", "resources/unsubscribe"], "the last subscriber's end released it");
}

#[tokio::test]
async fn stateless_requests_are_answered_in_their_eras_shapes() {
    let gw = gateway("upstreams:\n  a: { url: 'http://a/mcp' }\n", &[("a", &["echo"], &[], echo)]);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let run = |method: &str, params: Value| {
        let call = super::stateless::Call::read(jsonrpc::raw(&1), method.into(), Some(&jsonrpc::raw(&params)));
        let live = gw.live.clone();
        async move {
            let call = call.map_err(|(_, e)| e)?;
            call.check()?;
            call.run(&live, "default", Caller::local(), crate::session::link::nowhere(), None).await
        }
    };
    let listed = run("tools/list", json!({"_meta": meta})).await.unwrap();
    let listed: Value = serde_json::from_str(listed.get()).unwrap();
    assert_eq!((listed["resultType"].as_str(), listed["cacheScope"].as_str()), (Some("complete"), Some("private")));
    let removed = run("ping", json!({"_meta": meta})).await.unwrap_err();
    assert_eq!((removed.kind, removed.http_status(true)), (Kind::MethodNotFound, 404));
    let missing = run("resources/read", json!({"uri": "a://nothing", "_meta": meta})).await.unwrap_err();
    assert_eq!(missing.code(), jsonrpc::INVALID_PARAMS, "the stateless revision's code for a missing resource");
    let unversioned = run("tools/list", json!({})).await.unwrap_err();
    assert_eq!((unversioned.kind, unversioned.http_status(true)), (Kind::InvalidParams, 400));
}
