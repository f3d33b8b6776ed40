//! Writes converted tools as gateway.yaml text: block mappings for the config's structure, and
//! one-line JSON (which is YAML flow style) for schemas and lists, so a pasted block reads well
//! and parses back to exactly the same values.

use std::fmt::Write as _;

use serde_json::Value;

/// Keys whose values are written on one line as JSON.
const FLOW_KEYS: [&str; 4] = ["input_schema", "output_schema", "annotations", "auth"];

/// `value` (a mapping) as YAML lines indented by `indent` spaces.
pub(crate) fn to_yaml(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    if let Value::Object(map) = value {
        for (key, value) in map {
            write_entry(&mut out, key, value, indent);
        }
    }
    out
}

fn write_entry(out: &mut String, key: &str, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    let key_text = scalar(key);
    match value {
        Value::Object(map) if !map.is_empty() && !FLOW_KEYS.contains(&key) => {
            let _ = writeln!(out, "{pad}{key_text}:");
            for (k, v) in map {
                write_entry(out, k, v, indent + 2);
            }
        }
        Value::String(s) => {
            let _ = writeln!(out, "{pad}{key_text}: {}", scalar(s));
        }
        other => {
            let _ = writeln!(out, "{pad}{key_text}: {}", serde_json::to_string(other).expect("JSON serializes"));
        }
    }
}

/// A string as a YAML scalar: plain when that cannot be misread, else double-quoted (JSON escapes
/// are valid YAML escapes).
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { s.to_string() } else { serde_json::to_string(s).expect("strings serialize") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_is_block_and_schemas_are_flow() {
        let v = serde_json::json!({
            "getPet": { "method": "GET", "path": "/pet/{id}", "description": "Say \"hi\"\nthen: go",
                        "query": { "on": "{{ on }}" }, "input_schema": { "type": "object" } }
        });
        assert_eq!(
            to_yaml(&v, 2),
            "  getPet:\n    method: GET\n    path: \"/pet/{id}\"\n    description: \"Say \\\"hi\\\"\\nthen: go\"\n    query:\n      \"on\": \"{{ on }}\"\n    input_schema: {\"type\":\"object\"}\n"
        );
    }
}
