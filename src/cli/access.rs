//! `mcpgw auth may` and `mcpgw auth who`: the file's `access` rules answered for a review.
//! `may` takes a caller (a token or API key, checked exactly as serving checks it, or a subject
//! with groups, scopes and claims) and says, item by item, what it may use on each virtual
//! server, deciding with the very policy chain that serves requests. `who` takes an item and
//! lists the rules that decide who may use it.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::auth::Credentials;
use crate::config::env::ProcessEnv;
use crate::error::Kind;
use crate::model::access::{Effect, Rule};
use crate::model::{Model, Pattern};
use crate::policy::{Denial, Subject, use_method};
use crate::protocol::ItemKind;
use crate::reload::{Reloader, prepare};
use crate::routing::{Published, Route};
use crate::session::{Binding, Caller, Identity, Method, Principal};

/// Longest wait for upstreams to connect before their items are judged.
const WAIT: Duration = Duration::from_secs(10);

/// Who `may` asks about.
pub(super) struct Who {
    pub token: Option<String>,
    pub api_key: Option<String>,
    pub subject: Option<String>,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    /// `path=value` pairs.
    pub claims: Vec<String>,
}

pub(super) fn may(config: &Path, server: Option<&str>, who: Who) -> ExitCode {
    let result = super::live::with_upstreams(config, WAIT, async |reloader: &Reloader| {
        let snapshot = reloader.live.snapshot();
        let servers: Vec<&str> = match server {
            Some(name) if snapshot.model.virtual_server(name).is_none() => {
                return Err(format!("no virtual server \"{name}\" in {}", config.display()));
            }
            Some(name) => vec![name],
            None => snapshot.model.virtual_servers.iter().map(|v| v.name.as_str()).collect(),
        };
        let mut out = String::new();
        for vs in servers {
            let caller = caller(&snapshot, vs, &who).await?;
            out.push_str(&format!("{vs}: {}\n", describe(&caller)));
            let Some(catalog) = snapshot.table.catalog(vs) else { continue };
            let decide = |method: &str, item: Option<&Published>| {
                let subject = Subject { caller: &caller, virtual_server: vs, method, item, uri: None, listing: false };
                match snapshot.policy.check(&subject) {
                    Ok(()) => "may use".to_string(),
                    Err(Denial::Hidden) => "hidden".to_string(),
                    Err(Denial::Refused(e)) if e.kind == Kind::InsufficientScope => {
                        let scopes = e.challenge.as_ref().map(|c| c.scope.join(" ")).unwrap_or_default();
                        format!("needs the scopes {scopes}")
                    }
                    Err(Denial::Refused(e)) => format!("refused: {}", e.message),
                }
            };
            let admitted = decide("initialize", None);
            if admitted != "may use" {
                out.push_str(&format!("  {admitted}\n"));
                continue;
            }
            for kind in [ItemKind::Tool, ItemKind::Resource, ItemKind::ResourceTemplate, ItemKind::Prompt] {
                for item in catalog.list(kind) {
                    let verdict = decide(use_method(kind), Some(item));
                    out.push_str(&format!("  {} {}: {verdict}\n", noun(kind), item.public_key));
                }
            }
        }
        let unknown: Vec<&str> = snapshot
            .upstreams
            .iter()
            .filter(|(_, h)| h.status().state != crate::upstream::UpstreamState::Up)
            .map(|(name, _)| name.as_str())
            .collect();
        if !unknown.is_empty() {
            out.push_str(&format!("(not connected, so their items are not listed: {})\n", unknown.join(", ")));
        }
        Ok(out)
    });
    match result {
        Ok(Ok(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Err(why)) => {
            eprintln!("error: {why}");
            ExitCode::from(1)
        }
        Err(code) => code,
    }
}

/// The caller `who` describes, as the virtual server's authentication makes it.
async fn caller(snapshot: &crate::live::Snapshot, vs: &str, who: &Who) -> Result<Caller, String> {
    let presented = match (&who.token, &who.api_key) {
        (Some(token), None) => Some((Some(format!("Bearer {token}")), None)),
        (None, Some(key)) => Some((None, Some(key.as_str()))),
        (None, None) => None,
        (Some(_), Some(_)) => return Err("give --token or --api-key, not both".into()),
    };
    if let Some((authorization, api_key)) = presented {
        let credentials =
            Credentials { authorization: authorization.as_deref(), api_key, query_token: false, certificate: None };
        let loopback = snapshot.model.listen.ip().is_loopback();
        return snapshot
            .gate
            .authenticate(vs, &credentials, None, Binding::Command, loopback)
            .await
            .map_err(|e| format!("{vs}: the credentials are refused: {}", e.message));
    }
    let Some(subject) = &who.subject else {
        if who.groups.is_empty() && who.scopes.is_empty() && who.claims.is_empty() {
            return Ok(Caller::local());
        }
        return Err("name the caller with --subject (or give --token or --api-key)".into());
    };
    let mut claims = Map::new();
    for pair in &who.claims {
        let (path, value) = pair.split_once('=').ok_or_else(|| format!("--claim {pair}: write path=value"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        insert_claim(&mut claims, path, value);
    }
    let principal = Principal {
        subject: subject.clone(),
        method: Method::Jwt { issuer: "(given on the command line)".into() },
        scopes: who.scopes.clone(),
        groups: who.groups.clone(),
        claims,
        token_id: None,
    };
    Ok(Caller {
        identity: Identity::Principal(Arc::new(principal)),
        peer: None,
        binding: Binding::Command,
        presented: None,
    })
}

/// Puts `value` at the dotted `path` of `claims`.
fn insert_claim(claims: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            claims.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let inner = claims.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !inner.is_object() {
                *inner = Value::Object(Map::new());
            }
            if let Value::Object(inner) = inner {
                insert_claim(inner, rest, value);
            }
        }
    }
}

fn describe(caller: &Caller) -> String {
    match &caller.identity {
        Identity::Anonymous => "an anonymous caller".into(),
        Identity::Principal(p) => {
            let mut parts = vec![format!("caller {}", p.subject)];
            if !p.scopes.is_empty() {
                parts.push(format!("scopes {}", p.scopes.join(" ")));
            }
            if !p.groups.is_empty() {
                parts.push(format!("groups {}", p.groups.join(" ")));
            }
            parts.join("; ")
        }
    }
}

fn noun(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Tool => "tool",
        ItemKind::Prompt => "prompt",
        ItemKind::Resource => "resource",
        ItemKind::ResourceTemplate => "resource template",
    }
}

/// `who`: the rules that decide who may use one item, per virtual server. Read from the file
/// alone; nothing connects.
pub(super) fn who(config: &Path, server: Option<&str>, kind: ItemKind, name: &str) -> ExitCode {
    let prepared = match prepare(config, &ProcessEnv) {
        Ok(p) => p,
        Err(_) => {
            eprintln!("error: {} is not valid; run `mcpgw check {}`", config.display(), config.display());
            return ExitCode::from(1);
        }
    };
    let model: &Model = &prepared.model;
    let item = Published {
        kind,
        public_key: name.to_string(),
        route: Route { upstream: String::new(), upstream_key: name.to_string() },
        json: crate::protocol::jsonrpc::raw(&serde_json::json!({})),
        arguments: Vec::new(),
    };
    let mut out = String::new();
    for vs in &model.virtual_servers {
        if server.is_some_and(|s| s != vs.name) {
            continue;
        }
        let rules = crate::policy::covering(model, &vs.name, &item, use_method(kind));
        let has_allow = model.access.iter().chain(&vs.access).any(|r| r.effect == Effect::Allow);
        out.push_str(&format!("{} {name} on {}:\n", noun(kind), vs.name));
        let listed = |effect: Effect| rules.iter().filter(move |r| r.effect == effect);
        for rule in listed(Effect::Deny) {
            out.push_str(&format!("  hidden from {} ({})\n", callers(rule), rule.at));
        }
        for rule in listed(Effect::Allow) {
            out.push_str(&format!("  allowed to {} ({})\n", callers(rule), rule.at));
        }
        if has_allow && listed(Effect::Allow).next().is_none() {
            out.push_str("  allowed to nobody: the virtual server has `allow` rules and none covers it\n");
        }
        if !has_allow {
            out.push_str(
                "  allowed to every caller the virtual server admits, unless hidden above (no `allow` rules)\n",
            );
        }
        for rule in listed(Effect::Require) {
            out.push_str(&format!("  requires the scopes {} ({})\n", rule.required.join(" "), rule.at));
        }
    }
    if out.is_empty() {
        eprintln!("error: no virtual server \"{}\"", server.unwrap_or_default());
        return ExitCode::from(1);
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// The callers a rule names, in words.
fn callers(rule: &Rule) -> String {
    if !rule.names_callers() {
        return "everyone".into();
    }
    let list = |patterns: &[Pattern]| patterns.iter().map(Pattern::as_str).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    for (what, patterns) in [("subjects", &rule.subjects), ("groups", &rule.groups), ("scopes", &rule.scopes)] {
        if !patterns.is_empty() {
            parts.push(format!("{what} {}", list(patterns)));
        }
    }
    for claim in &rule.claims {
        let values: Vec<String> = claim
            .values
            .iter()
            .map(|v| match v {
                crate::model::access::Expected::Text(p) => p.as_str().to_string(),
                crate::model::access::Expected::Exact(v) => v.to_string(),
            })
            .collect();
        parts.push(format!("claim {} = {}", claim.path.join("."), values.join(" or ")));
    }
    parts.join(" and ")
}
