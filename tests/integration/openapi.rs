//! OpenAPI through the real binary: `mcpgw import openapi` on the Petstore 3.0 document prints
//! config that checks and serves, and an `openapi:` upstream loads its document at start and
//! again when the document changes.

use std::path::{Path, PathBuf};

use std::process::Command;

use serde_json::{Value, json};

use super::http_api::TestApi;
use super::util::{Client, TestGateway, eventually, gateway_bin};

fn petstore() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi/petstore.yaml")
}

fn seen(r: &Value) -> &Value {
    assert!(r["result"]["isError"] != true, "the call failed: {r}");
    &r["result"]["structuredContent"]
}

#[tokio::test]
async fn imported_petstore_checks_and_serves_every_parameter_kind() {
    let api = TestApi::start().await;
    let base = format!("{}/echo", api.base);
    let out = Command::new(gateway_bin())
        .args(["import", "openapi", petstore().to_str().unwrap(), "--name", "pets", "--base-url", &base])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let block = String::from_utf8(out.stdout).unwrap();
    assert!(block.contains("# left out: POST /pet/{petId}/uploadImage (uploadFile): multipart"), "{block}");
    // The pasted block, allowed to reach the loopback test server.
    let block = block
        .replace(&format!("base_url: \"{base}\"\n"), &format!("base_url: \"{base}\"\n      allow_private: true\n"));
    let yaml = format!("upstreams:\n{block}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let check = Command::new(gateway_bin())
        .args(["check", "--deny-warnings", file.to_str().unwrap()])
        .env("PETS_API_KEY", "special-key")
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}\n{yaml}", String::from_utf8_lossy(&check.stderr));

    let gw = TestGateway::start_with_env(&yaml, &[("PETS_API_KEY", "special-key")]).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let tools = c.tools().await;
    assert_eq!(tools.len(), 19, "{tools:?}");
    assert!(tools.contains(&"pets_getPetById".to_string()));

    // Path parameter, and the document's api_key security scheme as a header.
    let r = c.call("pets_getPetById", json!({"petId": 7})).await;
    assert_eq!(seen(&r)["path"], "/echo/pet/7");
    assert_eq!(seen(&r)["headers"]["api_key"], "special-key");
    // An exploded array query parameter repeats.
    let r = c.call("pets_findPetsByStatus", json!({"status": ["available", "sold"]})).await;
    assert_eq!(seen(&r)["query"], "status=available&status=sold");
    // A JSON body from the body's own fields.
    let r = c.call("pets_addPet", json!({"name": "Rex", "photoUrls": [], "status": "available"})).await;
    let body: Value = serde_json::from_str(seen(&r)["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"name": "Rex", "photoUrls": [], "status": "available"}));
    // A form body.
    let r = c.call("pets_updatePetWithForm", json!({"petId": 3, "name": "Max"})).await;
    assert_eq!(seen(&r)["body"], "name=Max", "an absent optional field is left out");
    // The schema, with its `$ref`s copied in, rejects a wrong type before any request.
    let r = c.call("pets_addPet", json!({"name": "Rex", "photoUrls": [], "category": {"id": "one"}})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("/category/id"), "{r}");
}

#[tokio::test]
async fn an_openapi_upstream_reloads_when_its_document_changes() {
    let api = TestApi::start().await;
    let yaml = format!(
        "upstreams:\n  store:\n    openapi:\n      spec: petstore.yaml\n      base_url: {}/echo\n      allow_private: true\n      tags: [store]\n",
        api.base
    );
    let document = std::fs::read_to_string(petstore()).unwrap();
    let gw = TestGateway::start_with_files(&yaml, &[("petstore.yaml", &document)]).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    eventually("the store operations", || {
        let mut c = c.sibling();
        async move {
            let tools = c.tools().await;
            (tools.len() == 4).then_some(())
        }
    })
    .await;
    let mut tools = c.tools().await;
    tools.sort();
    assert_eq!(tools, ["store_deleteOrder", "store_getInventory", "store_getOrderById", "store_placeOrder"]);
    let r = c.call("store_getOrderById", json!({"orderId": 5})).await;
    assert_eq!(seen(&r)["path"], "/echo/store/order/5");

    // Editing the document alone reloads: the renamed operation replaces the old one.
    let renamed = document.replace("operationId: getInventory", "operationId: inventory");
    std::fs::write(gw.config.parent().unwrap().join("petstore.yaml"), renamed).unwrap();
    eventually("the renamed operation", || {
        let mut c = c.sibling();
        async move { c.tools().await.contains(&"store_inventory".to_string()).then_some(()) }
    })
    .await;
    assert!(!c.tools().await.contains(&"store_getInventory".to_string()));
}

#[tokio::test]
async fn a_missing_or_foreign_document_is_a_check_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(dir.path().join("old.json"), r#"{"swagger": "2.0", "paths": {}}"#).unwrap();
    std::fs::write(
        &file,
        "upstreams:\n  a:\n    openapi: { spec: nowhere.yaml }\n  b:\n    openapi: { spec: old.json, base_url: 'https://x.example' }\n",
    )
    .unwrap();
    let out = Command::new(gateway_bin()).args(["check", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(":3:") && stderr.contains("upstreams.a.openapi.spec: cannot read nowhere.yaml"),
        "{stderr}"
    );
    assert!(stderr.contains("upstreams.b.openapi.spec: old.json: Swagger 2.0 is not OpenAPI 3.x"), "{stderr}");
}

/// The import says how it was run, leaves out what the server assigns (`readOnly`), and hints
/// at `allow_private` for a server on loopback instead of leaving `check` to refuse it.
#[test]
fn import_names_its_flags_drops_read_only_fields_and_hints_at_allow_private() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi/inventory.yaml");
    let spec = spec.to_str().unwrap();
    let out = Command::new(gateway_bin())
        .args(["import", "openapi", spec, "--name", "inv", "--include-operation", "*_item"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let block = String::from_utf8(out.stdout).unwrap();
    let first = block.lines().next().unwrap();
    assert_eq!(
        first,
        format!("# Inventory 1.2, imported by `mcpgw import openapi {spec} --name inv --include-operation '*_item'`.")
    );
    assert!(
        block.contains(
            "      base_url: \"http://127.0.0.1:8080/api\"\n      \
             # http://127.0.0.1:8080/api is a private or loopback address, which mcpgw refuses unless the API allows it:\n      \
             # uncomment the next line if the API really runs there (or import with another --base-url).\n      \
             # allow_private: true\n"
        ),
        "{block}"
    );
    let create = block.lines().find(|l| l.trim_start().starts_with("input_schema:") && l.contains("\"name\"")).unwrap();
    let schema: Value = serde_json::from_str(create.trim_start().trim_start_matches("input_schema:").trim()).unwrap();
    assert_eq!(schema["properties"].as_object().unwrap().keys().collect::<Vec<_>>(), ["name", "in_stock"], "{schema}");
    assert_eq!(schema["required"], json!(["name"]), "the server assigns `id`: {schema}");
}
