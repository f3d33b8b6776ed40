//! OpenAPI 3.x documents → REST tools. One operation becomes one tool: its operation id the
//! name, its parameters and request body the input schema (with `$ref`s to the document's
//! schemas copied under `$defs`, so the schema stands alone), its path a path template.
//! Used by `mcpgw import openapi` (which prints the tools as config) and by `openapi:` upstreams,
//! which `convert_upstreams` turns into `rest:` ones before validation.

mod emit;
mod upstream;

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};

pub(crate) use emit::to_yaml;
pub(crate) use upstream::convert_upstreams;

/// Which operations to take. Empty lists take everything.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Selection {
    /// Operations carrying at least one of these tags.
    pub tags: Vec<String>,
    /// Operation ids (or generated tool names), `*` and `?` allowed.
    pub operations: Vec<crate::config::Pattern>,
}

impl Selection {
    fn takes(&self, name: &str, operation_id: Option<&str>, tags: &[String]) -> bool {
        let by_tag = self.tags.is_empty() || tags.iter().any(|t| self.tags.contains(t));
        let by_id = self.operations.is_empty()
            || self.operations.iter().any(|p| p.matches(name) || operation_id.is_some_and(|id| p.matches(id)));
        by_tag && by_id
    }
}

/// The tools of one document, in the config's own shape (`rest.tools.<name>` values).
#[derive(Debug, Default)]
pub(crate) struct Converted {
    /// The first server's URL with its variables at their defaults, when it is absolute.
    pub base_url: Option<String>,
    pub tools: Vec<(String, Value)>,
    /// The document's security scheme most operations use, as an `auth:` block with `${VAR}`s named after `upstream`.
    pub auth: Option<Value>,
    /// Operations left out, and why.
    pub skipped: Vec<String>,
}

/// Reads a document written in JSON or YAML.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"));
    }
    let tree = crate::config::tree::parse_yaml(text).map_err(|d| format!("line {}: {}", d.line, d.message))?;
    crate::config::de::from_tree::<Value>(&tree, crate::config::Syntax::Yaml).map(|read| read.value).map_err(|ds| {
        ds.first().map_or_else(|| "unreadable YAML".into(), |d| format!("line {}: {}", d.line, d.message))
    })
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// Converts the operations `selection` takes. `upstream` names the auth variables.
pub(crate) fn convert(doc: &Value, selection: &Selection, upstream: &str) -> Result<Converted, String> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.") {
        let found =
            if doc.get("swagger").is_some() { "Swagger 2.0".to_string() } else { format!("version {version:?}") };
        return Err(format!("{found} is not OpenAPI 3.x; convert it first (e.g. with swagger2openapi)"));
    }
    let mut out = Converted { base_url: base_url(doc), auth: auth(doc, upstream), ..Converted::default() };
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Ok(out);
    };
    let mut names = HashSet::new();
    for (path, item) in paths {
        let shared = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let operation_id = op.get("operationId").and_then(Value::as_str);
            let name = unique(tool_name(operation_id, method, path), &mut names);
            let tags: Vec<String> = op
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(String::from))
                .collect();
            if !selection.takes(&name, operation_id, &tags) {
                names.remove(&name);
                continue;
            }
            match operation(doc, path, method, op, &shared) {
                Ok(tool) => out.tools.push((name, tool)),
                Err(why) => {
                    names.remove(&name);
                    out.skipped.push(format!("{} {path} ({name}): {why}", method.to_uppercase()));
                }
            }
        }
    }
    Ok(out)
}

fn tool_name(operation_id: Option<&str>, method: &str, path: &str) -> String {
    let raw = match operation_id {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("{method}_{}", path.trim_matches('/')),
    };
    let name: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let name = name.trim_matches('_').to_string();
    if name.is_empty() { method.to_string() } else { name }
}

fn unique(name: String, taken: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    candidate
}

/// A template variable for a parameter name (`api-version` → `api_version`), unique among `taken`.
fn argument_name(name: &str, taken: &mut HashSet<String>) -> String {
    let mut arg: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if arg.is_empty() || arg.starts_with(|c: char| c.is_ascii_digit()) {
        arg.insert(0, '_');
    }
    unique(arg, taken)
}

fn operation(doc: &Value, path: &str, method: &str, op: &Value, shared: &[Value]) -> Result<Value, String> {
    let mut defs = Defs::default();
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut query = Map::new();
    let mut headers = Map::new();
    let mut path_template = path.to_string();
    let mut taken = HashSet::new();

    // Operation parameters override path-level ones with the same name and location.
    let own: Vec<Value> = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut params: Vec<Value> = Vec::new();
    for p in shared.iter().chain(own.iter()) {
        let p = resolve(doc, p)?;
        let key = (p.get("name").cloned(), p.get("in").cloned());
        params.retain(|q| (q.get("name").cloned(), q.get("in").cloned()) != key);
        params.push(p);
    }
    for p in &params {
        let name = p.get("name").and_then(Value::as_str).ok_or("a parameter has no name")?;
        let location = p.get("in").and_then(Value::as_str).unwrap_or("");
        if location == "cookie" {
            if p.get("required") == Some(&Value::Bool(true)) {
                return Err(format!("required cookie parameter {name} is not supported"));
            }
            continue;
        }
        let arg = argument_name(name, &mut taken);
        let mut schema = p.get("schema").cloned().unwrap_or_else(|| json!({}));
        if let Some(d) = p.get("description").and_then(Value::as_str)
            && let Value::Object(s) = &mut schema
            && !s.contains_key("description")
        {
            s.insert("description".into(), Value::String(d.to_string()));
        }
        properties.insert(arg.clone(), defs.adopt(doc, schema)?);
        let is_required = location == "path" || p.get("required") == Some(&Value::Bool(true));
        if is_required {
            required.push(Value::String(arg.clone()));
        }
        // OpenAPI's default styles: a path or header list is `a,b` (simple); a query list repeats
        // the parameter (form, exploded) unless `explode: false` asks for `a,b`.
        let is_array = p.get("schema").and_then(|s| resolve(doc, s).ok()).and_then(|s| s.get("type").cloned())
            == Some(json!("array"));
        let joined = format!("{{{{ {arg} | join(',') }}}}");
        match location {
            "path" => {
                let template = if is_array { joined } else { format!("{{{arg}}}") };
                path_template = path_template.replace(&format!("{{{name}}}"), &template);
            }
            "query" => {
                let exploded = p.get("explode").and_then(Value::as_bool).unwrap_or(true);
                let template = if is_array && !exploded { joined } else { format!("{{{{ {arg} }}}}") };
                query.insert(name.to_string(), Value::String(template));
            }
            "header" => {
                let template = if is_array { joined } else { format!("{{{{ {arg} }}}}") };
                headers.insert(name.to_string(), Value::String(template));
            }
            other => return Err(format!("parameter {name} is in {other:?}, which OpenAPI does not define")),
        }
    }

    let mut tool = Map::new();
    let description = [op.get("summary"), op.get("description")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let deprecated = op.get("deprecated") == Some(&Value::Bool(true));
    if !description.is_empty() || deprecated {
        let prefix = if deprecated { "Deprecated. " } else { "" };
        tool.insert("description".into(), Value::String(format!("{prefix}{description}")));
    }
    tool.insert("method".into(), Value::String(method.to_uppercase()));
    tool.insert("path".into(), Value::String(path_template));
    if !query.is_empty() {
        tool.insert("query".into(), Value::Object(query));
    }
    if !headers.is_empty() {
        tool.insert("headers".into(), Value::Object(headers));
    }

    if let Some(body) = op.get("requestBody") {
        let body = resolve(doc, body)?;
        let body_required = body.get("required") == Some(&Value::Bool(true));
        let content = body.get("content").and_then(Value::as_object).cloned().unwrap_or_default();
        let json_type = content.keys().find(|k| k.starts_with("application/json") || k.ends_with("+json")).cloned();
        let form_type = content.keys().find(|k| k.starts_with("application/x-www-form-urlencoded")).cloned();
        if let Some(media) = json_type.or(form_type.clone()) {
            let is_form = form_type.as_deref() == Some(media.as_str());
            let schema = content[&media].get("schema").cloned().unwrap_or_else(|| json!({}));
            let resolved = resolve(doc, &schema)?;
            // Fields the server assigns (`readOnly`, such as an `id`) are not the client's to send.
            let read_only =
                |field: &Value| resolve(doc, field).is_ok_and(|f| f.get("readOnly") == Some(&Value::Bool(true)));
            let fields = resolved.get("properties").and_then(Value::as_object).map(|fields| {
                fields.iter().filter(|(_, f)| !read_only(f)).map(|(k, v)| (k.clone(), v.clone())).collect::<Map<_, _>>()
            });
            let collides = fields.as_ref().is_some_and(|f| f.keys().any(|k| properties.contains_key(k)));
            match fields {
                // The body's fields become arguments of their own; the default body sends them back as JSON.
                Some(fields)
                    if !collides && resolved.get("type").and_then(Value::as_str).is_none_or(|t| t == "object") =>
                {
                    let mut form = Map::new();
                    let kept: Vec<String> = fields.keys().cloned().collect();
                    for (field, schema) in fields {
                        if is_form {
                            form.insert(field.clone(), Value::String(format!("{{{{ {} }}}}", field)));
                        }
                        properties.insert(field, defs.adopt(doc, schema)?);
                    }
                    if body_required {
                        let listed = resolved.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
                        required.extend(
                            listed.into_iter().filter(|r| r.as_str().is_some_and(|r| kept.iter().any(|k| k == r))),
                        );
                    }
                    if is_form {
                        if form.keys().any(|k| !is_identifier(k)) {
                            return Err("a form field name is not usable as an argument name".into());
                        }
                        tool.insert("body".into(), json!({ "form": form }));
                    }
                }
                // Anything else travels whole as the `body` argument.
                _ => {
                    if is_form {
                        return Err("a form body without named fields is not supported".into());
                    }
                    let arg = argument_name("body", &mut taken);
                    properties.insert(arg.clone(), defs.adopt(doc, schema)?);
                    if body_required {
                        required.push(Value::String(arg.clone()));
                    }
                    tool.insert("body".into(), json!({ "json": format!("{{{{ {arg} }}}}") }));
                }
            }
        } else if let Some(media) = content.keys().find(|k| !k.starts_with("multipart/")).cloned() {
            let arg = argument_name("body", &mut taken);
            properties
                .insert(arg.clone(), json!({ "type": "string", "description": format!("The request body ({media})") }));
            if body_required {
                required.push(Value::String(arg.clone()));
            }
            tool.insert("body".into(), json!({ "raw": format!("{{{{ {arg} }}}}"), "content_type": media }));
        } else if !content.is_empty() {
            return Err("multipart bodies are not supported".into());
        }
    }

    let mut input = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        let mut seen = BTreeSet::new();
        required.retain(|r| seen.insert(r.to_string()));
        input["required"] = Value::Array(required);
    }
    if !defs.done.is_empty() {
        input["$defs"] = Value::Object(defs.done);
    }
    tool.insert("input_schema".into(), input);
    let annotations = match method {
        "get" | "head" | "options" => Some(json!({ "readOnlyHint": true })),
        "delete" => Some(json!({ "destructiveHint": true })),
        "put" => Some(json!({ "idempotentHint": true })),
        _ => None,
    };
    if let Some(a) = annotations {
        tool.insert("annotations".into(), a);
    }
    Ok(Value::Object(tool))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Follows a local `$ref` (`#/components/...`) to its target; other values are returned as they are.
fn resolve(doc: &Value, value: &Value) -> Result<Value, String> {
    let mut current = value.clone();
    for _ in 0..32 {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return Ok(current);
        };
        let pointer =
            reference.strip_prefix('#').ok_or_else(|| format!("external reference {reference} is not followed"))?;
        current = doc.pointer(pointer).cloned().ok_or_else(|| format!("reference {reference} points nowhere"))?;
    }
    Err("references nest more than 32 deep".into())
}

/// Component schemas an input schema refers to, copied in under `$defs` (transitively).
#[derive(Default)]
struct Defs {
    done: Map<String, Value>,
}

impl Defs {
    /// Rewrites `#/components/schemas/X` references in `schema` to `#/$defs/X`, copying X in,
    /// and turns OpenAPI 3.0 spellings into JSON Schema 2020-12 ones.
    fn adopt(&mut self, doc: &Value, mut schema: Value) -> Result<Value, String> {
        let mut pending = Vec::new();
        rewrite(&mut schema, &mut pending)?;
        while let Some(name) = pending.pop() {
            if self.done.contains_key(&name) {
                continue;
            }
            let mut target = doc
                .pointer(&format!("/components/schemas/{}", name.replace('~', "~0").replace('/', "~1")))
                .cloned()
                .ok_or_else(|| format!("schema {name} is not in components.schemas"))?;
            self.done.insert(name.clone(), Value::Null);
            rewrite(&mut target, &mut pending)?;
            self.done.insert(name, target);
        }
        Ok(schema)
    }
}

fn rewrite(schema: &mut Value, pending: &mut Vec<String>) -> Result<(), String> {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                let Some(name) = reference.strip_prefix("#/components/schemas/") else {
                    return Err(format!("schema reference {reference} is not to components.schemas"));
                };
                let name = name.replace("~1", "/").replace("~0", "~");
                *reference = format!("#/$defs/{name}");
                pending.push(name);
            }
            // OpenAPI 3.0: `nullable: true` and boolean exclusive bounds.
            if map.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type").cloned()
            {
                map.insert("type".into(), json!([t, "null"]));
            }
            for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
                if let Some(Value::Bool(on)) = map.get(flag).cloned() {
                    map.remove(flag);
                    if on && let Some(b) = map.remove(bound) {
                        map.insert(flag.into(), b);
                    }
                }
            }
            // Documentation-only keywords that JSON Schema 2020-12 does not know are harmless; `xml`
            // and `discriminator` are dropped to keep schemas small.
            map.remove("xml");
            map.remove("discriminator");
            for value in map.values_mut() {
                rewrite(value, pending)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite(item, pending)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn base_url(doc: &Value) -> Option<String> {
    let server = doc.get("servers")?.as_array()?.first()?;
    let mut url = server.get("url")?.as_str()?.to_string();
    if let Some(vars) = server.get("variables").and_then(Value::as_object) {
        for (name, var) in vars {
            if let Some(default) = var.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    (url.starts_with("http://") || url.starts_with("https://")).then(|| url.trim_end_matches('/').to_string())
}

/// An `auth:` block for the first security scheme the document applies, with secrets as `${VAR}`.
fn auth(doc: &Value, upstream: &str) -> Option<Value> {
    let schemes = doc.pointer("/components/securitySchemes")?.as_object()?;
    let applied: Vec<String> = doc
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            doc.get("paths")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|paths| paths.values().flat_map(|item| METHODS.iter().filter_map(move |m| item.get(*m))))
                .filter_map(|op| op.get("security").and_then(Value::as_array))
                .flatten(),
        )
        .filter_map(Value::as_object)
        .flat_map(|req| req.keys().cloned())
        .collect();
    let var = upstream.to_ascii_uppercase().replace('-', "_");
    // Prefer schemes mcpgw can fill from a static secret over OAuth flows.
    let mut ranked: Vec<(&String, &Value)> =
        schemes.iter().filter(|(name, _)| applied.is_empty() || applied.contains(name)).collect();
    ranked.sort_by_key(|(_, s)| matches!(s.get("type").and_then(Value::as_str), Some("oauth2" | "openIdConnect")));
    let (_, scheme) = ranked.first()?;
    match (scheme.get("type").and_then(Value::as_str)?, scheme.get("scheme").and_then(Value::as_str)) {
        ("http", Some(s)) if s.eq_ignore_ascii_case("basic") => Some(
            json!({ "basic": { "username": format!("${{{var}_USERNAME}}"), "password": format!("${{{var}_PASSWORD}}") } }),
        ),
        ("http", _) | ("oauth2", _) | ("openIdConnect", _) => Some(json!({ "bearer": format!("${{{var}_TOKEN}}") })),
        ("apiKey", _) => {
            let name = scheme.get("name")?.as_str()?;
            match scheme.get("in").and_then(Value::as_str)? {
                "header" => Some(json!({ "api_key": { "header": name, "value": format!("${{{var}_API_KEY}}") } })),
                "query" => Some(json!({ "api_key": { "query": name, "value": format!("${{{var}_API_KEY}}") } })),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pattern;

    fn convert_all(doc: Value) -> Converted {
        convert(&doc, &Selection::default(), "shop").unwrap()
    }

    #[test]
    fn parameters_bodies_and_schemas_convert() {
        let doc = json!({
            "openapi": "3.0.3",
            "servers": [{ "url": "https://{region}.api.example.com/v{major}", "variables": { "region": { "default": "eu" }, "major": { "default": "2" } } }],
            "components": {
                "schemas": {
                    "Item": { "type": "object", "properties": { "sku": { "type": "string" }, "parent": { "$ref": "#/components/schemas/Item" } } },
                    "Price": { "type": "number", "minimum": 0, "exclusiveMinimum": true, "nullable": true }
                },
                "securitySchemes": { "key": { "type": "apiKey", "in": "query", "name": "k" } }
            },
            "security": [{ "key": [] }],
            "paths": {
                "/items/{item-id}": {
                    "parameters": [{ "name": "item-id", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "get": {
                        "operationId": "get item",
                        "parameters": [
                            { "name": "api-version", "in": "header", "schema": { "type": "string" } },
                            { "name": "fields", "in": "query", "explode": false, "schema": { "type": "array", "items": { "type": "string" } } },
                            { "name": "session", "in": "cookie", "schema": { "type": "string" } }
                        ]
                    },
                    "put": {
                        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Item" } } } }
                    },
                    "post": {
                        "operationId": "note",
                        "requestBody": { "content": { "text/plain": { "schema": { "type": "string" } } } }
                    }
                },
                "/prices": {
                    "post": {
                        "operationId": "setPrice",
                        "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Price" } } } }
                    }
                }
            }
        });
        let c = convert_all(doc);
        assert_eq!(c.base_url.as_deref(), Some("https://eu.api.example.com/v2"));
        assert_eq!(c.auth, Some(json!({ "api_key": { "query": "k", "value": "${SHOP_API_KEY}" } })));
        let names: Vec<&str> = c.tools.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["get_item", "put_items__item-id", "note", "setPrice"]);

        let get = &c.tools[0].1;
        assert_eq!(get["path"], "/items/{item_id}");
        assert_eq!(get["headers"]["api-version"], "{{ api_version }}");
        assert_eq!(get["query"]["fields"], "{{ fields | join(',') }}");
        assert!(get["input_schema"]["properties"].get("session").is_none(), "cookies are left out");
        assert_eq!(get["input_schema"]["required"], json!(["item_id"]));

        let put = &c.tools[1].1;
        assert_eq!(put["input_schema"]["properties"]["sku"], json!({ "type": "string" }));
        assert_eq!(put["input_schema"]["$defs"]["Item"]["properties"]["parent"]["$ref"], "#/$defs/Item");

        let note = &c.tools[2].1;
        assert_eq!(note["body"], json!({ "raw": "{{ body }}", "content_type": "text/plain" }));

        let price = &c.tools[3].1;
        assert_eq!(price["body"], json!({ "json": "{{ body }}" }));
        assert_eq!(
            price["input_schema"]["$defs"]["Price"],
            json!({ "type": ["number", "null"], "exclusiveMinimum": 0 })
        );
    }

    #[test]
    fn selection_and_refusals() {
        let doc = json!({
            "openapi": "3.1.0",
            "paths": {
                "/a": { "get": { "operationId": "listA", "tags": ["a"] } },
                "/b": { "get": { "operationId": "listB", "tags": ["b"] },
                        "post": { "operationId": "upload", "tags": ["b"], "requestBody": { "content": { "multipart/form-data": {} } } } },
                "/c": { "get": { "operationId": "remote", "parameters": [{ "$ref": "other.yaml#/p" }] } }
            }
        });
        let by_tag = convert(&doc, &Selection { tags: vec!["b".into()], operations: vec![] }, "x").unwrap();
        assert_eq!(by_tag.tools.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["listB"]);
        assert_eq!(by_tag.skipped, ["POST /b (upload): multipart bodies are not supported"]);
        let by_id = convert(&doc, &Selection { tags: vec![], operations: vec![Pattern::new("list*")] }, "x").unwrap();
        assert_eq!(by_id.tools.len(), 2);
        let all = convert_all(doc);
        assert!(all.skipped.iter().any(|s| s.contains("external reference other.yaml#/p")), "{:?}", all.skipped);
        assert!(all.base_url.is_none());
        let e = convert(&json!({ "swagger": "2.0" }), &Selection::default(), "x").unwrap_err();
        assert!(e.contains("Swagger 2.0"), "{e}");
    }
}
