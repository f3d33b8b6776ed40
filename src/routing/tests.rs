use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config;
use crate::protocol::{Item, ItemSet};

fn model(yaml: &str) -> Model {
    let loaded = config::parse(Path::new("g.yaml"), yaml).unwrap();
    let (model, ds) = crate::model::validate(&loaded, &HashMap::<String, String>::new(), Path::new("."));
    model.unwrap_or_else(|| panic!("{ds:?}"))
}

fn items(tools: &[&str], resources: &[&str], templates: &[&str]) -> Arc<ItemSet> {
    let make = |kind, keys: &[&str]| {
        keys.iter()
            .map(|k| {
                Item::from_json(kind, serde_json::json!({ kind.key_field(): k, "x-extra": {"kept": true} })).unwrap()
            })
            .collect()
    };
    Arc::new(ItemSet {
        tools: make(ItemKind::Tool, tools),
        resources: make(ItemKind::Resource, resources),
        resource_templates: make(ItemKind::ResourceTemplate, templates),
        prompts: vec![],
    })
}

fn names(table: &RoutingTable, server: &str, kind: ItemKind) -> Vec<String> {
    table.catalog(server).unwrap().list(kind).iter().map(|p| p.public_key.clone()).collect()
}

const TWO: &str = "upstreams:\n  time: { url: 'http://a/mcp' }\n  docs:\n    url: 'http://b/mcp'\n    tools: { include: ['search*'], exclude: ['*_admin'], rename: { search_docs: find } }\n\
virtual_servers:\n  default: { tools: ['*'], resources: ['*'] }\n  ops: { tools: ['time_*', 'docs_find'] }\n";

fn two_upstreams() -> RoutingTable {
    let ups: HashMap<String, Arc<ItemSet>> = [
        ("time".to_string(), items(&["now", "convert"], &["time://zones"], &[])),
        ("docs".to_string(), items(&["search_docs", "search_admin", "delete"], &[], &["docs://page/{id}"])),
    ]
    .into();
    build(1, &model(TWO), &ups)
}

#[test]
fn names_are_prefixed_filtered_and_renamed() {
    let t = two_upstreams();
    assert_eq!(names(&t, "default", ItemKind::Tool), ["time_now", "time_convert", "docs_find"]);
    assert_eq!(names(&t, "ops", ItemKind::Tool), ["time_now", "time_convert", "docs_find"]);
    let route = &t.catalog("default").unwrap().find(ItemKind::Tool, "docs_find").unwrap().route;
    assert_eq!((route.upstream.as_str(), route.upstream_key.as_str()), ("docs", "search_docs"));
}

#[test]
fn virtual_servers_see_only_their_kinds() {
    let t = two_upstreams();
    assert_eq!(names(&t, "default", ItemKind::Resource), ["time://zones"]);
    assert!(names(&t, "ops", ItemKind::Resource).is_empty());
}

#[test]
fn published_json_keeps_unknown_fields_and_uses_public_names() {
    let t = two_upstreams();
    let json = t.catalog("ops").unwrap().find(ItemKind::Tool, "docs_find").unwrap().json.get().to_string();
    assert_eq!(json, r#"{"name":"docs_find","x-extra":{"kept":true}}"#);
}

#[test]
fn uris_resolve_to_resources_then_templates() {
    let t = two_upstreams();
    let c = t.catalog("default").unwrap();
    assert_eq!(c.resolve_uri("time://zones").unwrap().route.upstream, "time");
    assert_eq!(c.resolve_uri("docs://page/7").unwrap().route.upstream, "docs");
    assert!(c.resolve_uri("docs://other").is_none());
}

#[test]
fn collisions_keep_the_first_upstream_and_are_reported() {
    let m = model("upstreams:\n  a: { url: 'http://a', prefix: '' }\n  b: { url: 'http://b', prefix: '' }\n");
    let ups: HashMap<String, Arc<ItemSet>> =
        [("a".to_string(), items(&["x"], &[], &[])), ("b".to_string(), items(&["x", "y"], &[], &[]))].into();
    let t = build(1, &m, &ups);
    assert_eq!(names(&t, "default", ItemKind::Tool), ["x", "y"]);
    assert_eq!(t.catalog("default").unwrap().find(ItemKind::Tool, "x").unwrap().route.upstream, "a");
    assert_eq!(t.collisions, ["tool \"x\" of upstream \"b\" is hidden by the one of upstream \"a\""]);
}

#[test]
fn pages_carry_a_cursor_until_the_end() {
    let t = two_upstreams();
    let c = t.catalog("default").unwrap();
    assert_eq!(
        c.page(ItemKind::Tool, 0, 2).unwrap().get(),
        r#"{"tools":[{"name":"time_now","x-extra":{"kept":true}},{"name":"time_convert","x-extra":{"kept":true}}],"nextCursor":"2"}"#
    );
    assert_eq!(
        c.page(ItemKind::Tool, 2, 2).unwrap().get(),
        r#"{"tools":[{"name":"docs_find","x-extra":{"kept":true}}]}"#
    );
    assert!(c.page(ItemKind::Tool, 9, 2).is_none());
}

#[test]
fn fingerprints_change_with_the_list_only() {
    let a = two_upstreams();
    let b = two_upstreams();
    let ca = a.catalog("ops").unwrap();
    assert_eq!(ca.fingerprint(ItemKind::Tool), b.catalog("ops").unwrap().fingerprint(ItemKind::Tool));
    let ups: HashMap<String, Arc<ItemSet>> = [("time".to_string(), items(&["now"], &[], &[]))].into();
    let c = build(2, &model(TWO), &ups);
    assert_ne!(ca.fingerprint(ItemKind::Tool), c.catalog("ops").unwrap().fingerprint(ItemKind::Tool));
}
