//! Applying the file's tool shaping to an upstream's tool definition, and the definition hash
//! that pins compare against.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::{ArgumentShape, ToolShape};

/// The fields of a tool definition a pin covers: what a model reads to decide how to use it.
const PINNED_FIELDS: [&str; 6] = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"];

/// `sha256:<hex>` over the pinned fields of the upstream's definition, with object keys sorted,
/// so the hash changes with the meaning and never with key order or unknown extra fields.
pub(crate) fn definition_hash(tool: &Map<String, Value>) -> String {
    let mut pinned = Map::new();
    for field in PINNED_FIELDS {
        if let Some(v) = tool.get(field) {
            pinned.insert(field.to_string(), v.clone());
        }
    }
    let mut text = String::new();
    canonical(&Value::Object(pinned), &mut text);
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// JSON with object keys sorted, so equal values always read the same.
pub(crate) fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("strings serialize"));
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The definition clients see: overrides applied, hidden and fixed arguments removed from the
/// input schema, defaults shown in it.
pub(crate) fn apply(shape: &ToolShape, tool: &mut Map<String, Value>) {
    if let Some(title) = &shape.title {
        tool.insert("title".into(), Value::String(title.clone()));
    }
    if let Some(description) = &shape.description {
        tool.insert("description".into(), Value::String(description.clone()));
    }
    if !shape.annotations.is_empty() {
        let annotations = tool.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = annotations {
            for (k, v) in &shape.annotations {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    if shape.arguments.is_empty() {
        return;
    }
    let Some(Value::Object(schema)) = tool.get_mut("inputSchema") else { return };
    for (name, argument) in &shape.arguments {
        match argument {
            ArgumentShape::Fixed(_) | ArgumentShape::Hidden => {
                if let Some(Value::Object(props)) = schema.get_mut("properties") {
                    props.remove(name);
                }
                drop_required(schema, name);
            }
            ArgumentShape::Default(value) => {
                if let Some(Value::Object(props)) = schema.get_mut("properties") {
                    let prop = props.entry(name.clone()).or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(prop) = prop {
                        prop.insert("default".into(), value.clone());
                    }
                }
                drop_required(schema, name);
            }
        }
    }
}

fn drop_required(schema: &mut Map<String, Value>, name: &str) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r.as_str() != Some(name));
        if required.is_empty() {
            schema.remove("required");
        }
    }
}

/// The arguments of a call after shaping: fixed values set, defaults filled in, hidden ones dropped.
pub(crate) fn arguments(shape: &[(String, ArgumentShape)], arguments: &mut Map<String, Value>) {
    for (name, argument) in shape {
        match argument {
            ArgumentShape::Fixed(value) => {
                arguments.insert(name.clone(), value.clone());
            }
            ArgumentShape::Default(value) => {
                arguments.entry(name.clone()).or_insert_with(|| value.clone());
            }
            ArgumentShape::Hidden => {
                arguments.remove(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::OnChange;

    #[test]
    fn the_hash_ignores_key_order_and_unpinned_fields() {
        let a = json!({"name": "t", "inputSchema": {"type": "object", "properties": {"a": {}, "b": {}}}, "_meta": {"x": 1}});
        let b = json!({"inputSchema": {"properties": {"b": {}, "a": {}}, "type": "object"}, "name": "t"});
        let c = json!({"name": "t", "description": "now different", "inputSchema": {"type": "object"}});
        let h = |v: &Value| definition_hash(v.as_object().unwrap());
        assert_eq!(h(&a), h(&b));
        assert_ne!(h(&a), h(&c));
        assert!(h(&a).starts_with("sha256:") && h(&a).len() == 71);
    }

    #[test]
    fn shaping_rewrites_the_definition_and_the_arguments() {
        let shape = ToolShape {
            tool: "create".into(),
            title: Some("Create".into()),
            description: None,
            annotations: json!({"destructiveHint": false}).as_object().unwrap().clone(),
            arguments: vec![
                ("org".into(), ArgumentShape::Fixed(json!("acme"))),
                ("limit".into(), ArgumentShape::Default(json!(10))),
                ("debug".into(), ArgumentShape::Hidden),
            ],
            pin: None,
            on_change: OnChange::Warn,
        };
        let mut tool = json!({
            "name": "create", "annotations": {"readOnlyHint": false},
            "inputSchema": {"type": "object", "required": ["org", "limit", "name"],
                            "properties": {"org": {}, "limit": {"type": "integer"}, "debug": {}, "name": {}}}
        });
        apply(&shape, tool.as_object_mut().unwrap());
        assert_eq!(tool["title"], "Create");
        assert_eq!(tool["annotations"], json!({"readOnlyHint": false, "destructiveHint": false}));
        assert_eq!(tool["inputSchema"]["required"], json!(["name"]));
        assert_eq!(tool["inputSchema"]["properties"], json!({"limit": {"type": "integer", "default": 10}, "name": {}}));

        let mut args = json!({"org": "evil", "debug": true, "name": "n"}).as_object().unwrap().clone();
        arguments(&shape.arguments, &mut args);
        assert_eq!(Value::Object(args), json!({"org": "acme", "name": "n", "limit": 10}));
    }
}
