//! `Pattern`: a name or URI pattern where `*` matches any run of characters and `?` one character.
//! Part of the file format (`include`, `exclude`, virtual servers' lists), so that both `model` and
//! `openapi` (selecting operations) read patterns the same way.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern(String);

impl Pattern {
    pub(crate) fn new(text: &str) -> Self {
        Pattern(text.to_string())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_literal(&self) -> bool {
        !self.0.contains(['*', '?'])
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        glob(self.0.as_bytes(), text.as_bytes())
    }
}

/// Iterative wildcard match with single-star backtracking: linear in practice, never exponential.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, text: &str, expected: bool) {
        assert_eq!(Pattern::new(pattern).matches(text), expected, "{pattern} ~ {text}");
    }

    #[test]
    fn glob_cases() {
        check("*", "", true);
        check("*", "anything", true);
        check("time_*", "time_now", true);
        check("time_*", "times", false);
        check("docs_find", "docs_find", true);
        check("docs_find", "docs_finder", false);
        check("*_admin", "search_admin", true);
        check("a?c", "abc", true);
        check("a*b*c", "axxbyyc", true);
        check("a*b*c", "axxbyy", false);
        check("file:///*", "file:///etc/hosts", true);
    }
}
