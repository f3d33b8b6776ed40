//! The file format: loading gateway.yaml or gateway.toml into the raw config types, with the
//! position of every key kept for later diagnostics. Knows nothing of the rest of the gateway.

pub(crate) mod de;
pub(crate) mod diagnostic;
pub(crate) mod edit;
pub(crate) mod env;
mod pattern;
pub(crate) mod raw;
pub(crate) mod tree;

use std::path::Path;

pub(crate) use de::Positions;
pub(crate) use diagnostic::{Diagnostic, Pos};
pub(crate) use pattern::Pattern;
pub(crate) use raw::Raw;

/// A parsed file: the raw config, where each key was, and warnings found while reading.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub raw: Raw,
    pub positions: Positions,
    pub findings: Vec<Diagnostic>,
    /// The `openapi:` upstreams in the `rest:` shape, by upstream name: filled before validation
    /// by `openapi::convert_upstreams` from the documents `reload::prepare` read, so validation
    /// checks them like `rest:` upstreams and never reads a document.
    pub imported: std::collections::HashMap<String, Imported>,
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
        self.raw.upstreams().filter_map(|(_, u)| u.openapi.as_ref().map(|o| o.spec.clone())).collect()
    }
}

/// The format of a config file, from its extension (`.toml` is TOML, anything else YAML).
pub(crate) fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Parses `text`, the content of `path`. Every diagnostic carries `path` as its file.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let tree = if is_toml(path) { tree::parse_toml(text) } else { tree::parse_yaml(text) };
    let tree = tree.map_err(|d| vec![d.in_file(path)])?;
    if tree.is_empty() {
        let d = Diagnostic::error(
            Pos { line: 1, column: 1 },
            "",
            "the file holds no settings: it is empty or only comments",
        )
        .with_help(
            "if an editor or deploy tool cut it short, restore it; to run with no upstreams, write `upstreams: {}`",
        );
        return Err(vec![d.in_file(path)]);
    }
    match de::from_tree::<Raw>(&tree) {
        Ok((raw, positions, findings)) => {
            let findings = findings.into_iter().map(|d| d.in_file(path)).collect();
            Ok(Loaded { raw, positions, findings, imported: Default::default() })
        }
        Err(ds) => Err(ds.into_iter().map(|d| d.in_file(path)).collect()),
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
