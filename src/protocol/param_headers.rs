//! Tool arguments mirrored into HTTP headers (MCP 2026-07-28, `x-mcp-header`): a tool's input
//! schema may mark top-level (or nested, through `properties` only) primitive arguments to travel
//! as `Mcp-Param-{Name}` headers too, so intermediaries can route on them. Clients must send them;
//! servers must check them against the body.

use serde_json::Value;

/// One mirrored argument: where it is in the arguments, and its header's name part.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Mirrored {
    pub path: Vec<String>,
    pub name: String,
}

/// The arguments `input_schema` marks with `x-mcp-header`, reached through `properties` only.
pub(crate) fn mirrored(input_schema: &Value) -> Vec<Mirrored> {
    fn walk(schema: &Value, path: &mut Vec<String>, out: &mut Vec<Mirrored>) {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
        for (key, property) in properties {
            path.push(key.clone());
            if let Some(name) = property.get("x-mcp-header").and_then(Value::as_str) {
                out.push(Mirrored { path: path.clone(), name: name.to_string() });
            }
            walk(property, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(input_schema, &mut Vec::new(), &mut out);
    out
}

/// The value at `path` in the arguments (absent or null: `None`).
fn value_at<'a>(arguments: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut value = arguments;
    for key in path {
        value = value.get(key)?;
    }
    (!value.is_null()).then_some(value)
}

/// A primitive value as its header text (see `stateless::header_value`).
pub(crate) fn encode(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return None,
    };
    Some(super::stateless::header_value(&text))
}

/// The headers a client sends for these arguments: `(Mcp-Param-{Name}, value)`.
pub(crate) fn headers(mirrored: &[Mirrored], arguments: &Value) -> Vec<(String, String)> {
    mirrored
        .iter()
        .filter_map(|m| Some((format!("Mcp-Param-{}", m.name), encode(value_at(arguments, &m.path)?)?)))
        .collect()
}

/// Checks the headers a request carried (`header` looks one up by name) against its arguments.
pub(crate) fn check(
    mirrored: &[Mirrored],
    arguments: &Value,
    header: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    for m in mirrored {
        let name = format!("Mcp-Param-{}", m.name);
        let sent = header(&name);
        match (value_at(arguments, &m.path), sent) {
            (None, None) => {}
            (None, Some(_)) => return Err(format!("{name} is sent but the argument is absent")),
            (Some(_), None) => return Err(format!("the {name} header is required for this argument")),
            (Some(value), Some(text)) => {
                let decoded =
                    super::stateless::header_text(&text).ok_or_else(|| format!("{name} is not valid base64"))?;
                let same = match value {
                    Value::String(s) => *s == decoded,
                    Value::Bool(b) => b.to_string() == decoded,
                    Value::Number(n) => decoded.parse::<f64>().ok() == n.as_f64(),
                    _ => false,
                };
                if !same {
                    return Err(format!("{name} header value {decoded:?} does not match the body's {value}"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mirrored_arguments_round_trip_and_are_checked() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "opts": {"type": "object", "properties": {"tenant": {"type": "integer", "x-mcp-header": "Tenant"}}},
            "query": {"type": "string"}}});
        let m = mirrored(&schema);
        assert_eq!(m.len(), 2);
        let args = json!({"region": "Hello, 世界", "opts": {"tenant": 42}, "query": "x"});
        let sent = headers(&m, &args);
        assert_eq!(sent[0], ("Mcp-Param-Region".to_string(), "=?base64?SGVsbG8sIOS4lueVjA==?=".to_string()));
        assert_eq!(sent[1], ("Mcp-Param-Tenant".to_string(), "42".to_string()));
        let lookup = |name: &str| sent.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert!(check(&m, &args, lookup).is_ok());
        assert!(check(&m, &json!({"region": "other", "opts": {"tenant": 42}}), lookup).is_err());
        assert!(check(&m, &args, |_| None).is_err(), "a missing header is refused");
        assert!(check(&m, &json!({}), |_| None).is_ok(), "absent arguments need no header");
        assert!(
            check(&m, &json!({"region": "a", "opts": {"tenant": 42}}), |n| (n == "Mcp-Param-Region")
                .then(|| "a".into())
                .or(Some("42.0".into())))
            .is_ok(),
            "integers compare as numbers"
        );
    }
}
