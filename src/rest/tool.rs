//! One REST tool compiled: its templates, schemas and output path, ready to turn arguments into
//! an HTTP request (`plan`) and a response into an MCP tool result (`result`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use serde_json_path::JsonPath;

use super::schema::Schema;
use super::template::{Slot, Templates};
use crate::model::rest::Problem;
use crate::model::{RestApi, RestAuth, RestBody, RestTool, Secret};

#[derive(Debug)]
pub(crate) struct CompiledTool {
    pub spec: RestTool,
    templates: Templates,
    /// Arguments read by path, query and header templates; the default body leaves them out.
    consumed: BTreeSet<String>,
    /// For each query parameter whose template is just `{{ name }}`: that name. A list argument
    /// there repeats the parameter (`?status=a&status=b`), as OpenAPI's default style does.
    query_bare: Vec<Option<String>>,
    input: Schema,
    output: Option<JsonPath>,
    output_schema: Option<Schema>,
    /// The `tools/list` entry (upstream-side name).
    pub listing: Value,
}

/// An HTTP request ready to send, with secrets kept apart so it can also be printed masked.
#[derive(Debug)]
pub(crate) struct Planned {
    pub method: String,
    /// Without the API key query parameter, if any.
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    /// Headers and query values from the config's secrets (`headers`, `auth`).
    pub secret_headers: Vec<(String, Secret)>,
    pub secret_query: Option<(String, Secret)>,
    pub basic_auth: Option<(Secret, Secret)>,
    pub body: Option<(String, Vec<u8>)>,
}

impl Planned {
    /// The URL as sent (secrets included): for the wire only.
    pub(crate) fn wire_url(&self) -> url::Url {
        let mut url = self.url.clone();
        if let Some((name, value)) = &self.secret_query {
            url.query_pairs_mut().append_pair(name, value.expose());
        }
        url
    }

    /// The request as text with every secret shown as written in the file (`${TOKEN}`).
    pub(crate) fn display(&self) -> String {
        let mut url = self.url.to_string();
        if let Some((name, value)) = &self.secret_query {
            url.push(if self.url.query().is_some() { '&' } else { '?' });
            url.push_str(&format!("{name}={}", value.reference()));
        }
        let mut out = format!("{} {url}\n", self.method);
        for (name, value) in &self.secret_headers {
            out.push_str(&format!("{name}: {}\n", value.reference()));
        }
        if let Some((user, password)) = &self.basic_auth {
            out.push_str(&format!("authorization: Basic base64({}:{})\n", user.reference(), password.reference()));
        }
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\n"));
        }
        if let Some((content_type, body)) = &self.body {
            let body = String::from_utf8_lossy(body);
            out.push_str(&format!("content-type: {content_type}\n\n{body}"));
            // A body that ends its own last line (a raw template's trailing newline) gets no second one.
            if !body.is_empty() && !body.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// Why a call produced no request: shown to the client as a tool error.
#[derive(Debug)]
pub(crate) struct CallError(pub String);

impl CompiledTool {
    pub(crate) fn compile(tool: &RestTool) -> Result<CompiledTool, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut templates = Templates::new();
        let mut path_vars = BTreeSet::new();
        let mut consumed = BTreeSet::new();
        let mut all_vars = BTreeSet::new();
        // Which template reads which arguments, to name the template when one is undeclared.
        let mut readers: Vec<(String, BTreeSet<String>)> = Vec::new();
        let mut add = |key: &str, slot: Slot, source: &str, problems: &mut Vec<Problem>| -> BTreeSet<String> {
            if source.contains("${") {
                problems.push(Problem::error(
                    key,
                    "environment variables are not expanded in request templates",
                    "put secrets in the API's `headers` or `auth`, where they are never shown",
                ));
            }
            match templates.add(key, slot, source) {
                Ok(vars) => {
                    readers.push((key.to_string(), vars.clone()));
                    vars
                }
                Err(e) => {
                    problems.push(Problem::error(
                        key,
                        format!("template error: {}", e.message),
                        "fix the template; values are written as {{ name }}",
                    ));
                    BTreeSet::new()
                }
            }
        };
        path_vars.extend(add("path", Slot::Path, &tool.path, &mut problems));
        consumed.extend(path_vars.iter().cloned());
        for (name, source) in &tool.query {
            consumed.extend(add(&format!("query.{name}"), Slot::Text, source, &mut problems));
        }
        for (name, source) in &tool.headers {
            consumed.extend(add(&format!("headers.{name}"), Slot::Text, source, &mut problems));
        }
        all_vars.extend(consumed.iter().cloned());
        match &tool.body {
            RestBody::Arguments => {}
            RestBody::Json(source) => all_vars.extend(add("body.json", Slot::Json, source, &mut problems)),
            RestBody::Form(fields) => {
                for (name, source) in fields {
                    all_vars.extend(add(&format!("body.form.{name}"), Slot::Text, source, &mut problems));
                }
            }
            RestBody::Raw { template, .. } => all_vars.extend(add("body.raw", Slot::Text, template, &mut problems)),
        }

        let input_schema = match &tool.input_schema {
            Some(schema) => {
                check_variables_declared(schema, &readers, &mut problems);
                schema.clone()
            }
            None => derived_schema(&all_vars, &path_vars),
        };
        let input = match Schema::compile(&input_schema) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(Problem::error(
                    "input_schema",
                    format!("not a usable JSON Schema: {e}"),
                    "fix the schema",
                ));
                None
            }
        };
        if input_schema.get("type").and_then(Value::as_str) != Some("object") {
            problems.push(Problem::error(
                "input_schema",
                "a tool's input schema must have `type: object`",
                "describe the arguments as properties of an object",
            ));
        }
        let output = match &tool.output {
            None => None,
            Some(path) => match JsonPath::parse(path) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(Problem::error(
                        "output",
                        format!("not a JSONPath: {e}"),
                        "write e.g. $.data or $.items[*].name",
                    ));
                    None
                }
            },
        };
        let output_schema = match &tool.output_schema {
            None => None,
            Some(schema) => {
                if schema.get("type").and_then(Value::as_str) != Some("object") {
                    problems.push(Problem::error(
                        "output_schema",
                        "an output schema must have `type: object` (MCP structured content is an object)",
                        "describe the object; a selected value that is not an object is returned as {\"result\": value}",
                    ));
                }
                match Schema::compile(schema) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        problems.push(Problem::error(
                            "output_schema",
                            format!("not a usable JSON Schema: {e}"),
                            "fix the schema",
                        ));
                        None
                    }
                }
            }
        };
        if tool.retries > 0 && !tool.is_idempotent() {
            problems.push(Problem::error(
                "retries",
                format!("{} is not idempotent, so it is never retried", tool.method),
                "remove `retries`; only GET, HEAD, OPTIONS, PUT and DELETE requests are retried",
            ));
        }
        if !problems.iter().all(|p| p.warning) {
            return Err(problems);
        }
        let mut listing = Map::new();
        listing.insert("name".into(), Value::String(tool.name.clone()));
        if let Some(title) = &tool.title {
            listing.insert("title".into(), Value::String(title.clone()));
        }
        if let Some(description) = &tool.description {
            listing.insert("description".into(), Value::String(description.clone()));
        }
        listing.insert("inputSchema".into(), input_schema);
        if let Some(schema) = &tool.output_schema {
            listing.insert("outputSchema".into(), schema.clone());
        }
        if let Some(annotations) = &tool.annotations {
            listing.insert("annotations".into(), annotations.clone());
        }
        let query_bare = tool.query.iter().map(|(_, source)| bare_variable(source)).collect();
        Ok(CompiledTool {
            spec: tool.clone(),
            templates,
            consumed,
            query_bare,
            input: input.expect("no problems, so the schema compiled"),
            output,
            output_schema,
            listing: Value::Object(listing),
        })
    }

    /// Checks the arguments and builds the request. `Err` is a message for the client.
    pub(crate) fn plan(&self, api: &RestApi, arguments: &Map<String, Value>) -> Result<Planned, CallError> {
        let mut args_value = Value::Object(arguments.clone());
        self.input.check(&args_value).map_err(|e| CallError(format!("invalid arguments: {e}")))?;
        // A client's `1.0` for an integer passes the schema; the API gets `1`, in every slot.
        super::template::whole_numbers_as_integers(&mut args_value);
        let Value::Object(arguments) = &args_value else { unreachable!("built as an object") };
        let ctx = minijinja::Value::from(minijinja::value::Serde(&args_value));
        let render = |key: &str, slot: Slot| {
            self.templates
                .render(key, slot, &ctx)
                .map_err(|e| CallError(format!("cannot build the request ({key}): {}", e.message)))
        };

        let path = render("path", Slot::Path)?;
        let mut url = api.base_url.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        let joined = match path.as_str() {
            "" => base_path.clone(),
            p if p.starts_with('/') => format!("{base_path}{p}"),
            p => format!("{base_path}/{p}"),
        };
        // The path template may carry its own query string (`/search?fixed=1`).
        let (joined_path, fixed_query) = match joined.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (joined, None),
        };
        url.set_path(if joined_path.is_empty() { "/" } else { &joined_path });
        url.set_query(fixed_query.as_deref().or(api.base_url.query()));
        url.set_fragment(None);
        if url.host_str() != api.base_url.host_str()
            || url.port_or_known_default() != api.base_url.port_or_known_default()
        {
            return Err(CallError("the request would leave the API's host".into()));
        }
        {
            let mut pairs = url.query_pairs_mut();
            for ((name, _), bare) in self.spec.query.iter().zip(&self.query_bare) {
                if let Some(Value::Array(items)) = bare.as_ref().and_then(|var| arguments.get(var)) {
                    for item in items {
                        match item {
                            Value::String(s) => pairs.append_pair(name, s),
                            other => pairs.append_pair(name, &other.to_string()),
                        };
                    }
                    continue;
                }
                let value = render(&format!("query.{name}"), Slot::Text)?;
                if !value.is_empty() {
                    pairs.append_pair(name, &value);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }

        let mut headers = Vec::new();
        for (name, _) in &self.spec.headers {
            let value = render(&format!("headers.{name}"), Slot::Text)?;
            if value.contains(['\r', '\n']) {
                return Err(CallError(format!("header {name} would contain a line break")));
            }
            if !value.is_empty() {
                headers.push((name.to_ascii_lowercase(), value));
            }
        }

        let body = match &self.spec.body {
            RestBody::Arguments => {
                if matches!(self.spec.method.as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS") {
                    None
                } else {
                    let rest: Map<String, Value> = arguments
                        .iter()
                        .filter(|(k, _)| !self.consumed.contains(*k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    Some(("application/json".to_string(), serde_json::to_vec(&rest).expect("JSON serializes")))
                }
            }
            RestBody::Json(_) => {
                let text = render("body.json", Slot::Json)?;
                serde_json::from_str::<Value>(&text)
                    .map_err(|e| CallError(format!("the JSON body template did not produce JSON: {e}")))?;
                Some(("application/json".to_string(), text.into_bytes()))
            }
            RestBody::Form(fields) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (name, _) in fields {
                    let value = render(&format!("body.form.{name}"), Slot::Text)?;
                    if !value.is_empty() {
                        form.append_pair(name, &value);
                    }
                }
                Some(("application/x-www-form-urlencoded".to_string(), form.finish().into_bytes()))
            }
            RestBody::Raw { content_type, .. } => {
                Some((content_type.clone(), render("body.raw", Slot::Text)?.into_bytes()))
            }
        };

        // A credential or header that expands to nothing (`${TOKEN:-}` with TOKEN unset) is not sent.
        let mut secret_headers: Vec<(String, Secret)> = api
            .headers
            .iter()
            .filter(|(_, v)| !v.expose().is_empty())
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let mut secret_query = None;
        let mut basic_auth = None;
        match &api.auth {
            None => {}
            Some(RestAuth::Bearer(v) | RestAuth::HeaderKey { value: v, .. } | RestAuth::QueryKey { value: v, .. })
                if v.expose().is_empty() => {}
            Some(RestAuth::Bearer(token)) => secret_headers.push((
                "authorization".into(),
                Secret::new(format!("Bearer {}", token.expose()), format!("Bearer {}", token.reference())),
            )),
            Some(RestAuth::Basic { username, password }) => basic_auth = Some((username.clone(), password.clone())),
            Some(RestAuth::HeaderKey { name, value }) => {
                secret_headers.push((name.to_ascii_lowercase(), value.clone()))
            }
            Some(RestAuth::QueryKey { name, value }) => secret_query = Some((name.clone(), value.clone())),
        }
        Ok(Planned { method: self.spec.method.clone(), url, headers, secret_headers, secret_query, basic_auth, body })
    }

    /// The tool result for a successful (2xx) response body.
    pub(crate) fn result(&self, content_type: &str, body: &[u8]) -> Value {
        let looks_json = content_type.contains("json")
            || (content_type.is_empty() && body.first().is_some_and(|b| matches!(b, b'{' | b'[')));
        let parsed = if looks_json { serde_json::from_slice::<Value>(body).ok() } else { None };
        let Some(document) = parsed else {
            if self.output.is_some() {
                return error_result(format!(
                    "the response is not JSON ({content_type}), so `output` cannot select from it"
                ));
            }
            return json!({ "content": [{ "type": "text", "text": String::from_utf8_lossy(body) }] });
        };
        let selected = match &self.output {
            None => document,
            Some(path) => {
                let nodes = path.query(&document).all();
                match nodes.len() {
                    0 => Value::Null,
                    1 => nodes[0].clone(),
                    _ => Value::Array(nodes.into_iter().cloned().collect()),
                }
            }
        };
        let structured = match &selected {
            Value::Object(_) => selected.clone(),
            other => json!({ "result": other }),
        };
        if let Some(schema) = &self.output_schema
            && let Err(e) = schema.check(&structured)
        {
            return error_result(format!("the response does not match the tool's output_schema: {e}"));
        }
        let text = serde_json::to_string(&selected).expect("JSON serializes");
        json!({ "content": [{ "type": "text", "text": text }], "structuredContent": structured })
    }
}

/// `Some("x")` for a template that is exactly `{{ x }}`.
fn bare_variable(source: &str) -> Option<String> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let mut chars = inner.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| inner.to_string())
}

/// A tool result that reports a failure to the model (`isError: true`).
pub(crate) fn error_result(message: String) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}

/// The default input schema: every argument a template reads, path arguments required.
fn derived_schema(vars: &BTreeSet<String>, required: &BTreeSet<String>) -> Value {
    let properties: Map<String, Value> = vars.iter().map(|v| (v.clone(), json!({}))).collect();
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = Value::Array(required.iter().cloned().map(Value::String).collect());
    }
    schema
}

/// A template reading an argument the schema does not declare is almost always a typo.
fn check_variables_declared(schema: &Value, readers: &[(String, BTreeSet<String>)], problems: &mut Vec<Problem>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, vars) in readers {
        for var in vars.iter().filter(|v| !properties.contains_key(*v)) {
            let help = match crate::config::diagnostic::did_you_mean(var, properties.keys().map(String::as_str)) {
                Some(m) => {
                    format!("did you mean \"{m}\"? templates read only arguments declared in input_schema.properties")
                }
                None => "declare it in input_schema.properties, or fix the template".into(),
            };
            problems.push(Problem::error(
                key.clone(),
                format!("reads argument \"{var}\", which input_schema does not declare"),
                help,
            ));
        }
    }
}
