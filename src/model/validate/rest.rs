//! Checks of a `rest:` upstream: the base URL, secrets, auth, and every tool compiled by the
//! caller's `RestChecks` (serving's own, from `reload::prepare`), so template, schema and JSONPath
//! mistakes are reported with positions.

use std::time::Duration;

use crate::config::raw::{RawOpenApi, RawRest, RawRestBody, RawRestTool};
use crate::model::rest::{DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RETRIES};
use crate::model::{RestApi, RestAuth, RestBody, RestTool, Secret, Transport};

use super::Validator;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl Validator<'_> {
    pub(super) fn rest(&mut self, p: &str, raw: &RawRest, timeout: Duration) -> Option<Transport> {
        let base_path = format!("{p}.base_url");
        let allow_private = raw.allow_private.unwrap_or(false);
        let base_url = self.expand(&base_path, &raw.base_url).and_then(|u| match url::Url::parse(&u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            _ => {
                self.error(
                    &base_path,
                    format!("\"{}\" is not an http(s) URL", raw.base_url),
                    "write the API's root, e.g. https://api.example.com/v1",
                );
                None
            }
        });
        if let Some(url) = &base_url
            && !allow_private
            && let Some(host) = url.host()
            && let Some(reason) = self.checks.refused_host(&host)
        {
            self.error(
                &base_path,
                format!("requests to {url} are refused: {reason}"),
                &format!(
                    "set {} on this API if it really is on a private network",
                    self.syntax.assign("allow_private", "true")
                ),
            );
        }
        let headers: Vec<Option<(String, Secret)>> = raw
            .headers
            .iter()
            .flatten()
            .map(|(k, v)| self.secret(&format!("{p}.headers.{k}"), v).map(|s| (k.clone(), s)))
            .collect();
        let auth = self.rest_auth(p, raw);
        let api_max = raw.max_response_bytes.map_or(DEFAULT_MAX_RESPONSE_BYTES, |n| n as usize);
        if raw.tools.is_empty() {
            let help = format!("add endpoints {}", self.syntax.entries_of(&format!("{p}.tools")));
            self.warning(&format!("{p}.tools"), "this API declares no tools", &help);
        }
        let mut tools = Vec::new();
        for (name, tool) in &raw.tools {
            let tp = format!("{p}.tools.{name}");
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                self.error(
                    &tp,
                    format!("tool name {name:?} is empty or has spaces"),
                    "use letters, digits, `_` or `-`",
                );
            }
            let Some(t) = self.rest_tool(&tp, name, tool, timeout, api_max) else { continue };
            // Compiled exactly as serving compiles it, so what passes here serves.
            match self.checks.compile(&t) {
                Ok(()) => tools.push(t),
                Err(problems) => {
                    for problem in problems {
                        let at = format!("{tp}.{}", problem.at);
                        if problem.warning {
                            self.warning(&at, problem.message, &problem.help);
                        } else {
                            self.error(&at, problem.message, &problem.help);
                        }
                    }
                }
            }
        }
        let api = RestApi {
            base_url: base_url?,
            headers: headers.into_iter().collect::<Option<_>>()?,
            auth: auth?,
            allow_private,
            tools,
        };
        Some(Transport::Rest(Box::new(api)))
    }

    /// An `openapi:` upstream, converted to a `rest:` one before validation
    /// (`openapi::convert_upstreams`): what converting found, then the checks of a `rest:` API.
    pub(super) fn openapi(
        &mut self,
        p: &str,
        upstream: &str,
        raw: &RawOpenApi,
        timeout: Duration,
    ) -> Option<Transport> {
        let Some(imported) = self.imported.get(upstream) else {
            self.error(&format!("{p}.spec"), format!("{} was not read", raw.spec), "check the path");
            return None;
        };
        self.out.extend(imported.findings.iter().cloned());
        self.rest(p, imported.rest.as_ref()?, timeout)
    }

    /// `Some(None)` for no auth, `None` when the auth block is wrong (reported).
    fn rest_auth(&mut self, p: &str, raw: &RawRest) -> Option<Option<RestAuth>> {
        let Some(auth) = &raw.auth else { return Some(None) };
        let ap = format!("{p}.auth");
        let given = [auth.bearer.is_some(), auth.basic.is_some(), auth.api_key.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            self.error(&ap, "give exactly one kind of auth", "use one of bearer, basic or api_key");
            return None;
        }
        if let Some(token) = &auth.bearer {
            return Some(Some(RestAuth::Bearer(self.secret(&format!("{ap}.bearer"), token)?)));
        }
        if let Some(basic) = &auth.basic {
            let username = self.secret(&format!("{ap}.basic.username"), &basic.username);
            let password = self.secret(&format!("{ap}.basic.password"), &basic.password);
            return Some(Some(RestAuth::Basic { username: username?, password: password? }));
        }
        let key = auth.api_key.as_ref().expect("one kind is given");
        let kp = format!("{ap}.api_key");
        let value = self.secret(&format!("{kp}.value"), &key.value);
        match (&key.header, &key.query) {
            (Some(name), None) => Some(Some(RestAuth::HeaderKey { name: name.clone(), value: value? })),
            (None, Some(name)) => Some(Some(RestAuth::QueryKey { name: name.clone(), value: value? })),
            _ => {
                let help = format!("e.g. {}", self.syntax.assign_str("header", "X-API-Key"));
                self.error(&kp, "give exactly one of `header` or `query`", &help);
                None
            }
        }
    }

    fn rest_tool(
        &mut self,
        tp: &str,
        name: &str,
        raw: &RawRestTool,
        default_timeout: Duration,
        api_max: usize,
    ) -> Option<RestTool> {
        let method = raw.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            self.error(
                &format!("{tp}.method"),
                format!("\"{method}\" is not an HTTP method mcpgw sends"),
                "use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS",
            );
        }
        let timeout = self.duration(&format!("{tp}.timeout"), raw.timeout.as_deref(), default_timeout);
        let body = match &raw.body {
            None => RestBody::Arguments,
            Some(b) => self.rest_body(&format!("{tp}.body"), b)?,
        };
        let is_read = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
        if is_read && raw.body.is_some() {
            self.warning(
                &format!("{tp}.body"),
                format!("a {method} request with a body is ignored by many servers"),
                "send these values as `query` parameters",
            );
        }
        let map = |m: &Option<indexmap::IndexMap<String, String>>| -> Vec<(String, String)> {
            m.iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let tool = RestTool {
            name: name.to_string(),
            title: raw.title.clone(),
            description: raw.description.clone(),
            retries: raw.retries.unwrap_or(
                if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE") {
                    DEFAULT_RETRIES
                } else {
                    0
                },
            ),
            method,
            path: raw.path.clone().unwrap_or_default(),
            query: map(&raw.query),
            headers: map(&raw.headers),
            body,
            input_schema: raw.input_schema.clone(),
            output: raw.output.clone(),
            output_schema: raw.output_schema.clone(),
            annotations: raw.annotations.clone(),
            timeout,
            max_response_bytes: raw.max_response_bytes.map_or(api_max, |n| n as usize),
        };
        let known = METHODS.contains(&tool.method.as_str());
        if known
            && tool.input_schema.is_none()
            && matches!(tool.body, RestBody::Arguments)
            && !is_read
            && tool.method != "DELETE"
        {
            self.warning(
                tp,
                format!(
                    "{} tool without `input_schema`: clients cannot tell which arguments make the body",
                    tool.method
                ),
                "declare the arguments under input_schema.properties",
            );
        }
        if let Some(annotations) = &tool.annotations
            && !annotations.is_object()
        {
            let help = format!("e.g. {}", self.syntax.inline("readOnlyHint", "true"));
            self.error(&format!("{tp}.annotations"), "annotations must be a mapping", &help);
        }
        Some(tool)
    }

    fn rest_body(&mut self, bp: &str, raw: &RawRestBody) -> Option<RestBody> {
        let given = [raw.json.is_some(), raw.form.is_some(), raw.raw.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            let help = format!("e.g. {}", self.syntax.assign("json", "'{\"q\": {{ query }}}'"));
            self.error(bp, "give exactly one of `json`, `form` or `raw`", &help);
            return None;
        }
        if raw.content_type.is_some() && raw.raw.is_none() {
            self.error(
                &format!("{bp}.content_type"),
                "`content_type` applies to `raw` bodies only",
                "remove it; json and form bodies set their own",
            );
        }
        Some(match (&raw.json, &raw.form, &raw.raw) {
            (Some(json), ..) => RestBody::Json(json.clone()),
            (_, Some(form), _) => RestBody::Form(form.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            (.., Some(text)) => RestBody::Raw {
                template: text.clone(),
                content_type: raw.content_type.clone().unwrap_or_else(|| "text/plain; charset=utf-8".into()),
            },
            _ => unreachable!("exactly one is given"),
        })
    }
}
