//! The syntax a config file is written in (YAML or TOML), so that help lines show a fix the way
//! that file spells it (`allow_private: true` or `allow_private = true`), and a file whose
//! content does not match its name is named as such.

use std::path::Path;

/// How the file at hand writes keys and values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Syntax {
    #[default]
    Yaml,
    Toml,
}

impl Syntax {
    /// TOML for files ending in `.toml`, YAML for every other name.
    pub(crate) fn of(path: &Path) -> Syntax {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml")) { Syntax::Toml } else { Syntax::Yaml }
    }

    /// `key: value` or `key = value`, for a value written the same in both (`true`, `5`, `{}`).
    pub(crate) fn assign(self, key: &str, value: &str) -> String {
        match self {
            Syntax::Yaml => format!("`{key}: {value}`"),
            Syntax::Toml => format!("`{key} = {value}`"),
        }
    }

    /// `key: text` or `key = "text"`.
    pub(crate) fn assign_str(self, key: &str, text: &str) -> String {
        match self {
            Syntax::Yaml => format!("`{key}: {text}`"),
            Syntax::Toml => format!("`{key} = {text:?}`"),
        }
    }

    /// A key about to be given a value: `key:` or `key = …`.
    pub(crate) fn key(self, key: &str) -> String {
        match self {
            Syntax::Yaml => format!("`{key}:`"),
            Syntax::Toml => format!("`{key} = …`"),
        }
    }

    /// Where named entries of the mapping at `path` go: `under `tools:`` or
    /// `as `[upstreams.api.rest.tools.<name>]` tables`.
    pub(crate) fn entries_of(self, path: &str) -> String {
        match self {
            Syntax::Yaml => format!("under `{}:`", path.rsplit('.').next().unwrap_or(path)),
            Syntax::Toml => format!("as `[{path}.<name>]` tables"),
        }
    }

    /// A one-line mapping: `{ a: 1 }` or `{ a = 1 }`.
    pub(crate) fn inline(self, key: &str, value: &str) -> String {
        match self {
            Syntax::Yaml => format!("`{{ {key}: {value} }}`"),
            Syntax::Toml => format!("`{{ {key} = {value} }}`"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Syntax::Yaml => "YAML",
            Syntax::Toml => "TOML",
        }
    }
}

/// When a file that did not parse (or parsed to no mapping) would parse as the other syntax:
/// the message and help that say so, naming the file the way it should be named.
pub(crate) fn mistaken_syntax(path: &Path, text: &str) -> Option<(String, String)> {
    let read_as = Syntax::of(path);
    let written_in = match read_as {
        Syntax::Yaml if looks_like_toml(text) => Syntax::Toml,
        Syntax::Toml if looks_like_yaml(text) => Syntax::Yaml,
        _ => return None,
    };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("gateway");
    let (rename, rule) = match written_in {
        Syntax::Toml => (format!("{stem}.toml"), "only files whose names end in `.toml` are read as TOML"),
        Syntax::Yaml => (format!("{stem}.yaml"), "files whose names end in `.toml` are read as TOML"),
    };
    Some((
        format!("this file is written in {}, but its name makes it read as {}", written_in.name(), read_as.name()),
        format!("rename it to {rename}: {rule}"),
    ))
}

/// A document TOML reads as a table with at least one key.
fn looks_like_toml(text: &str) -> bool {
    toml::de::DeTable::parse(text).is_ok_and(|t| !t.get_ref().is_empty())
}

/// A document YAML reads as a mapping with at least one key.
fn looks_like_yaml(text: &str) -> bool {
    super::tree::parse_yaml(text).is_ok_and(|n| matches!(&n.value, super::tree::Value::Map(e) if !e.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helps_are_spelt_in_the_file_s_syntax() {
        let (y, t) = (Syntax::Yaml, Syntax::Toml);
        assert_eq!(y.assign("allow_private", "true"), "`allow_private: true`");
        assert_eq!(t.assign("allow_private", "true"), "`allow_private = true`");
        assert_eq!(t.assign_str("era", "stateless"), "`era = \"stateless\"`");
        assert_eq!(y.entries_of("upstreams.a.rest.tools"), "under `tools:`");
        assert_eq!(t.entries_of("upstreams.a.rest.tools"), "as `[upstreams.a.rest.tools.<name>]` tables");
        assert_eq!(t.inline("readOnlyHint", "true"), "`{ readOnlyHint = true }`");
    }

    #[test]
    fn a_file_in_the_other_syntax_is_named_as_such() {
        let toml = "listen = \"127.0.0.1:4444\"\n[upstreams.a]\nurl = \"http://h\"\n";
        let (message, help) = mistaken_syntax(Path::new("conf/gateway.tml"), toml).unwrap();
        assert_eq!(message, "this file is written in TOML, but its name makes it read as YAML");
        assert_eq!(help, "rename it to gateway.toml: only files whose names end in `.toml` are read as TOML");
        let (_, help) = mistaken_syntax(Path::new("g.toml"), "upstreams:\n  a: { url: http://h }\n").unwrap();
        assert!(help.starts_with("rename it to g.yaml"), "{help}");
        assert_eq!(mistaken_syntax(Path::new("g.yaml"), "upstreams: [\n"), None, "broken YAML is not TOML");
    }
}
