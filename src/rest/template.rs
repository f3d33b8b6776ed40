//! Request templates of one REST tool: `{{ expression }}` over the call's arguments (minijinja),
//! plus OpenAPI-style `{name}` placeholders in paths. Each template knows where its output goes
//! and escapes values for that place, so an argument can never break out of its slot.
//! Values are written the way JSON writes them (`true`, `null`, `1`, `["a"]`), never in
//! minijinja's Python spellings (`True`, `none`, `1.0`), unless the template converts them itself.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, State, UndefinedBehavior};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Where a template's output goes, which decides how values are escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A URL path: each value is one percent-encoded segment (a `/` in a value stays inside it).
    Path,
    /// A query value, form value, header value or raw body: strings as themselves, other values
    /// as JSON text; the URL or form encoder escapes them.
    Text,
    /// A JSON body: each value is written as JSON (strings quoted and escaped).
    Json,
}

impl Slot {
    fn tag(self) -> &'static str {
        match self {
            Slot::Path => "path",
            Slot::Text => "text",
            Slot::Json => "json",
        }
    }
}

/// Characters escaped in a path segment: everything but RFC 3986 unreserved characters and the
/// sub-delimiters that are harmless inside a segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A template that failed to compile, with what to tell the user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateError {
    pub message: String,
}

/// The compiled templates of one tool, by key (`path`, `query.lat`, `body`, ...).
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        // A missing optional argument renders as nothing (and an empty query value or header is
        // left out); misspelt names are caught by `mcpgw check` against the input schema instead.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| match name.split_once(':').map(|(tag, _)| tag) {
            Some("json") => AutoEscape::Json,
            Some(tag) => AutoEscape::Custom(tag.to_string().into()),
            None => AutoEscape::None,
        });
        env.set_formatter(format_value);
        // The builtins write non-string items the Python way (`True`); these write them as JSON does.
        env.add_filter("join", join);
        env.add_filter("string", |value: &Value| Value::from(plain_text(value)));
        // A raw body ends as written, newline included.
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .keep_trailing_newline(true)
                .build()
                .expect("default delimiters are valid"),
        );
        Templates { env }
    }

    /// Compiles `source` under `key` for `slot`. Returns the argument names it reads.
    pub(crate) fn add(&mut self, key: &str, slot: Slot, source: &str) -> Result<BTreeSet<String>, TemplateError> {
        let source = if slot == Slot::Path { braces_to_expressions(source) } else { source.to_string() };
        let name = format!("{}:{key}", slot.tag());
        self.env.add_template_owned(name.clone(), source).map_err(|e| TemplateError { message: describe(&e) })?;
        let template = self.env.get_template(&name).expect("just added");
        Ok(template.undeclared_variables(false).into_iter().collect())
    }

    /// Renders the template under `key` with the arguments as variables.
    pub(crate) fn render(&self, key: &str, slot: Slot, arguments: &Value) -> Result<String, TemplateError> {
        let name = format!("{}:{key}", slot.tag());
        let template = self.env.get_template(&name).map_err(|e| TemplateError { message: describe(&e) })?;
        template.render(arguments).map_err(|e| TemplateError { message: describe(&e) })
    }
}

/// `/pets/{id}` → `/pets/{{ id }}`; `{{ ... }}` and `{% ... %}` are left as written.
fn braces_to_expressions(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if after.starts_with('{') || after.starts_with('%') || after.starts_with('#') {
            // A minijinja tag: copy through its end.
            let close = if after.starts_with('{') {
                "}}"
            } else if after.starts_with('%') {
                "%}"
            } else {
                "#}"
            };
            match after.find(close) {
                Some(end) => {
                    out.push_str(&rest[start..start + 1 + end + 2]);
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
            continue;
        }
        match after.find('}') {
            Some(end) if is_identifier(&after[..end]) => {
                let _ = write!(out, "{{{{ {} }}}}", &after[..end]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How one value is written into a template's output.
fn format_value(out: &mut minijinja::Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_safe() {
        return out.write_str(value.as_str().unwrap_or_default()).map_err(Error::from);
    }
    match state.auto_escape() {
        AutoEscape::Custom(tag) if tag == "path" => {
            let text = plain_text(value);
            // `.` and `..` would climb out of the tool's path once resolved against the base URL.
            if text == "." || text == ".." {
                return Err(Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("{text:?} is not allowed as a path segment"),
                ));
            }
            out.write_str(&utf8_percent_encode(&text, SEGMENT).to_string()).map_err(Error::from)
        }
        AutoEscape::Custom(_) => out.write_str(&plain_text(value)).map_err(Error::from),
        AutoEscape::Json => out.write_str(&json_text(value)).map_err(Error::from),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// A value as text: strings as themselves, a missing argument as nothing, anything else as JSON
/// (`true`, `null`, `3`, `[1,2]`).
fn plain_text(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        _ => json_text(value),
    }
}

/// A value as JSON, with whole numbers written as integers.
fn json_text(value: &Value) -> String {
    let mut json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    whole_numbers_as_integers(&mut json);
    serde_json::to_string(&json).unwrap_or_default()
}

/// `join` over the items of a list, each written as `plain_text` writes it.
fn join(value: &Value, joiner: Option<&str>) -> Result<Value, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(Value::from(""));
    }
    let items: Vec<String> = value.try_iter()?.map(|item| plain_text(&item)).collect();
    Ok(Value::from(items.join(joiner.unwrap_or(""))))
}

/// Rewrites floats without a fraction (`1.0`, from a client or from arithmetic) as integers,
/// which is how an integer parameter expects them. Beyond 2^53 a float is not an exact integer,
/// so it is left alone.
pub(crate) fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= EXACT
            {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

fn describe(e: &Error) -> String {
    let mut message = e.detail().map_or_else(|| e.kind().to_string(), str::to_string);
    if let Some(line) = e.line() {
        let _ = write!(message, " (template line {line})");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(slot: Slot, source: &str, args: serde_json::Value) -> Result<String, TemplateError> {
        let mut t = Templates::new();
        t.add("t", slot, source)?;
        t.render("t", slot, &Value::from(minijinja::value::Serde(&args)))
    }

    #[test]
    fn path_placeholders_take_one_escaped_segment() {
        let out = render(Slot::Path, "/pets/{id}/toys/{{ toy }}", serde_json::json!({"id": "a/b c", "toy": 7}));
        assert_eq!(out.unwrap(), "/pets/a%2Fb%20c/toys/7");
        assert!(render(Slot::Path, "/x/{id}", serde_json::json!({"id": ".."})).is_err());
    }

    #[test]
    fn json_slots_write_json() {
        let out = render(Slot::Json, r#"{"q": {{ q }}, "n": {{ n }}}"#, serde_json::json!({"q": "say \"hi\"", "n": 2}));
        assert_eq!(out.unwrap(), r#"{"q": "say \"hi\"", "n": 2}"#);
    }

    #[test]
    fn text_slots_write_plain_values_and_nothing_for_missing_ones() {
        let args = serde_json::json!({"a": "x&y", "l": [1, 2]});
        assert_eq!(render(Slot::Text, "{{ a }}|{{ l }}|{{ missing }}", args).unwrap(), "x&y|[1,2]|");
    }

    /// Every kind of value, in every slot, is written as JSON writes it: not `True`, `none` or `1.0`.
    #[test]
    fn values_are_written_the_json_way_in_every_slot() {
        let args = serde_json::json!({
            "t": true, "f": false, "n": null, "i": 1, "w": 1.0, "x": 2.5, "big": 1e300,
            "l": [true, 1.0, "s", null], "o": {"k": false, "v": 3.0}
        });
        let all = "{{ t }}|{{ f }}|{{ n }}|{{ i }}|{{ w }}|{{ x }}|{{ big }}|{{ l }}|{{ o }}";
        let text = r#"true|false|null|1|1|2.5|1e+300|[true,1,"s",null]|{"k":false,"v":3}"#;
        assert_eq!(render(Slot::Text, all, args.clone()).unwrap(), text);
        let json = r#"true|false|null|1|1|2.5|1e+300|[true,1,"s",null]|{"k":false,"v":3}"#;
        assert_eq!(render(Slot::Json, all, args.clone()).unwrap(), json);
        let path = "/{t}/{f}/{n}/{w}/{{ l }}";
        assert_eq!(render(Slot::Path, path, args.clone()).unwrap(), "/true/false/null/1/%5Btrue,1,%22s%22,null%5D");
        // Filters that turn values into text write them the same way.
        let filtered = "{{ l | join(',') }}|{{ t | string }}|{{ w | string }}|{{ missing | join(',') }}";
        assert_eq!(render(Slot::Text, filtered, args.clone()).unwrap(), "true,1,s,null|true|1|");
        // A template that spells a value its own way keeps its spelling.
        assert_eq!(render(Slot::Text, "{{ 'yes' if t else 'no' }}", args).unwrap(), "yes");
    }

    #[test]
    fn variables_are_reported_and_syntax_errors_located() {
        let mut t = Templates::new();
        let vars = t.add("p", Slot::Path, "/a/{id}/{{ b | upper }}").unwrap();
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["b", "id"]);
        let e = t.add("q", Slot::Text, "{{ lat ").unwrap_err();
        assert!(e.message.contains("template line 1"), "{e:?}");
    }

    #[test]
    fn braces_that_are_not_names_stay() {
        assert_eq!(braces_to_expressions("/a/{x}/{not a name}/{{ y }}"), "/a/{{ x }}/{not a name}/{{ y }}");
    }
}
