//! Checking `access` rules (top level and per virtual server): one effect per rule, patterns that
//! are not empty, methods the protocol has, `require` with scopes only. Then, once a virtual
//! server's authentication is known, whether its rules can match anyone at all: rules naming
//! callers where nobody authenticates, scopes and groups where no tokens are taken, claim names
//! no API key has.

use indexmap::IndexMap;

use super::Validator;
use crate::config::diagnostic::did_you_mean;
use crate::config::raw::{RawClaimValue, RawMatch, RawRule, RawScalar};
use crate::model::Pattern;
use crate::model::access::{ClaimMatch, Effect, Expected, Rule};
use crate::model::auth::Auth;
use crate::protocol::methods::{METHODS, Target};

/// Whether a method pattern matches a method that names an item.
fn takes_items(pattern: &Pattern) -> bool {
    METHODS.iter().any(|m| pattern.matches(m.name) && matches!(m.target, Target::Name | Target::Uri | Target::Ref))
}

impl Validator<'_> {
    /// The rules of the `access` list at `path`.
    pub(super) fn access(&mut self, path: &str, raw: Option<&[RawRule]>) -> Vec<Rule> {
        let mut rules = Vec::new();
        for (i, rule) in raw.into_iter().flatten().enumerate() {
            let at = format!("{path}[{i}]");
            let given: Vec<(Effect, &RawMatch)> = [
                (Effect::Allow, rule.allow.as_ref()),
                (Effect::Deny, rule.deny.as_ref()),
                (Effect::Require, rule.require.as_ref()),
            ]
            .into_iter()
            .filter_map(|(effect, m)| Some((effect, m?)))
            .collect();
            let [(effect, matching)] = given[..] else {
                self.error(
                    &at,
                    "a rule is exactly one of `allow`, `deny` or `require`",
                    "write each as its own list entry, e.g. `- deny: { tools: [\"*_delete\"] }`",
                );
                continue;
            };
            if let Some(rule) = self.rule(&format!("{at}.{}", effect.key()), effect, matching) {
                rules.push(rule);
            }
        }
        rules
    }

    fn rule(&mut self, at: &str, effect: Effect, raw: &RawMatch) -> Option<Rule> {
        let patterns = |v: &mut Self, key: &str, list: &Option<Vec<String>>| -> Vec<Pattern> {
            list.iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, p)| {
                    if p.is_empty() {
                        v.error(&format!("{at}.{key}[{i}]"), "empty pattern", "write a name, or `*` for any");
                        return None;
                    }
                    Some(Pattern::new(p))
                })
                .collect()
        };
        let mut rule = Rule {
            effect,
            at: at.to_string(),
            subjects: patterns(self, "subjects", &raw.subjects),
            groups: patterns(self, "groups", &raw.groups),
            scopes: Vec::new(),
            claims: self.claims(at, raw.claims.as_ref()),
            required: Vec::new(),
            methods: patterns(self, "methods", &raw.methods),
            tools: patterns(self, "tools", &raw.tools),
            resources: patterns(self, "resources", &raw.resources),
            prompts: patterns(self, "prompts", &raw.prompts),
        };
        // An empty list would match anything, as if left out: a rule quietly wider than written.
        let lists = [
            ("subjects", raw.subjects.as_ref().map(Vec::len)),
            ("groups", raw.groups.as_ref().map(Vec::len)),
            ("scopes", raw.scopes.as_ref().map(Vec::len)),
            ("methods", raw.methods.as_ref().map(Vec::len)),
            ("tools", raw.tools.as_ref().map(Vec::len)),
            ("resources", raw.resources.as_ref().map(Vec::len)),
            ("prompts", raw.prompts.as_ref().map(Vec::len)),
            ("claims", raw.claims.as_ref().map(IndexMap::len)),
        ];
        for (key, len) in lists {
            if len == Some(0) {
                self.error(
                    &format!("{at}.{key}"),
                    format!("`{key}` is empty, which would match anything as if it were left out"),
                    &format!("list what the rule is about, or remove `{key}`"),
                );
            }
        }
        for (i, method) in rule.methods.iter().enumerate() {
            if !METHODS.iter().any(|m| method.matches(m.name)) {
                let nearest = did_you_mean(method.as_str(), METHODS.iter().map(|m| m.name));
                let help = match nearest {
                    Some(m) => format!("did you mean \"{m}\"?"),
                    None => "name MCP methods such as `tools/call`, `resources/read`, `prompts/get`".to_string(),
                };
                let message = format!("\"{}\" matches no MCP method, so this rule would never apply", method.as_str());
                self.error(&format!("{at}.methods[{i}]"), message, &help);
            }
        }
        let all_known = rule.methods.iter().all(|m| METHODS.iter().any(|known| m.matches(known.name)));
        if rule.names_items() && !rule.methods.is_empty() && all_known && !rule.methods.iter().any(takes_items) {
            self.error(
                &format!("{at}.methods"),
                "none of these methods uses an item, so a rule naming items would never apply",
                "name the methods that use them (`tools/call`, `resources/read`, `prompts/get`, `resources/subscribe`, `completion/complete`); lists are decided as those",
            );
        }
        if effect == Effect::Require {
            if rule.names_callers() {
                self.error(
                    at,
                    "`require` names the scopes needed; it does not select callers",
                    "keep `scopes`, `methods`, `tools`, `resources` and `prompts` here; select callers in `allow`/`deny` rules",
                );
            }
            let scopes = raw.scopes.as_deref().unwrap_or_default();
            if scopes.is_empty() {
                if raw.scopes.is_none() {
                    self.error(
                        at,
                        "`require` lists no scopes",
                        "list the scopes a token needs, e.g. `scopes: [files.write]`",
                    );
                }
                return None;
            }
            for (i, scope) in scopes.iter().enumerate() {
                if scope.is_empty() || scope.contains(char::is_whitespace) || scope.contains(['*', '?']) {
                    self.error(
                        &format!("{at}.scopes[{i}]"),
                        format!("{scope:?} is not a scope"),
                        "write one exact scope per entry, without spaces or wildcards",
                    );
                } else {
                    rule.required.push(scope.clone());
                }
            }
        } else {
            rule.scopes = patterns(self, "scopes", &raw.scopes);
        }
        Some(rule)
    }

    fn claims(&mut self, at: &str, raw: Option<&IndexMap<String, RawClaimValue>>) -> Vec<ClaimMatch> {
        let mut out = Vec::new();
        for (path, value) in raw.into_iter().flatten() {
            let key = format!("{at}.claims.{path}");
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            if segments.iter().any(String::is_empty) {
                self.error(
                    &key,
                    format!("\"{path}\" is not a claim path"),
                    "name a claim, or a path into one: `org.team`",
                );
                continue;
            }
            let scalars: Vec<&RawScalar> = match value {
                RawClaimValue::One(one) => vec![one],
                RawClaimValue::Any(any) => any.iter().collect(),
            };
            if scalars.is_empty() {
                self.error(&key, "no value is listed, so the rule could never match", "list the values that match");
                continue;
            }
            let values = scalars
                .into_iter()
                .map(|s| match s {
                    RawScalar::Text(t) => Expected::Text(Pattern::new(t)),
                    RawScalar::Bool(b) => Expected::Exact(serde_json::Value::Bool(*b)),
                    RawScalar::Number(n) => Expected::Exact(serde_json::Value::Number(n.clone())),
                })
                .collect();
            out.push(ClaimMatch { path: segments, values });
        }
        out
    }

    /// Says when rules that apply where `auth` holds could never match: callers named where
    /// nobody is authenticated, scopes and groups where no tokens are accepted, claims no API key
    /// carries.
    pub(super) fn access_fits_auth(&mut self, rules: &[Rule], auth: &Auth, auth_at: &str) {
        for rule in rules {
            let methods = match auth {
                Auth::Required(methods) => methods,
                Auth::Open | Auth::Unset => {
                    if rule.effect == Effect::Require {
                        self.warning(
                            &rule.at,
                            "callers are anonymous here (no `auth`) and hold no scopes, so every caller is refused what this rule covers",
                            &format!("configure `{auth_at}` with `jwt`, or remove the rule"),
                        );
                    }
                    if rule.names_callers() {
                        self.warning(
                            &rule.at,
                            "callers are anonymous here (no `auth`), so a rule that names callers never matches them",
                            &format!("configure `{auth_at}`, or drop the caller fields from this rule"),
                        );
                    }
                    continue;
                }
            };
            if methods.jwt.is_some() {
                continue;
            }
            if rule.effect == Effect::Require {
                self.warning(
                    &rule.at,
                    format!("only tokens carry scopes, and `{auth_at}` accepts no `jwt`, so every caller is refused what this rule covers"),
                    "accept tokens (`jwt`), or use `allow`/`deny` rules by `subjects` or `claims`",
                );
            }
            for (key, used) in [("scopes", !rule.scopes.is_empty()), ("groups", !rule.groups.is_empty())] {
                if used {
                    self.warning(
                        &format!("{}.{key}", rule.at),
                        format!("only tokens carry {key}, and `{auth_at}` accepts no `jwt`, so this never matches"),
                        "match API keys by `subjects` or `claims` (their attributes)",
                    );
                }
            }
            let attributes: Vec<&str> =
                methods.api_keys.iter().flat_map(|k| k.attributes.keys().map(String::as_str)).collect();
            for claim in &rule.claims {
                let name = claim.path.join(".");
                if attributes.contains(&name.as_str()) {
                    continue;
                }
                let help = match did_you_mean(&name, attributes.iter().copied()) {
                    Some(m) => format!("did you mean \"{m}\"?"),
                    None if attributes.is_empty() => "give the API keys `attributes`, or match by `subjects`".into(),
                    None => format!("API keys here have the attributes {}", attributes.join(", ")),
                };
                self.warning(
                    &format!("{}.claims.{name}", rule.at),
                    format!("no API key has the attribute \"{name}\", and `{auth_at}` accepts no `jwt`"),
                    &help,
                );
            }
        }
    }
}
