//! The file's `access` rules as a policy. For each virtual server, the file's rules and its own:
//!
//! 1. a matching `deny` hides the item (or refuses a request that names none);
//! 2. once the virtual server has any `allow`, an item is usable only where an `allow` covers it
//!    for this caller, and a caller no `allow` names may not use the virtual server at all;
//! 3. then every `require` covering the request must be met by the token's scopes, else HTTP 403
//!    `insufficient_scope` naming all the scopes the request needs.
//!
//! Hidden items are answered exactly as items that do not exist, so a refusal tells a caller
//! nothing it may not know. `require` does not filter lists: the caller sees the tool and, when
//! using it, learns which scopes to ask its authorization server for.

use std::collections::HashMap;

use super::{Denial, Policy, Subject};
use crate::error::{Challenge, GatewayError, Kind, Source};
use crate::model::Model;
use crate::model::access::{Effect, Rule};
use crate::model::auth::Auth;
use crate::protocol::ItemKind;
use crate::routing::Published;
use crate::session::{Identity, Principal};

pub(super) struct Rules {
    servers: HashMap<String, ServerRules>,
}

/// The rules that apply to one virtual server, by effect.
#[derive(Default)]
struct ServerRules {
    deny: Vec<Rule>,
    allow: Vec<Rule>,
    require: Vec<Rule>,
    /// Whether its tokens come with protected-resource metadata (a scope challenge points at it).
    metadata: bool,
}

impl Rules {
    /// The rules the model declares; `None` when it declares none.
    pub(super) fn build(model: &Model) -> Option<Rules> {
        if model.access.is_empty() && model.virtual_servers.iter().all(|v| v.access.is_empty()) {
            return None;
        }
        let mut servers = HashMap::new();
        for vs in &model.virtual_servers {
            let mut rules = ServerRules {
                metadata: matches!(model.auth_for(&vs.name), Auth::Required(m) if m.jwt.is_some()),
                ..ServerRules::default()
            };
            for rule in model.access.iter().chain(&vs.access) {
                match rule.effect {
                    Effect::Deny => rules.deny.push(rule.clone()),
                    Effect::Allow => rules.allow.push(rule.clone()),
                    Effect::Require => rules.require.push(rule.clone()),
                }
            }
            servers.insert(vs.name.clone(), rules);
        }
        Some(Rules { servers })
    }
}

impl Policy for Rules {
    fn name(&self) -> &'static str {
        "access"
    }

    fn check(&self, subject: &Subject<'_>) -> Result<(), Denial> {
        // Letting go of a subscription is never refused: rules may have changed since it was made.
        if subject.method == "resources/unsubscribe" {
            return Ok(());
        }
        let Some(rules) = self.servers.get(subject.virtual_server) else { return Ok(()) };
        let principal = match &subject.caller.identity {
            Identity::Principal(p) => Some(&**p),
            Identity::Anonymous => None,
        };
        let admitted = || rules.allow.iter().any(|r| names(r, principal));
        let refused = |rule: Option<&Rule>| match subject.item {
            Some(_) => Denial::Hidden,
            None => {
                let why = match rule {
                    Some(rule) => format!("{} is denied to this caller ({})", subject.method, rule.at),
                    None if admitted() => format!("{} is not allowed for this caller", subject.method),
                    None => format!("this caller may not use virtual server \"{}\"", subject.virtual_server),
                };
                // Refused outright, not hidden: HTTP bindings say so with 403 too.
                Denial::Refused(GatewayError::forbidden(why).with_status(403))
            }
        };
        let covers = |rule: &Rule| covers(rule, subject.method, subject.item, subject.uri);
        if let Some(rule) = rules.deny.iter().find(|r| covers(r) && names(r, principal)) {
            return Err(refused(Some(rule)));
        }
        if !rules.allow.is_empty() {
            let allowed = match subject.item {
                Some(_) => rules.allow.iter().any(|r| covers(r) && names(r, principal)),
                // A request that names no item needs an allow naming the caller whose methods (if
                // it lists any) include it; the protocol's own steps (`initialize`, `ping`, the
                // lists, filtered item by item) need only that the caller is let in somewhere.
                None => rules.allow.iter().any(|r| {
                    names(r, principal)
                        && (r.methods.is_empty()
                            || is_housekeeping(subject.method)
                            || r.methods.iter().any(|m| m.matches(subject.method)))
                }),
            };
            if !allowed {
                return Err(refused(None));
            }
        }
        if subject.listing {
            return Ok(());
        }
        let mut needed: Vec<&str> = Vec::new();
        for rule in rules.require.iter().filter(|r| covers(r)) {
            for scope in &rule.required {
                if !needed.contains(&scope.as_str()) {
                    needed.push(scope);
                }
            }
        }
        let held = principal.map_or(&[][..], |p| &p.scopes[..]);
        if needed.iter().all(|n| held.iter().any(|h| h == n)) {
            return Ok(());
        }
        Err(Denial::Refused(insufficient_scope(&needed, rules.metadata)))
    }
}

/// Whether the rule applies to this method and item. A rule that names no items applies to every
/// request of its methods; one that names items, only to requests for those items.
fn covers(rule: &Rule, method: &str, item: Option<&Published>, uri: Option<&str>) -> bool {
    if !rule.methods.is_empty() && !rule.methods.iter().any(|m| m.matches(method)) {
        return false;
    }
    if !rule.names_items() {
        return true;
    }
    let Some(item) = item else { return false };
    let patterns = match item.kind {
        ItemKind::Tool => &rule.tools,
        ItemKind::Prompt => &rule.prompts,
        ItemKind::Resource | ItemKind::ResourceTemplate => &rule.resources,
    };
    // A URI read through a template is matched as itself too, so a rule can cover part of a
    // template. Spelled with dot segments, escapes or doubled slashes it may reach a place its
    // text does not show: a deny (or require) covers it if its plain form matches, and an allow
    // covers only a URI already in plain form.
    let by_uri = |p: &crate::model::Pattern| {
        let Some(raw) = uri else { return false };
        let plain = plain_uri(raw);
        match rule.effect {
            Effect::Allow => plain == raw && p.matches(raw),
            Effect::Deny | Effect::Require => p.matches(raw) || p.matches(&plain),
        }
    };
    patterns.iter().any(|p| p.matches(&item.public_key) || by_uri(p))
}

/// The requests that are the protocol's own steps rather than uses of anything: a caller let in
/// by any `allow` may make them whatever methods that allow lists.
fn is_housekeeping(method: &str) -> bool {
    matches!(method, "initialize" | "ping" | "server/discover") || method.ends_with("/list")
}

/// A URI with percent-escapes decoded, backslashes read as slashes, doubled slashes collapsed and
/// dot segments removed: the place a lenient server would take it to mean.
fn plain_uri(uri: &str) -> String {
    let (scheme, rest) = match uri.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, uri),
    };
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'\\', _, _) => {
                decoded.push(b'/');
                i += 1;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let mut segments: Vec<&str> = Vec::new();
    for (n, segment) in decoded.split('/').enumerate() {
        match segment {
            // The first segment is the authority (empty for `file:///`); later empty ones are doubled slashes.
            "" if n > 0 => {}
            "." => {}
            ".." => {
                if segments.len() > 1 {
                    segments.pop();
                }
            }
            other => segments.push(other),
        }
    }
    let mut path = segments.join("/");
    if decoded.ends_with('/') && !path.ends_with('/') {
        path.push('/');
    }
    match scheme {
        Some(scheme) => format!("{scheme}://{path}"),
        None => path,
    }
}

/// The rules that apply to `virtual_server` and cover using `item` by `method`, in file order:
/// what `mcpgw auth who` explains.
pub(crate) fn covering<'m>(model: &'m Model, virtual_server: &str, item: &Published, method: &str) -> Vec<&'m Rule> {
    let own = model.virtual_server(virtual_server).map(|v| &v.access[..]).unwrap_or_default();
    model.access.iter().chain(own).filter(|r| covers(r, method, Some(item), None)).collect()
}

/// Whether the rule names this caller. A rule naming no callers names everyone, anonymous
/// callers included; any other names authenticated callers only.
fn names(rule: &Rule, principal: Option<&Principal>) -> bool {
    if !rule.names_callers() {
        return true;
    }
    let Some(p) = principal else { return false };
    let any = |patterns: &[crate::model::Pattern], values: &[String]| {
        patterns.is_empty() || patterns.iter().any(|pattern| values.iter().any(|v| pattern.matches(v)))
    };
    (rule.subjects.is_empty() || rule.subjects.iter().any(|s| s.matches(&p.subject)))
        && any(&rule.groups, &p.groups)
        && any(&rule.scopes, &p.scopes)
        && rule.claims.iter().all(|c| c.matches(&p.claims))
}

/// The 403 a token lacking scopes gets: every scope the request needs, in one challenge.
fn insufficient_scope(needed: &[&str], metadata: bool) -> GatewayError {
    let message = format!("this needs a token with the scopes {}", needed.join(" "));
    let mut e = GatewayError::new(Kind::InsufficientScope, Source::Policy, message.clone());
    e.challenge = Some(Challenge {
        bearer: true,
        basic: false,
        metadata,
        error: Some(("insufficient_scope", message)),
        scope: needed.iter().map(|s| s.to_string()).collect(),
    });
    e
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::routing::Route;
    use crate::session::{Binding, Caller, Method};

    fn rules(yaml: &str) -> Rules {
        let text = format!("upstreams: {{ a: {{ url: 'http://a/mcp' }} }}\n{yaml}");
        let loaded = crate::config::parse(Path::new("g.yaml"), &text).unwrap();
        let (model, ds) = crate::model::validate(&loaded, &HashMap::<String, String>::new(), Path::new("."));
        Rules::build(&model.unwrap_or_else(|| panic!("{ds:?}"))).expect("rules are declared")
    }

    fn item(kind: ItemKind, key: &str) -> Published {
        Published {
            kind,
            public_key: key.into(),
            route: Route { upstream: "a".into(), upstream_key: key.into() },
            json: crate::protocol::jsonrpc::raw(&serde_json::json!({})),
            arguments: Vec::new(),
        }
    }

    fn caller(subject: &str, scopes: &[&str], claims: serde_json::Value) -> Caller {
        let principal = Principal {
            subject: subject.into(),
            method: Method::ApiKey,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            groups: vec!["staff".into()],
            claims: claims.as_object().cloned().unwrap_or_default(),
            token_id: None,
        };
        Caller {
            identity: Identity::Principal(Arc::new(principal)),
            peer: None,
            binding: Binding::JsonRpc,
            presented: None,
        }
    }

    /// The decision, in one word: `ok`, `hidden`, or the refusal's kind.
    fn decide(rules: &Rules, caller: &Caller, item: Option<&Published>, method: &str, listing: bool) -> String {
        let subject = Subject { caller, virtual_server: "default", method, item, uri: None, listing };
        match rules.check(&subject) {
            Ok(()) => "ok".into(),
            Err(Denial::Hidden) => "hidden".into(),
            Err(Denial::Refused(e)) => format!("{:?}", e.kind),
        }
    }

    #[test]
    fn deny_wins_and_hides_items_but_refuses_requests_naming_none() {
        let rules = rules(
            "access:\n  - allow: {}\n  - deny: { subjects: ['intern-*'], tools: ['*_delete'] }\n  - deny: { subjects: [mallory] }\n",
        );
        let delete = item(ItemKind::Tool, "a_delete");
        let read = item(ItemKind::Tool, "a_read");
        let intern = caller("intern-3", &[], serde_json::json!({}));
        assert_eq!(decide(&rules, &intern, Some(&delete), "tools/call", false), "hidden");
        assert_eq!(decide(&rules, &intern, Some(&delete), "tools/call", true), "hidden", "lists filter alike");
        assert_eq!(decide(&rules, &intern, Some(&read), "tools/call", false), "ok");
        assert_eq!(decide(&rules, &intern, None, "initialize", false), "ok");
        let mallory = caller("mallory", &[], serde_json::json!({}));
        assert_eq!(decide(&rules, &mallory, None, "initialize", false), "Forbidden");
        assert_eq!(decide(&rules, &mallory, Some(&read), "tools/call", false), "hidden");
        assert_eq!(decide(&rules, &mallory, None, "resources/unsubscribe", false), "ok", "letting go is never refused");
    }

    #[test]
    fn with_allow_rules_only_what_they_cover_is_usable() {
        let rules = rules(
            "access:\n  - allow: { claims: { team: infra }, tools: ['a_*'] }\n  - allow: { subjects: [ann], methods: ['resources/read'], resources: ['file:///public/*'] }\n",
        );
        let tool = item(ItemKind::Tool, "a_run");
        let infra = caller("bob", &[], serde_json::json!({"team": "infra"}));
        let web = caller("carl", &[], serde_json::json!({"team": "web"}));
        let ann = caller("ann", &[], serde_json::json!({}));
        assert_eq!(decide(&rules, &infra, Some(&tool), "tools/call", false), "ok");
        assert_eq!(decide(&rules, &web, Some(&tool), "tools/call", false), "hidden");
        assert_eq!(decide(&rules, &web, None, "initialize", false), "Forbidden", "named by no allow: not let in");
        assert_eq!(
            decide(&rules, &Caller::local(), None, "tools/list", false),
            "Forbidden",
            "anonymous callers are named by no rule here"
        );
        assert_eq!(decide(&rules, &ann, None, "tools/list", false), "ok");
        assert_eq!(decide(&rules, &ann, Some(&tool), "tools/call", false), "hidden");
        // A template is matched by the URI read through it, so a rule can cover part of it.
        let template = item(ItemKind::ResourceTemplate, "file:///{path}");
        let read = |uri| {
            let subject = Subject {
                caller: &ann,
                virtual_server: "default",
                method: "resources/read",
                item: Some(&template),
                uri: Some(uri),
                listing: false,
            };
            rules.check(&subject).is_ok()
        };
        assert!(read("file:///public/a"));
        assert!(!read("file:///secret/a"));
        // Spellings that lead elsewhere than their text shows are not covered by an allow.
        for dodge in
            ["file:///public/../secret/a", "file:///public/%2e%2e/secret/a", "file:///public//a", "file:///public/./a"]
        {
            assert!(!read(dodge), "{dodge}");
        }
        assert_eq!(
            decide(&rules, &ann, Some(&template), "resources/read", true),
            "hidden",
            "the template itself is not covered"
        );
    }

    #[test]
    fn uris_are_read_in_plain_form() {
        for (uri, plain) in [
            ("file:///secret/key", "file:///secret/key"),
            ("file:///public/../secret/key", "file:///secret/key"),
            ("file:///./secret/key", "file:///secret/key"),
            ("file:////secret//key", "file:///secret/key"),
            ("file:///%73ecret/key", "file:///secret/key"),
            ("file:///public\\..\\secret/key", "file:///secret/key"),
            ("file:///../../etc/", "file:///etc/"),
            ("https://host/a/b/../c", "https://host/a/c"),
            ("https://host/../x", "https://host/x"),
        ] {
            assert_eq!(plain_uri(uri), plain, "{uri}");
        }
        let rules = rules("access:\n  - deny: { resources: ['file:///secret/*'] }\n");
        let template = item(ItemKind::ResourceTemplate, "file:///{path}");
        let anyone = caller("ann", &[], serde_json::json!({}));
        for uri in ["file:///secret/key", "file:///public/../secret/key", "file:///%73ecret/key", "file:////secret/key"]
        {
            let subject = Subject {
                caller: &anyone,
                virtual_server: "default",
                method: "resources/read",
                item: Some(&template),
                uri: Some(uri),
                listing: false,
            };
            assert!(matches!(rules.check(&subject), Err(Denial::Hidden)), "{uri} dodged the deny");
        }
    }

    #[test]
    fn an_allow_listing_methods_covers_only_those_among_requests_naming_no_item() {
        let rules = rules("access:\n  - allow: { subjects: [ann], methods: ['tools/call'], tools: ['a_*'] }\n");
        let ann = caller("ann", &[], serde_json::json!({}));
        for method in ["initialize", "ping", "tools/list", "resources/list"] {
            assert_eq!(decide(&rules, &ann, None, method, false), "ok", "{method}");
        }
        assert_eq!(decide(&rules, &ann, None, "logging/setLevel", false), "Forbidden");
        assert_eq!(decide(&rules, &ann, None, "subscriptions/listen", false), "Forbidden");
    }

    #[test]
    fn require_refuses_with_every_scope_needed_and_leaves_lists_alone() {
        let rules = rules(
            "access:\n  - require: { scopes: [files.read], tools: ['a_*'] }\n  - require: { scopes: [files.write, files.read], tools: ['a_write'] }\n",
        );
        let write = item(ItemKind::Tool, "a_write");
        let reader = caller("ann", &["files.read"], serde_json::json!({}));
        let writer = caller("bob", &["files.read", "files.write", "extra"], serde_json::json!({}));
        assert_eq!(decide(&rules, &writer, Some(&write), "tools/call", false), "ok");
        assert_eq!(decide(&rules, &reader, Some(&write), "tools/call", true), "ok", "listed all the same");
        let subject = Subject {
            caller: &reader,
            virtual_server: "default",
            method: "tools/call",
            item: Some(&write),
            uri: None,
            listing: false,
        };
        let Err(Denial::Refused(e)) = rules.check(&subject) else { panic!("went on without files.write") };
        assert_eq!(e.kind, Kind::InsufficientScope);
        let challenge = e.challenge.as_ref().expect("a scope challenge");
        assert_eq!(challenge.scope, ["files.read", "files.write"], "every scope the call needs, once each");
        assert_eq!(challenge.error.as_ref().map(|(code, _)| *code), Some("insufficient_scope"));
        assert_eq!(
            decide(&rules, &reader, None, "tools/list", false),
            "ok",
            "a rule naming items does not cover lists"
        );
    }
}
