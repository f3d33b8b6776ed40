//! JSON Schema validators for tool arguments and results. Schemas come from the config file (and,
//! through OpenAPI, from documents we did not write), so `$ref` never fetches anything.

use serde_json::Value;

/// A compiled schema.
pub(crate) struct Schema(jsonschema::Validator);

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

/// Refuses every external reference: a schema may only point inside itself.
struct NoFetch;

impl jsonschema::Retrieve for NoFetch {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("external $ref {uri} is not fetched; put the definition in the schema's $defs").into())
    }
}

/// Most problems listed in one error text.
const MAX_LISTED: usize = 5;

impl Schema {
    /// Compiles `schema` (draft from its `$schema`, 2020-12 when absent).
    pub(crate) fn compile(schema: &Value) -> Result<Schema, String> {
        jsonschema::options().with_retriever(NoFetch).build(schema).map(Schema).map_err(|e| e.to_string())
    }

    /// `Ok` when `instance` conforms; otherwise one line per problem (at most a few), each with
    /// where in the instance it is.
    pub(crate) fn check(&self, instance: &Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .0
            .iter_errors(instance)
            .take(MAX_LISTED)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
            })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_with_locations() {
        let s = Schema::compile(&serde_json::json!({
            "type": "object", "required": ["lat"], "properties": { "lat": { "type": "number" } }
        }))
        .unwrap();
        assert!(s.check(&serde_json::json!({"lat": 1.5})).is_ok());
        let e = s.check(&serde_json::json!({"lat": "north"})).unwrap_err();
        assert!(e.starts_with("/lat: "), "{e}");
        assert!(s.check(&serde_json::json!({})).unwrap_err().contains("lat"));
    }

    #[test]
    fn external_references_are_never_fetched() {
        let e = Schema::compile(&serde_json::json!({ "$ref": "http://127.0.0.1:9/schema.json" })).unwrap_err();
        assert!(e.contains("not fetched") || e.contains("127.0.0.1"), "{e}");
        let local = Schema::compile(&serde_json::json!({
            "$defs": { "n": { "type": "integer" } }, "$ref": "#/$defs/n"
        }))
        .unwrap();
        assert!(local.check(&serde_json::json!(3)).is_ok());
    }
}
