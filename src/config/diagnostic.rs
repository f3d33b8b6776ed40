//! `Diagnostic`: one config error or warning with its position, and its text and JSON renderings.

use std::fmt;
use std::path::Path;

use serde::Serialize;

/// A position in the config file: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Error,
    Warning,
}

/// One finding about the config file. `path` is the dotted key path (`upstreams.time.stdio`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub path: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn error(pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, pos, path, message)
    }

    pub(crate) fn warning(pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, pos, path, message)
    }

    fn new(severity: Severity, pos: Pos, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            file: String::new(),
            line: pos.line,
            column: pos.column,
            path: path.into(),
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn in_file(mut self, file: &Path) -> Self {
        self.file = file.display().to_string();
        self
    }

    pub(crate) fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{kind}: {}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": {}: {}", self.path, self.message)?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every diagnostic, one per paragraph, then a summary line such as
/// `gateway.yaml: 2 errors, 1 warning; nothing was loaded`.
pub(crate) fn render_text(file: &Path, diagnostics: &[Diagnostic], loaded: bool) -> String {
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let outcome = match (loaded, errors) {
        (false, _) => "nothing was loaded",
        (true, 0) => "valid",
        // The file loads, but what the upstreams report (`check --live`) does not match it.
        (true, _) => "valid, but the upstreams disagree",
    };
    out.push_str(&format!(
        "{}: {}, {}; {outcome}\n",
        file.display(),
        plural(errors, "error"),
        plural(warnings, "warning")
    ));
    out
}

pub(crate) fn render_json(diagnostics: &[Diagnostic]) -> String {
    serde_json::to_string_pretty(diagnostics).unwrap_or_else(|_| "[]".into())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key() {
        let keys = ["stdio", "url", "headers", "prefix"];
        assert_eq!(did_you_mean("stdo", keys), Some("stdio"));
        assert_eq!(did_you_mean("prefx", keys), Some("prefix"));
        assert_eq!(did_you_mean("completely_else", keys), None);
    }

    #[test]
    fn renders_position_path_and_help() {
        let d = Diagnostic::error(Pos { line: 3, column: 5 }, "upstreams.a", "bad")
            .with_help("fix it")
            .in_file(Path::new("g.yaml"));
        assert_eq!(d.to_string(), "error: g.yaml:3:5: upstreams.a: bad\n  help: fix it");
    }
}
