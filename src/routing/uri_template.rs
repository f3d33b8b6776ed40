//! Matching a concrete URI against an RFC 6570 URI template, to find which upstream serves it.

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    /// `{x}`: one or more characters other than `/`, `?` and `#`.
    Simple,
    /// `{+x}`, `{#x}`: anything, including `/`.
    Reserved,
    /// `{?x}`, `{&x}`: an optional query part, to the end.
    Query,
    /// `{/x}`, `{.x}`, `{;x}`: an optional run introduced by that character.
    Prefixed(char),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    pub(crate) fn parse(template: &str) -> UriTemplate {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                parts.push(Part::Literal(rest[open..].to_string()));
                rest = "";
                break;
            };
            let expr = &rest[open + 1..open + close];
            parts.push(match expr.chars().next() {
                Some('+' | '#') => Part::Reserved,
                Some('?' | '&') => Part::Query,
                Some(c @ ('/' | '.' | ';')) => Part::Prefixed(c),
                _ => Part::Simple,
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        UriTemplate { parts }
    }

    pub(crate) fn matches(&self, uri: &str) -> bool {
        match_parts(&self.parts, uri)
    }
}

fn match_parts(parts: &[Part], uri: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return uri.is_empty();
    };
    match first {
        Part::Literal(lit) => uri.strip_prefix(lit.as_str()).is_some_and(|tail| match_parts(rest, tail)),
        Part::Query => (uri.is_empty() || uri.starts_with(['?', '&'])) && rest.is_empty(),
        Part::Simple | Part::Reserved | Part::Prefixed(_) => {
            if let Part::Prefixed(c) = first
                && !uri.starts_with(*c)
            {
                return match_parts(rest, uri);
            }
            let min = if matches!(first, Part::Prefixed(_)) { 0 } else { 1 };
            let stop = |ch: char| matches!(first, Part::Simple) && matches!(ch, '/' | '?' | '#');
            let mut end = 0;
            for (i, ch) in uri.char_indices() {
                if i >= min && match_parts(rest, &uri[i..]) {
                    return true;
                }
                if stop(ch) {
                    return false;
                }
                end = i + ch.len_utf8();
            }
            end >= min.max(1) && match_parts(rest, "")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(template: &str, uri: &str, expected: bool) {
        assert_eq!(UriTemplate::parse(template).matches(uri), expected, "{template} ~ {uri}");
    }

    #[test]
    fn template_cases() {
        check("test://static/resource/{id}", "test://static/resource/42", true);
        check("test://static/resource/{id}", "test://static/resource/", false);
        check("test://static/resource/{id}", "test://static/resource/4/2", false);
        check("file:///{+path}", "file:///etc/hosts", true);
        check("users://{user}/profile", "users://ann/profile", true);
        check("users://{user}/profile", "users://ann/settings", false);
        check("search://q{?term,page}", "search://q?term=x&page=2", true);
        check("search://q{?term,page}", "search://q", true);
        check("static://exact", "static://exact", true);
        check("static://exact", "static://exactly", false);
    }
}
