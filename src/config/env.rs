//! `${VAR}` and `${VAR:-default}` expansion in parsed string values, through an injectable
//! environment so tests never touch the process environment.

use std::collections::HashMap;

/// Where variable values come from.
pub(crate) trait Env: Send + Sync {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExpandError {
    /// `${NAME}` with NAME unset and no default.
    Unset(String),
    /// `${` without a closing brace, or a malformed name.
    Malformed(String),
}

/// Expands `${VAR}`, `${VAR:-default}` and `$$` (a literal `$`). A `$` followed by anything else
/// stays as written, so JSONPath `$.a` or OData `$top` need no escaping.
pub(crate) fn expand(text: &str, env: &dyn Env) -> Result<String, ExpandError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| ExpandError::Malformed(rest[i..].to_string()))?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ExpandError::Malformed(format!("${{{inner}}}")));
            }
            match (env.var(name), default) {
                (Some(v), _) if !(v.is_empty() && default.is_some()) => out.push_str(&v),
                (_, Some(d)) => out.push_str(d),
                (Some(v), None) => out.push_str(&v),
                (None, None) => return Err(ExpandError::Unset(name.to_string())),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, ExpandError>) {
        let env: HashMap<String, String> =
            [("TOKEN", "s3cret"), ("EMPTY", "")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(expand(text, &env), expected.map(str::to_string), "{text}");
    }

    #[test]
    fn expansion_cases() {
        check("plain", Ok("plain"));
        check("Bearer ${TOKEN}", Ok("Bearer s3cret"));
        check("${MISSING:-fallback}", Ok("fallback"));
        check("${EMPTY:-fallback}", Ok("fallback"));
        check("${EMPTY}", Ok(""));
        check("$$HOME", Ok("$HOME"));
        check("$.items[0]", Ok("$.items[0]"));
        check("$top=5", Ok("$top=5"));
        check("${MISSING}", Err(ExpandError::Unset("MISSING".into())));
        check("${TOKEN", Err(ExpandError::Malformed("${TOKEN".into())));
        check("${BAD NAME}", Err(ExpandError::Malformed("${BAD NAME}".into())));
    }
}
