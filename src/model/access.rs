//! Authorization rules as the file declares them, checked: who a rule names (subjects, groups,
//! scopes, claims), what it names (methods, tools, resources, prompts), and its effect. The
//! policy that applies them is built by `policy::rules`.

use serde_json::Value;

use super::Pattern;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
    /// The caller must hold every scope of `Rule::required`.
    Require,
}

impl Effect {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::Require => "require",
        }
    }
}

/// One rule. Empty lists match anything; a non-empty list matches when one entry does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    pub effect: Effect,
    /// Where the rule is written (`access[2]`, `virtual_servers.ops.access[0]`), for logs.
    pub at: String,
    pub subjects: Vec<Pattern>,
    pub groups: Vec<Pattern>,
    /// `allow`/`deny`: the caller holds one of these.
    pub scopes: Vec<Pattern>,
    /// Every claim listed must have one of its values.
    pub claims: Vec<ClaimMatch>,
    /// `require`: the scopes needed, all of them.
    pub required: Vec<String>,
    pub methods: Vec<Pattern>,
    pub tools: Vec<Pattern>,
    pub resources: Vec<Pattern>,
    pub prompts: Vec<Pattern>,
}

impl Rule {
    /// Whether the rule names callers at all (a rule that names none matches every caller,
    /// anonymous ones included).
    pub(crate) fn names_callers(&self) -> bool {
        !(self.subjects.is_empty() && self.groups.is_empty() && self.scopes.is_empty() && self.claims.is_empty())
    }

    /// Whether the rule names items (then it applies to those items only, never to requests that
    /// name no item such as `initialize` or a list).
    pub(crate) fn names_items(&self) -> bool {
        !(self.tools.is_empty() && self.resources.is_empty() && self.prompts.is_empty())
    }
}

/// A claim, by path, and the values that satisfy it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClaimMatch {
    /// The dotted path, split (`org.team` → `["org", "team"]`).
    pub path: Vec<String>,
    pub values: Vec<Expected>,
}

/// One acceptable value of a claim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expected {
    /// A string claim matching this pattern.
    Text(Pattern),
    /// A boolean or number claim equal to this.
    Exact(Value),
}

impl ClaimMatch {
    /// Whether the claims hold one of the values at the path (a list claim: in one of its
    /// entries). A claim whose own name has dots (`https://example.com/roles`, an attribute
    /// `team.name`) is found by its whole name first.
    pub(crate) fn matches(&self, claims: &serde_json::Map<String, Value>) -> bool {
        let whole = claims.get(&self.path.join("."));
        let at = whole.or_else(|| {
            let (first, rest) = self.path.split_first()?;
            rest.iter().try_fold(claims.get(first)?, |value, segment| value.get(segment))
        });
        match at {
            Some(Value::Array(entries)) => entries.iter().any(|e| self.accepts(e)),
            Some(one) => self.accepts(one),
            None => false,
        }
    }

    /// Scalars compare by their text, so an API key's attribute `"3"` matches `3` and a token's
    /// `true` matches `"true"`; numbers compare exactly (integers beyond 2^53 included).
    fn accepts(&self, value: &Value) -> bool {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => return false,
        };
        self.values.iter().any(|expected| match expected {
            Expected::Text(pattern) => pattern.matches(&text),
            Expected::Exact(Value::Number(n)) => match value {
                Value::Number(m) => same_number(n, m),
                _ => text == n.to_string(),
            },
            Expected::Exact(Value::Bool(b)) => text == if *b { "true" } else { "false" },
            Expected::Exact(_) => false,
        })
    }
}

/// Integers compare as integers; only numbers with a fraction compare as floating point.
fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ if a.is_f64() || b.is_f64() => a.as_f64() == b.as_f64(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(path: &str, values: Vec<Expected>) -> ClaimMatch {
        ClaimMatch { path: path.split('.').map(str::to_string).collect(), values }
    }

    #[test]
    fn claims_match_by_path_pattern_and_list_entry() {
        let claims = json!({"org": {"team": "infra-eu", "level": 3}, "roles": ["reader", "admin"], "staff": true});
        let claims = claims.as_object().unwrap();
        assert!(claim("org.team", vec![Expected::Text(Pattern::new("infra-*"))]).matches(claims));
        assert!(!claim("org.team", vec![Expected::Text(Pattern::new("web"))]).matches(claims));
        assert!(claim("roles", vec![Expected::Text(Pattern::new("admin"))]).matches(claims));
        assert!(claim("org.level", vec![Expected::Exact(json!(3.0))]).matches(claims));
        assert!(claim("staff", vec![Expected::Exact(json!(true))]).matches(claims));
        assert!(claim("staff", vec![Expected::Text(Pattern::new("true"))]).matches(claims), "compared as text");
        assert!(!claim("org.missing", vec![Expected::Text(Pattern::new("*"))]).matches(claims));
        // An API key's attributes are strings.
        let attributes = json!({"level": "3", "contractor": "true", "team.name": "infra"});
        let attributes = attributes.as_object().unwrap();
        assert!(claim("level", vec![Expected::Exact(json!(3))]).matches(attributes));
        assert!(claim("contractor", vec![Expected::Exact(json!(true))]).matches(attributes));
        assert!(claim("team.name", vec![Expected::Text(Pattern::new("infra"))]).matches(attributes), "a dotted name");
        // Large integers are not rounded together.
        let ids = json!({"org": 1234567890123456789u64});
        let ids = ids.as_object().unwrap();
        assert!(claim("org", vec![Expected::Exact(json!(1234567890123456789u64))]).matches(ids));
        assert!(!claim("org", vec![Expected::Exact(json!(1234567890123456788u64))]).matches(ids));
    }
}
