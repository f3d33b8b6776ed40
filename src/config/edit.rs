//! Small edits of a config file's text that keep its comments and layout: replace a scalar
//! value, or add a `key: value` entry to a mapping (YAML, block or flow style). Each edit works
//! from the positions of a fresh parse; the caller re-parses between edits.

use super::{Loaded, Pos};

/// A string as a YAML scalar: plain when that cannot be misread, else double-quoted (JSON escapes
/// are valid YAML escapes).
pub(crate) fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ':'))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && !s.contains(": ")
        && !s.ends_with(':')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { s.to_string() } else { serde_json::to_string(s).expect("strings serialize") }
}

/// Byte offset of a position (1-based line and character column) in `text`.
fn offset(text: &str, pos: Pos) -> Option<usize> {
    let line_start =
        if pos.line <= 1 { 0 } else { text.match_indices('\n').nth(pos.line as usize - 2).map(|(i, _)| i + 1)? };
    let line = &text[line_start..];
    let column = (pos.column as usize).saturating_sub(1);
    line.char_indices().nth(column).map(|(i, _)| line_start + i).or((column == 0).then_some(line_start))
}

/// Where the value of the key at `key` begins: after the key, its `:` (or TOML `=`) and spaces.
fn value_start(text: &str, key: Pos) -> Option<usize> {
    let start = offset(text, key)?;
    let rest = &text[start..];
    let line_end = rest.find('\n').unwrap_or(rest.len());
    let sep =
        rest[..line_end].find(": ").or_else(|| rest[..line_end].find(':')).or_else(|| rest[..line_end].find('='))?;
    let after = &rest[sep + 1..line_end];
    let skipped = after.len() - after.trim_start().len();
    Some(start + sep + 1 + skipped)
}

/// Replaces the scalar value of the key at `path` with `value` (written as given).
pub(crate) fn replace_value(text: &str, loaded: &Loaded, path: &str, value: &str) -> Option<String> {
    // A scalar's recorded position is where its value starts.
    let start = offset(text, loaded.positions.get(path)?)?;
    let rest = &text[start..];
    let end = match rest.chars().next()? {
        quote @ ('"' | '\'') => rest[1..].find(quote).map(|i| i + 2)?,
        _ => rest.find([',', '}', ' ', '#', '\n', '\r']).unwrap_or(rest.len()),
    };
    Some(format!("{}{value}{}", &text[..start], &text[start + end..]))
}

/// Whether the mapping at `path` is written in flow style (`{ ... }`).
pub(crate) fn is_flow(text: &str, loaded: &Loaded, path: &str) -> bool {
    loaded
        .positions
        .get(path)
        .and_then(|pos| value_start(text, pos))
        .is_some_and(|start| text[start..].starts_with('{'))
}

/// Adds `key: value` to the mapping at `parent` (a key path; `value` is YAML text, e.g. a flow
/// mapping, or empty to start a block mapping). `None` when the parent is not a mapping that can
/// take an entry.
pub(crate) fn insert_entry(text: &str, loaded: &Loaded, parent: &str, key: &str, value: &str) -> Option<String> {
    let parent_pos = loaded.positions.get(parent)?;
    let start = value_start(text, parent_pos)?;
    let rest = &text[start..];
    let entry =
        if value.is_empty() { format!("{}:", yaml_scalar(key)) } else { format!("{}: {value}", yaml_scalar(key)) };
    // Flow style: `parent: { a: 1 }` or `parent: {}`.
    if let Some(inner) = rest.strip_prefix('{') {
        let empty = inner.trim_start().starts_with('}');
        let insertion = if empty { format!(" {entry} ") } else { format!(" {entry},") };
        return Some(format!("{}{{{insertion}{}", &text[..start], if empty { inner.trim_start() } else { inner }));
    }
    let line_rest = &rest[..rest.find('\n').unwrap_or(rest.len())];
    if !(line_rest.trim().is_empty() || line_rest.trim_start().starts_with('#')) {
        return None; // a scalar or a list: not a mapping.
    }
    // Block style: before the first child, at its indentation; else on the next line, indented.
    let prefix = format!("{parent}.");
    let first_child = loaded
        .positions
        .entries()
        .filter(|(p, _)| p.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('.') && !rest.contains('[')))
        .map(|(_, pos)| pos)
        .min_by_key(|p| (p.line, p.column));
    // A child's recorded position is its key, or its value for scalars; its line's indentation is the key's.
    let (at, indent) = match first_child {
        Some(child) => {
            let at = offset(text, Pos { line: child.line, column: 1 })?;
            let line = &text[at..];
            (at, line[..line.len() - line.trim_start_matches(' ').len()].to_string())
        }
        None => {
            let at = offset(text, Pos { line: parent_pos.line + 1, column: 1 }).unwrap_or(text.len());
            let line_start = offset(text, Pos { line: parent_pos.line, column: 1 })?;
            let line = &text[line_start..];
            let indent = line.len() - line.trim_start_matches(' ').len();
            (at, " ".repeat(indent + 2))
        }
    };
    let newline = if at == text.len() && !text.ends_with('\n') { "\n" } else { "" };
    Some(format!("{}{newline}{indent}{entry}\n{}", &text[..at], &text[at..]))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn load(text: &str) -> Loaded {
        super::super::parse(Path::new("g.yaml"), text).unwrap()
    }

    #[test]
    fn values_are_replaced_in_place() {
        let text = "upstreams:\n  a:\n    url: http://h/mcp   # the server\n    timeout: \"5s\"\n";
        let out = replace_value(text, &load(text), "upstreams.a.timeout", "9s").unwrap();
        assert_eq!(out, "upstreams:\n  a:\n    url: http://h/mcp   # the server\n    timeout: 9s\n");
        let out = replace_value(&out, &load(&out), "upstreams.a.url", "http://x/mcp").unwrap();
        assert!(out.contains("url: http://x/mcp   # the server"), "{out}");
    }

    #[test]
    fn entries_are_added_to_block_and_flow_mappings() {
        let text = "upstreams:\n  a:\n    url: http://h/mcp\n    tools: { include: [x] }\n  b: { url: 'http://h' }\n";
        let out = insert_entry(text, &load(text), "upstreams.a.tools", "shape", "{ x: { pin: p } }").unwrap();
        assert!(out.contains("tools: { shape: { x: { pin: p } }, include: [x] }"), "{out}");
        let out = insert_entry(&out, &load(&out), "upstreams.b", "prefix", "bee").unwrap();
        assert!(out.contains("b: { prefix: bee, url: 'http://h' }"), "{out}");
        let out = insert_entry(&out, &load(&out), "upstreams.a", "timeout", "5s").unwrap();
        assert!(out.contains("  a:\n    timeout: 5s\n    url: http://h/mcp\n"), "{out}");
        let loaded = load(&out);
        assert_eq!(loaded.raw.upstream("a").unwrap().timeout.as_deref(), Some("5s"));
        assert_eq!(loaded.raw.upstream("b").unwrap().prefix.as_deref(), Some("bee"));
    }

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(yaml_scalar("sha256:abc"), "sha256:abc");
        assert_eq!(yaml_scalar("get_time"), "get_time");
        assert_eq!(yaml_scalar("a b"), "\"a b\"");
        assert_eq!(yaml_scalar("yes"), "\"yes\"");
        assert_eq!(yaml_scalar("{x}"), "\"{x}\"");
    }
}
