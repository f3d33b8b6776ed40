//! The file format: loading gateway.yaml or gateway.toml into the raw config types, with the
//! position of every key kept for later diagnostics. Knows nothing of the rest of the gateway.

pub(crate) mod de;
pub(crate) mod diagnostic;
pub(crate) mod edit;
pub(crate) mod env;
mod pattern;
pub(crate) mod raw;
mod syntax;
pub(crate) mod tree;
mod yaml_error;

use std::path::Path;

pub(crate) use de::Positions;
pub(crate) use diagnostic::{Diagnostic, Pos};
pub(crate) use pattern::Pattern;
pub(crate) use raw::Raw;
pub(crate) use syntax::Syntax;

/// A parsed file: the raw config, where each key was, and what was found while reading.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub raw: Raw,
    pub positions: Positions,
    /// Unknown keys and values of the wrong type (errors), left out of `raw`.
    pub findings: Vec<Diagnostic>,
    /// Key paths `findings` are about: validation reports nothing more at them or right above them.
    pub left_out: Vec<String>,
    /// How the file spells keys and values, for help lines.
    pub syntax: Syntax,
    /// The `openapi:` upstreams in the `rest:` shape, by upstream name: filled before validation
    /// by `openapi::convert_upstreams` from the documents `reload::prepare` read, so validation
    /// checks them like `rest:` upstreams and never reads a document.
    pub imported: std::collections::HashMap<String, Imported>,
    /// Every file the config names (OpenAPI documents, htpasswd files, PEM keys, the listener's
    /// certificate and key), by the path as
    /// written: its text, or why it could not be read. Filled by `reload::prepare`.
    pub files: std::collections::HashMap<String, Result<String, String>>,
}

/// One `openapi:` upstream converted to the config's own `rest:` shape, with what converting found.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    /// `None` when the document gave no API to check (`findings` says why).
    pub rest: Option<raw::RawRest>,
    /// Diagnostics at the upstream's keys (`openapi.spec`, ...), in the order they were found.
    pub findings: Vec<Diagnostic>,
}

impl Loaded {
    /// Paths of the documents the file refers to, as written.
    pub(crate) fn document_paths(&self) -> Vec<String> {
        let specs = self.raw.upstreams().filter_map(|(_, u)| u.openapi.as_ref().map(|o| o.spec.clone()));
        let auths = std::iter::once(self.raw.auth.as_ref())
            .chain(self.raw.virtual_servers.iter().flatten().map(|(_, v)| v.auth.as_ref()))
            .flatten();
        let auth_files = auths.flat_map(|a| {
            let keys = a.jwt.iter().flat_map(|j| j.issuers.iter().filter_map(|i| i.public_key.clone()));
            keys.chain(a.basic.iter().map(|b| b.htpasswd.clone()))
                .chain(a.mtls.iter().map(|m| m.ca.clone()))
                .collect::<Vec<_>>()
        });
        let tls = self.raw.serving.iter().flat_map(|s| s.tls.iter()).flat_map(|t| [t.cert.clone(), t.key.clone()]);
        specs.chain(auth_files).chain(tls).collect()
    }
}

/// Parses `text`, the content of `path`. Every diagnostic carries `path` as its file. `Ok` may
/// still carry errors in `findings` (keys and values left out), so that validation can report
/// the rest of the file in the same pass.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let syntax = Syntax::of(path);
    let in_file = |ds: Vec<Diagnostic>| -> Vec<Diagnostic> { ds.into_iter().map(|d| d.in_file(path)).collect() };
    // A document that is not a mapping (or does not parse) may be in the other syntax.
    let mistaken = || {
        syntax::mistaken_syntax(path, text).map(|(message, help)| {
            vec![Diagnostic::error(Pos { line: 1, column: 1 }, "", message).with_help(help).in_file(path)]
        })
    };
    let tree = match syntax {
        Syntax::Toml => tree::parse_toml(text),
        Syntax::Yaml => tree::parse_yaml(text),
    };
    let tree = match tree {
        Ok(tree) => tree,
        Err(d) => return Err(mistaken().unwrap_or_else(|| in_file(vec![d]))),
    };
    if tree.is_empty() {
        let d = Diagnostic::error(
            Pos { line: 1, column: 1 },
            "",
            "the file holds no settings: it is empty or only comments",
        )
        .with_help(format!(
            "if an editor or deploy tool cut it short, restore it; to run with no upstreams, write {}",
            syntax.assign("upstreams", "{}")
        ));
        return Err(in_file(vec![d]));
    }
    if !matches!(tree.value, tree::Value::Map(_))
        && let Some(ds) = mistaken()
    {
        return Err(ds);
    }
    match de::from_tree::<Raw>(&tree, syntax) {
        Ok(read) => Ok(Loaded {
            raw: read.value,
            positions: read.positions,
            findings: in_file(read.findings),
            left_out: read.left_out,
            syntax,
            imported: Default::default(),
            files: Default::default(),
        }),
        Err(ds) => Err(in_file(ds)),
    }
}

/// Reads and parses the file at `path`.
pub(crate) fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![Diagnostic::error(Pos::default(), "", format!("cannot read the file: {e}")).in_file(path)])?;
    parse(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prefix of a full config, as YAML and as TOML, loads or yields positioned diagnostics;
    /// the loader never panics on a half-written file (an editor saving mid-keystroke).
    #[test]
    fn truncated_files_never_panic() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
        for name in ["full.yaml", "full.toml"] {
            let text = std::fs::read_to_string(root.join(name)).unwrap();
            let path = Path::new(name);
            for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                if let Err(diagnostics) = parse(path, &text[..end]) {
                    assert!(!diagnostics.is_empty(), "a rejected file says why");
                    assert!(diagnostics.iter().all(|d| d.file == name), "every diagnostic names the file");
                }
            }
        }
    }
}
