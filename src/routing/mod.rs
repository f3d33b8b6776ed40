//! The routing table: every public item name of every virtual server → (upstream, upstream-side
//! name), with each catalog's list results ready to serve. Built from the model and the items
//! upstreams currently report; immutable once built.

pub(crate) mod shape;
mod uri_template;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::model::{ArgumentShape, ListKind, Model, Offered, OnChange, Pattern, Upstream};
use crate::protocol::{ItemKind, ItemSet, RawJson};

pub(crate) use uri_template::UriTemplate;

/// Where one public item really lives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Route {
    pub upstream: String,
    /// The item's name (or URI, or URI template) on the upstream.
    pub upstream_key: String,
}

/// One item as clients see it.
#[derive(Debug)]
pub(crate) struct Published {
    pub kind: ItemKind,
    /// Public name, or URI / URI template for resources.
    pub public_key: String,
    pub route: Route,
    /// The item's JSON with the public name in place, serialized once.
    pub json: RawJson,
    /// Tools only: how the file shapes the arguments of a call (fixed, defaulted, hidden).
    pub arguments: Vec<(String, ArgumentShape)>,
}

/// A pinned tool whose upstream definition no longer matches its pin.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Drift {
    pub upstream: String,
    /// The upstream-side name.
    pub tool: String,
    pub pinned: String,
    pub actual: String,
    /// Whether the tool is withheld (`on_change: block`).
    pub blocked: bool,
}

/// The items one virtual server exposes.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    lists: [Vec<Arc<Published>>; 4],
    by_key: [HashMap<String, Arc<Published>>; 4],
    templates: Vec<(UriTemplate, Arc<Published>)>,
    fingerprints: [u64; 4],
    /// Upstreams with at least one item here: whose log messages this catalog's clients see.
    upstreams: std::collections::BTreeSet<String>,
}

impl Catalog {
    pub(crate) fn list(&self, kind: ItemKind) -> &[Arc<Published>] {
        &self.lists[kind as usize]
    }

    /// The tool or prompt with this public name; the resource with this URI; the template with this URI template.
    pub(crate) fn find(&self, kind: ItemKind, key: &str) -> Option<&Arc<Published>> {
        self.by_key[kind as usize].get(key)
    }

    /// The resource or resource template that serves `uri`: an exact resource first, then templates in order.
    pub(crate) fn resolve_uri(&self, uri: &str) -> Option<&Arc<Published>> {
        self.find(ItemKind::Resource, uri)
            .or_else(|| self.templates.iter().find(|(t, _)| t.matches(uri)).map(|(_, p)| p))
    }

    /// Every item as `tool a_echo`, `resource file:///x`, …, in list order.
    pub(crate) fn labelled_items(&self) -> impl Iterator<Item = String> + '_ {
        ItemKind::ALL.into_iter().flat_map(move |kind| {
            self.list(kind).iter().map(move |p| format!("{} {}", kind.key_field_label(), p.public_key))
        })
    }

    /// Whether any item of this catalog comes from `upstream`.
    pub(crate) fn includes_upstream(&self, upstream: &str) -> bool {
        self.upstreams.contains(upstream)
    }

    /// Changes exactly when the kind's list changes; compared across tables to send `list_changed`.
    pub(crate) fn fingerprint(&self, kind: ItemKind) -> u64 {
        self.fingerprints[kind as usize]
    }

    /// One page of a `*/list` result, starting at `offset`; `None` when the offset is past the end.
    pub(crate) fn page(&self, kind: ItemKind, offset: usize, page_size: usize) -> Option<RawJson> {
        render_page(kind, self.list(kind), offset, page_size)
    }
}

/// One page of a `*/list` result over `list`, starting at `offset`; `None` when the offset is
/// past the end. Items are copied in as they were serialized when the table was built.
pub(crate) fn render_page<P: AsRef<Published>>(
    kind: ItemKind,
    list: &[P],
    offset: usize,
    page_size: usize,
) -> Option<RawJson> {
    if offset > list.len() {
        return None;
    }
    let end = (offset + page_size).min(list.len());
    let page = &list[offset..end];
    let mut out = String::with_capacity(64 + page.iter().map(|p| p.as_ref().json.get().len() + 1).sum::<usize>());
    out.push_str("{\"");
    out.push_str(kind.list_field());
    out.push_str("\":[");
    for (i, p) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(p.as_ref().json.get());
    }
    out.push(']');
    if end < list.len() {
        out.push_str(&format!(",\"nextCursor\":\"{end}\""));
    }
    out.push('}');
    Some(RawValue::from_string(out).expect("concatenated JSON items form valid JSON"))
}

/// Every catalog of one generation, plus what could not be published.
#[derive(Debug, Default)]
pub(crate) struct RoutingTable {
    /// The config generation this table was built from.
    pub generation: u64,
    catalogs: HashMap<String, Arc<Catalog>>,
    /// Human-readable notes on items dropped because their public name was taken.
    pub collisions: Vec<String>,
    /// Pinned tools whose upstream definition changed.
    pub drift: Vec<Drift>,
    /// The item sets it was built from, by upstream.
    built_from: HashMap<String, Arc<ItemSet>>,
}

impl RoutingTable {
    /// Whether the table lists exactly `items` for `upstream` (the very set, not an equal one):
    /// an upstream is `up` on `/readyz` only once its items are routed.
    pub(crate) fn lists(&self, upstream: &str, items: &Arc<ItemSet>) -> bool {
        self.built_from.get(upstream).is_some_and(|built| Arc::ptr_eq(built, items))
    }

    pub(crate) fn catalog(&self, virtual_server: &str) -> Option<&Arc<Catalog>> {
        self.catalogs.get(virtual_server)
    }

    pub(crate) fn virtual_servers(&self) -> impl Iterator<Item = &str> {
        self.catalogs.keys().map(String::as_str)
    }
}

/// Builds the table for `model` from the items each upstream currently reports (by upstream name;
/// a missing upstream contributes nothing). Upstreams earlier in the file win name collisions.
pub(crate) fn build(generation: u64, model: &Model, items: &HashMap<String, Arc<ItemSet>>) -> RoutingTable {
    let mut collisions = Vec::new();
    let mut drift = Vec::new();
    let mut all: [Vec<Arc<Published>>; 4] = Default::default();
    let mut owner: [HashMap<String, String>; 4] = Default::default();
    for upstream in &model.upstreams {
        let Some(set) = items.get(&upstream.name) else {
            continue;
        };
        for kind in ItemKind::ALL {
            for item in set.of(kind) {
                let Some(public) = public_key(model, upstream, kind, &item.key) else {
                    continue;
                };
                if let Some(first) = owner[kind as usize].get(&public) {
                    collisions.push(format!(
                        "{} \"{public}\" of upstream \"{}\" is hidden by the one of upstream \"{first}\"",
                        kind.key_field_label(),
                        upstream.name
                    ));
                    continue;
                }
                let mut json = item.json.clone();
                let mut arguments = Vec::new();
                if let (ItemKind::Tool, Some(shape)) = (kind, upstream.shape(&item.key)) {
                    if let Some(pinned) = &shape.pin {
                        let actual = shape::definition_hash(&item.json);
                        if &actual != pinned {
                            let blocked = shape.on_change == OnChange::Block;
                            drift.push(Drift {
                                upstream: upstream.name.clone(),
                                tool: item.key.clone(),
                                pinned: pinned.clone(),
                                actual,
                                blocked,
                            });
                            if blocked {
                                continue;
                            }
                        }
                    }
                    shape::apply(shape, &mut json);
                    arguments = shape.arguments.clone();
                }
                owner[kind as usize].insert(public.clone(), upstream.name.clone());
                if matches!(kind, ItemKind::Tool | ItemKind::Prompt) {
                    json.insert("name".into(), Value::String(public.clone()));
                }
                all[kind as usize].push(Arc::new(Published {
                    kind,
                    public_key: public,
                    route: Route { upstream: upstream.name.clone(), upstream_key: item.key.clone() },
                    json: crate::protocol::jsonrpc::raw(&json),
                    arguments,
                }));
            }
        }
    }
    let catalogs = model
        .virtual_servers
        .iter()
        .map(|vs| {
            let mut catalog = Catalog::default();
            for kind in ItemKind::ALL {
                let patterns: &[Pattern] = vs.patterns(list_kind(kind));
                let mut hasher = DefaultHasher::new();
                for p in &all[kind as usize] {
                    if patterns.iter().any(|pat| pat.matches(&p.public_key)) {
                        p.json.get().hash(&mut hasher);
                        catalog.upstreams.insert(p.route.upstream.clone());
                        catalog.lists[kind as usize].push(p.clone());
                        catalog.by_key[kind as usize].insert(p.public_key.clone(), p.clone());
                        if kind == ItemKind::ResourceTemplate {
                            catalog.templates.push((UriTemplate::parse(&p.public_key), p.clone()));
                        }
                    }
                }
                catalog.fingerprints[kind as usize] = hasher.finish();
            }
            (vs.name.clone(), Arc::new(catalog))
        })
        .collect();
    RoutingTable { generation, catalogs, collisions, drift, built_from: items.clone() }
}

/// The public name of an upstream's item, or `None` when the upstream's filter hides it.
/// Tools and prompts get `<prefix><separator><name>`; resources keep their URIs.
pub(crate) fn public_key(model: &Model, upstream: &Upstream, kind: ItemKind, key: &str) -> Option<String> {
    upstream.published_as(list_kind(kind), key, &model.separator)
}

/// What `upstream` offers in one list of `items` (its own names or URIs), each with the public
/// name it gets, or `None` where its filter hides it.
pub(crate) fn offered(upstream: &Upstream, items: &ItemSet, kind: ListKind, separator: &str) -> Vec<Offered> {
    let kinds: &[ItemKind] = match kind {
        ListKind::Tools => &[ItemKind::Tool],
        ListKind::Resources => &[ItemKind::Resource, ItemKind::ResourceTemplate],
        ListKind::Prompts => &[ItemKind::Prompt],
    };
    let keys = kinds.iter().flat_map(|k| items.of(*k).iter().map(|i| i.key.as_str()));
    keys.map(|key| (key.to_string(), upstream.published_as(kind, key, separator))).collect()
}

/// The virtual-server list that names items of `kind`.
pub(crate) fn list_kind(kind: ItemKind) -> ListKind {
    match kind {
        ItemKind::Tool => ListKind::Tools,
        ItemKind::Resource | ItemKind::ResourceTemplate => ListKind::Resources,
        ItemKind::Prompt => ListKind::Prompts,
    }
}

impl ItemKind {
    fn key_field_label(self) -> &'static str {
        match self {
            ItemKind::Tool => "tool",
            ItemKind::Resource => "resource",
            ItemKind::ResourceTemplate => "resource template",
            ItemKind::Prompt => "prompt",
        }
    }
}

#[cfg(test)]
mod tests;
