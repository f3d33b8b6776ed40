//! `openapi:` upstreams turned into `rest:` ones before validation: each document converted to the
//! config's own `rest:` shape, with diagnostics at the upstream's keys, so `model::validate` checks
//! the result like any `rest:` upstream and never sees a document.

use std::collections::HashMap;

use crate::config::raw::{RawOpenApi, RawRest, RawRestTool};
use crate::config::{Diagnostic, Imported, Loaded, Pattern, Positions};

/// Converts every `openapi:` upstream of `loaded`, by upstream name. `documents` holds each
/// document's text by path as written, or why it could not be read (`reload::prepare` reads them).
pub(crate) fn convert_upstreams(
    loaded: &Loaded,
    documents: &HashMap<String, Result<String, String>>,
) -> HashMap<String, Imported> {
    let mut out = HashMap::new();
    for (name, up) in loaded.raw.upstreams() {
        let Some(raw) = &up.openapi else { continue };
        let mut found = Findings { positions: &loaded.positions, out: Vec::new() };
        let rest = found.upstream(&format!("upstreams.{name}.openapi"), name, raw, documents);
        out.insert(name.clone(), Imported { rest, findings: found.out });
    }
    out
}

struct Findings<'a> {
    positions: &'a Positions,
    out: Vec<Diagnostic>,
}

impl Findings<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>, help: &str) {
        self.out.push(Diagnostic::error(self.positions.of(path), path, message).with_help(help));
    }

    fn warning(&mut self, path: &str, message: impl Into<String>, help: &str) {
        self.out.push(Diagnostic::warning(self.positions.of(path), path, message).with_help(help));
    }

    /// One upstream's document converted to tools, as the `rest:` block it stands for.
    fn upstream(
        &mut self,
        p: &str,
        upstream: &str,
        raw: &RawOpenApi,
        documents: &HashMap<String, Result<String, String>>,
    ) -> Option<RawRest> {
        let spec_path = format!("{p}.spec");
        let text = match documents.get(&raw.spec) {
            Some(Ok(text)) => text,
            Some(Err(e)) => {
                self.error(&spec_path, e.clone(), "the path is relative to the config file's directory");
                return None;
            }
            None => {
                self.error(&spec_path, format!("{} was not read", raw.spec), "check the path");
                return None;
            }
        };
        let converted = super::parse(text).and_then(|doc| {
            let selection = super::Selection {
                tags: raw.tags.clone().unwrap_or_default(),
                operations: raw.include.iter().flatten().map(|p| Pattern::new(p)).collect(),
            };
            super::convert(&doc, &selection, upstream)
        });
        let converted = match converted {
            Ok(c) => c,
            Err(e) => {
                self.error(&spec_path, format!("{}: {e}", raw.spec), "give an OpenAPI 3.x document in JSON or YAML");
                return None;
            }
        };
        if !converted.skipped.is_empty() {
            let listed: Vec<&str> = converted.skipped.iter().take(3).map(String::as_str).collect();
            let more = converted.skipped.len().saturating_sub(3);
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            self.warning(
                &spec_path,
                format!(
                    "{} operations cannot be served and are left out: {}{tail}",
                    converted.skipped.len(),
                    listed.join("; ")
                ),
                "select the others with `include` or `tags`",
            );
        }
        let base_url = match (&raw.base_url, converted.base_url) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url,
            (None, None) => {
                self.error(
                    p,
                    "the document names no absolute server URL",
                    "set `base_url`, e.g. https://api.example.com/v1",
                );
                return None;
            }
        };
        let mut tools = indexmap::IndexMap::new();
        for (name, tool) in converted.tools {
            match serde_json::from_value::<RawRestTool>(tool) {
                Ok(t) => {
                    tools.insert(name, t);
                }
                Err(e) => self.error(
                    &format!("{p}.tools.{name}"),
                    format!("operation {name} converts badly: {e}"),
                    "report this with the document",
                ),
            }
        }
        Some(RawRest {
            base_url,
            headers: raw.headers.clone(),
            auth: raw.auth.clone(),
            allow_private: raw.allow_private,
            max_response_bytes: raw.max_response_bytes,
            tools,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Converts the one upstream `u` of `yaml` with `documents`: its tools (when it converted) and
    /// its findings as `line:col path: message`.
    fn check(yaml: &str, documents: &[(&str, Result<&str, &str>)]) -> (Option<Vec<String>>, Vec<String>) {
        let loaded = crate::config::parse(Path::new("g.yaml"), yaml).unwrap_or_else(|d| panic!("{d:?}"));
        let documents =
            documents.iter().map(|(p, t)| (p.to_string(), t.map(String::from).map_err(String::from))).collect();
        let imported = convert_upstreams(&loaded, &documents).remove("u").expect("u is an openapi upstream");
        let tools = imported.rest.map(|r| r.tools.keys().cloned().collect());
        let findings = imported.findings.iter().map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message));
        (tools, findings.collect())
    }

    #[test]
    fn a_document_becomes_the_rest_block_it_stands_for() {
        let doc = r#"{"openapi": "3.1.0", "servers": [{"url": "https://api.example.com"}],
            "paths": {"/a": {"get": {"operationId": "listA"}}, "/b": {"get": {"operationId": "getB"}}}}"#;
        let yaml = "upstreams:\n  u: { openapi: { spec: d.json, include: [list*] } }\n";
        assert_eq!(check(yaml, &[("d.json", Ok(doc))]), (Some(vec!["listA".to_string()]), vec![]));
        let yaml = "upstreams:\n  u: { openapi: { spec: d.json, base_url: 'https://b.example' } }\n";
        let (tools, findings) = check(yaml, &[("d.json", Ok(doc))]);
        assert_eq!((tools.map(|t| t.len()), findings.len()), (Some(2), 0));
    }

    #[test]
    fn unusable_documents_are_reported_at_the_upstreams_keys() {
        let yaml = "upstreams:\n  u:\n    openapi: { spec: d.yaml }\n";
        let unread = check(yaml, &[("d.yaml", Err("cannot read d.yaml: gone"))]);
        assert_eq!(unread, (None, vec!["3:22 upstreams.u.openapi.spec: cannot read d.yaml: gone".to_string()]));
        let foreign = check(yaml, &[("d.yaml", Ok("swagger: '2.0'\n"))]);
        assert!(foreign.1[0].starts_with("3:22 upstreams.u.openapi.spec: d.yaml: Swagger 2.0"), "{foreign:?}");
        let serverless = check(yaml, &[("d.yaml", Ok("openapi: 3.1.0\npaths: {}\n"))]);
        assert_eq!(serverless.1, ["3:5 upstreams.u.openapi: the document names no absolute server URL"]);
        let (_, missing) = check(yaml, &[]);
        assert_eq!(missing, ["3:22 upstreams.u.openapi.spec: d.yaml was not read"]);
    }
}
