//! REST APIs as MCP tools, through the real gateway against a real HTTP server on loopback:
//! every template position and its escaping, bodies, auth, argument and result schemas, errors,
//! retries, timeouts, size caps, the address guard, and `mcpgw call` (also `--dry-run`).

use std::process::Command;

use serde_json::{Value, json};

use super::http_api::TestApi;
use super::util::{Client, TestGateway, gateway_bin};

/// A gateway with one REST upstream `api` whose `rest:` block body is `tools` (indented YAML).
fn config(base: &str, extra: &str, tools: &str) -> String {
    format!(
        "upstreams:\n  api:\n    rest:\n      base_url: {base}\n      allow_private: true\n{extra}      tools:\n{tools}"
    )
}

async fn gateway(api: &TestApi, extra: &str, tools: &str) -> (TestGateway, Client) {
    let gw = TestGateway::start(&config(&api.base, extra, tools)).await;
    let client = Client::connect(gw.url("/mcp")).await;
    (gw, client)
}

fn structured(r: &Value) -> &Value {
    assert!(r["result"]["isError"] != true, "the call failed: {r}");
    &r["result"]["structuredContent"]
}

fn error_text(r: &Value) -> String {
    assert_eq!(r["result"]["isError"], true, "expected a tool error: {r}");
    r["result"]["content"][0]["text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn arguments_fill_path_query_and_headers_escaped_for_each() {
    let api = TestApi::start().await;
    let tools = r#"        get_item:
          path: /echo/items/{id}
          query: { q: "{{ q }}", limit: "{{ limit }}", fixed: "yes" }
          headers: { X-Trace: "t-{{ trace }}" }
          input_schema:
            type: object
            required: [id]
            properties: { id: { type: string }, q: { type: string }, limit: { type: integer }, trace: { type: string } }
"#;
    let (_gw, mut c) = gateway(&api, "", tools).await;
    assert_eq!(c.tools().await, ["api_get_item"]);
    let r = c.call("api_get_item", json!({"id": "a/b c?", "q": "x&y=z ü", "trace": "7"})).await;
    let seen = structured(&r);
    assert_eq!(seen["method"], "GET");
    // The value stays one segment: `/`, space and `?` are escaped, nothing climbs out.
    assert_eq!(seen["path"], "/echo/items/a%2Fb%20c%3F");
    // An absent optional argument leaves its query parameter out.
    assert_eq!(seen["query"], "q=x%26y%3Dz+%C3%BC&fixed=yes");
    assert_eq!(seen["headers"]["x-trace"], "t-7");
    assert_eq!(seen["body"], "", "GET sends no body");

    let r = c.call("api_get_item", json!({"id": ".."})).await;
    assert!(error_text(&r).contains("not allowed as a path segment"), "{r}");
}

#[tokio::test]
async fn bodies_default_to_the_unused_arguments_or_follow_their_template() {
    let api = TestApi::start().await;
    let tools = r#"        create:
          method: POST
          path: /echo/things/{kind}
          input_schema: { type: object, properties: { kind: { type: string }, name: { type: string }, tags: { type: array } } }
        search:
          method: POST
          path: /echo/search
          body: { json: '{"query": {{ text }}, "size": {{ size | default(10) }}}' }
          input_schema: { type: object, properties: { text: { type: string }, size: { type: integer } } }
        login:
          method: POST
          path: /echo/login
          body: { form: { user: "{{ user }}", note: "{{ note }}" } }
          input_schema: { type: object, properties: { user: { type: string }, note: { type: string } } }
        note:
          method: PUT
          path: /echo/note
          body: { raw: "Dear {{ who }},\n", content_type: text/markdown }
          input_schema: { type: object, properties: { who: { type: string } } }
"#;
    let (_gw, mut c) = gateway(&api, "", tools).await;

    let r = c.call("api_create", json!({"kind": "box", "name": "b1", "tags": ["x"]})).await;
    let seen = structured(&r);
    assert_eq!(seen["path"], "/echo/things/box");
    assert_eq!(seen["headers"]["content-type"], "application/json");
    // `kind` went into the path, so the body carries the rest.
    assert_eq!(
        serde_json::from_str::<Value>(seen["body"].as_str().unwrap()).unwrap(),
        json!({"name": "b1", "tags": ["x"]})
    );

    let r = c.call("api_search", json!({"text": "say \"hi\"\n"})).await;
    let body: Value = serde_json::from_str(structured(&r)["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"query": "say \"hi\"\n", "size": 10}), "values are written as JSON");

    let r = c.call("api_login", json!({"user": "a&b=c", "note": "é"})).await;
    let seen = structured(&r);
    assert_eq!(seen["headers"]["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(seen["body"], "user=a%26b%3Dc&note=%C3%A9");

    let r = c.call("api_note", json!({"who": "Ann"})).await;
    let seen = structured(&r);
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["headers"]["content-type"], "text/markdown");
    assert_eq!(seen["body"], "Dear Ann,\n");
}

#[tokio::test]
async fn auth_and_headers_come_from_the_environment_and_never_show() {
    let api = TestApi::start().await;
    let yaml = format!(
        r#"upstreams:
  bearer:
    rest:
      base_url: {base}
      allow_private: true
      headers: {{ X-Tenant: "${{TENANT}}" }}
      auth: {{ bearer: "${{API_TOKEN}}" }}
      tools: {{ who: {{ path: /echo/who }} }}
  basic:
    rest:
      base_url: {base}
      allow_private: true
      auth: {{ basic: {{ username: ann, password: "${{API_PASSWORD}}" }} }}
      tools: {{ who: {{ path: /echo/who }} }}
  keyed:
    rest:
      base_url: {base}/echo?v=2
      allow_private: true
      auth: {{ api_key: {{ query: key, value: "${{API_KEY}}" }} }}
      tools: {{ who: {{ path: /who, query: {{ a: "1" }} }}, fail: {{ path: /../status/500 }} }}
"#,
        base = api.base
    );
    let env = [("API_TOKEN", "tok-123"), ("TENANT", "acme"), ("API_PASSWORD", "pw-456"), ("API_KEY", "key-789")];
    let gw = TestGateway::start_with_env(&yaml, &env).await;
    let mut c = Client::connect(gw.url("/mcp")).await;

    let seen = structured(&c.call("bearer_who", json!({})).await).clone();
    assert_eq!(seen["headers"]["authorization"], "Bearer tok-123");
    assert_eq!(seen["headers"]["x-tenant"], "acme");
    let seen = structured(&c.call("basic_who", json!({})).await).clone();
    // base64("ann:pw-456")
    assert_eq!(seen["headers"]["authorization"], "Basic YW5uOnB3LTQ1Ng==");
    let seen = structured(&c.call("keyed_who", json!({})).await).clone();
    assert_eq!(seen["path"], "/echo/who");
    assert_eq!(seen["query"], "v=2&a=1&key=key-789");

    // An error names the request without its key.
    let text = error_text(&c.call("keyed_fail", json!({})).await);
    assert!(text.contains("500"), "{text}");
    assert!(!text.contains("key-789"), "the API key leaked into an error: {text}");
    let log = gw.log_text();
    for secret in ["tok-123", "pw-456", "key-789"] {
        assert!(!log.contains(secret), "{secret} appears in the log");
    }
}

#[tokio::test]
async fn arguments_are_checked_before_any_request() {
    let api = TestApi::start().await;
    let tools = r#"        forecast:
          path: /echo/forecast
          query: { latitude: "{{ lat }}", longitude: "{{ lon }}" }
          input_schema: { type: object, required: [lat, lon], properties: { lat: { type: number }, lon: { type: number } } }
"#;
    let (_gw, mut c) = gateway(&api, "", tools).await;
    let text = error_text(&c.call("api_forecast", json!({"lat": "north"})).await);
    assert!(text.starts_with("invalid arguments"), "{text}");
    assert!(text.contains("/lat") && text.contains("lon"), "names each problem: {text}");
    assert_eq!(api.count("/echo"), 0, "no request was sent");
    let listed = c.request("tools/list", json!({})).await;
    assert_eq!(listed["result"]["tools"][0]["inputSchema"]["required"], json!(["lat", "lon"]));
}

#[tokio::test]
async fn output_selects_structured_content_and_is_checked_against_the_output_schema() {
    let api = TestApi::start().await;
    let tools = r#"        current:
          path: /weather
          output: $.current_weather
          output_schema: { type: object, required: [temperature], properties: { temperature: { type: number } } }
          annotations: { readOnlyHint: true }
        names:
          path: /list
          output: $.items[*].name
        wrong:
          path: /weather
          output: $.elevation
          output_schema: { type: object, required: [result], properties: { result: { type: string } } }
        text:
          path: /text
"#;
    let (_gw, mut c) = gateway(&api, "", tools).await;
    let r = c.call("api_current", json!({})).await;
    assert_eq!(structured(&r), &json!({"temperature": 21.5, "windspeed": 3.0}));
    let text: Value = serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, json!({"temperature": 21.5, "windspeed": 3.0}), "the text block carries the same JSON");
    // Several matches form a list; a value that is not an object is wrapped.
    assert_eq!(structured(&c.call("api_names", json!({})).await), &json!({"result": ["a", "b"]}));
    let text = error_text(&c.call("api_wrong", json!({})).await);
    assert!(text.contains("output_schema"), "{text}");
    let r = c.call("api_text", json!({})).await;
    assert_eq!(r["result"]["content"][0]["text"], "plain words");
    assert!(r["result"].get("structuredContent").is_none());

    let listed = c.request("tools/list", json!({})).await;
    let current =
        listed["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "api_current").unwrap().clone();
    assert_eq!(current["outputSchema"]["required"], json!(["temperature"]));
    assert_eq!(current["annotations"]["readOnlyHint"], true);
}

#[tokio::test]
async fn failures_are_tool_errors_with_a_bounded_excerpt() {
    let api = TestApi::start().await;
    let tools = r#"        missing: { path: /status/404 }
        slow: { path: /slow/3000, timeout: 200ms, retries: 0 }
        big: { path: /big/5000, max_response_bytes: 1000 }
        away: { path: /away }
"#;
    let (_gw, mut c) = gateway(&api, "", tools).await;
    let text = error_text(&c.call("api_missing", json!({})).await);
    assert!(text.contains("404 Not Found") && text.contains("failure 404"), "{text}");
    assert!(text.len() < 800, "the excerpt is bounded: {} bytes", text.len());
    let text = error_text(&c.call("api_slow", json!({})).await);
    assert!(text.contains("within 200ms"), "{text}");
    let text = error_text(&c.call("api_big", json!({})).await);
    assert!(text.contains("1000-byte limit"), "{text}");
    // A redirect to another host is not followed; the model sees the answer as it came.
    let text = error_text(&c.call("api_away", json!({})).await);
    assert!(text.contains("302"), "{text}");
}

#[tokio::test]
async fn idempotent_requests_retry_and_others_do_not() {
    let api = TestApi::start().await;
    let tools = r#"        read: { path: /flaky/read/2 }
        write: { method: POST, path: /flaky/write/1, input_schema: { type: object } }
        stubborn: { path: /flaky/stubborn/5, retries: 1 }
"#;
    let (_gw, mut c) = gateway(&api, "", tools).await;
    let r = c.call("api_read", json!({})).await;
    assert_eq!(structured(&r)["attempts"], 3, "two 503s, then success");
    let text = error_text(&c.call("api_write", json!({})).await);
    assert!(text.contains("503"), "{text}");
    assert_eq!(api.count("/flaky/write"), 1, "POST is sent once");
    error_text(&c.call("api_stubborn", json!({})).await);
    assert_eq!(api.count("/flaky/stubborn"), 2, "one retry as configured");
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(
        &file,
        "upstreams:\n  api:\n    rest:\n      base_url: http://127.0.0.1:9/v1\n      tools: { t: { path: /x } }\n",
    )
    .unwrap();
    let out = Command::new(gateway_bin()).args(["check", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("upstreams.api.rest.base_url") && stderr.contains("allow_private"), "{stderr}");
}

#[tokio::test]
async fn mcpgw_call_runs_one_tool_and_dry_run_prints_the_request_with_secrets_masked() {
    let api = TestApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    let tools = r#"        forecast:
          method: POST
          path: /echo/forecast/{city}
          query: { units: "{{ units }}" }
          input_schema: { type: object, properties: { city: { type: string }, units: { type: string }, days: { type: integer } } }
"#;
    std::fs::write(&file, config(&api.base, "      auth: { bearer: \"${API_TOKEN}\" }\n", tools)).unwrap();
    let path = file.to_str().unwrap().to_string();
    let run = move |extra: &[&str]| {
        let mut args = vec![
            "call",
            "api_forecast",
            "-c",
            path.as_str(),
            "--args",
            r#"{"city": "Rio de Janeiro", "units": "metric", "days": 2}"#,
        ];
        args.extend_from_slice(extra);
        Command::new(gateway_bin()).args(&args).env("API_TOKEN", "tok-secret").output().unwrap()
    };
    let out = tokio::task::spawn_blocking(move || (run(&["--dry-run"]), run(&[]))).await.unwrap();
    let (dry, real) = out;
    assert_eq!(dry.status.code(), Some(0), "{}", String::from_utf8_lossy(&dry.stderr));
    let printed = String::from_utf8(dry.stdout).unwrap();
    assert!(
        printed.starts_with(&format!("POST {}/echo/forecast/Rio%20de%20Janeiro?units=metric\n", api.base)),
        "{printed}"
    );
    assert!(printed.contains("authorization: Bearer ${API_TOKEN}"), "{printed}");
    assert!(printed.contains(r#"{"days":2}"#), "{printed}");
    assert!(!printed.contains("tok-secret"));
    assert_eq!(api.count("/echo"), 1, "only the real call sent a request");

    assert_eq!(real.status.code(), Some(0), "{}", String::from_utf8_lossy(&real.stderr));
    let result: Value = serde_json::from_slice(&real.stdout).unwrap();
    assert_eq!(result["structuredContent"]["headers"]["authorization"], "Bearer tok-secret");
    assert_eq!(result["structuredContent"]["query"], "units=metric");

    let out = Command::new(gateway_bin())
        .args(["call", "api_nope", "-c", file.to_str().unwrap()])
        .env("API_TOKEN", "t")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no tool named \"api_nope\""), "{stderr}");

    // Without the secret the file does not load, and the message names the variable.
    let out =
        Command::new(gateway_bin()).args(["call", "api_forecast", "-c", file.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("API_TOKEN is not set"));
}

#[tokio::test]
async fn mcpgw_call_reaches_mcp_upstreams_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, format!("upstreams:\n  f: {}\n", super::util::stdio_fixture("f"))).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(gateway_bin())
            .args(["call", "f_add", "-c", file.to_str().unwrap(), "--args", r#"{"a": 2, "b": 3}"#])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["content"][0]["text"], "5");
}

/// What `mcpgw call --dry-run` prints for `tool` with `args`, the config being `yaml` in a
/// directory that also holds `files`.
fn dry_run(yaml: &str, files: &[(&str, &str)], tool: &str, args: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let file = dir.path().join("gateway.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(gateway_bin())
        .args(["call", tool, "-c", file.to_str().unwrap(), "--args", args, "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn booleans_null_and_whole_numbers_are_sent_as_json_writes_them_in_every_slot() {
    let tools = r#"        list_items:
          method: POST
          path: /items/{archived}/{{ page }}
          query: { in_stock: "{{ in_stock }}", limit: "{{ limit }}", since: "{{ since }}", ids: "{{ ids | join(',') }}" }
          headers: { X-Fresh: "{{ in_stock }}" }
          body: { form: { archived: "{{ archived }}", note: "{{ note }}" } }
          input_schema:
            type: object
            properties:
              archived: { type: boolean }
              page: { type: integer }
              in_stock: { type: boolean }
              limit: { type: integer }
              since: { type: [string, "null"] }
              ids: { type: array }
              note: { type: string }
"#;
    let yaml = config("https://inventory.example.com/api", "", tools);
    let args = r#"{"archived": false, "page": 2.0, "in_stock": true, "limit": 1.0, "since": null, "ids": [1.0, true]}"#;
    assert_eq!(
        dry_run(&yaml, &[], "api_list_items", args),
        "POST https://inventory.example.com/api/items/false/2?in_stock=true&limit=1&since=null&ids=1%2Ctrue\n\
         x-fresh: true\n\
         content-type: application/x-www-form-urlencoded\n\narchived=false\n"
    );
}

#[test]
fn templates_written_by_the_openapi_import_send_values_as_json_writes_them() {
    let document = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openapi/inventory.yaml"),
    )
    .unwrap();
    let yaml =
        "upstreams:\n  inv:\n    openapi: { spec: inventory.yaml, base_url: 'https://inventory.example.com/api' }\n";
    let files = [("inventory.yaml", document.as_str())];
    let args = r#"{"in_stock": true, "min_price": 2.5, "limit": 10.0, "tag": ["a", "b"], "flags": [true, false],
                   "X_Fresh": false, "X_Shelves": [1, 2.0]}"#;
    assert_eq!(
        dry_run(yaml, &files, "inv_list_items", args),
        "GET https://inventory.example.com/api/items?in_stock=true&min_price=2.5&limit=10&tag=a&tag=b&flags=true%2Cfalse\n\
         x-fresh: false\n\
         x-shelves: 1,2\n"
    );
    assert_eq!(
        dry_run(yaml, &files, "inv_get_item", r#"{"id": 7, "archived": true}"#),
        "GET https://inventory.example.com/api/items/7/true\n"
    );
}
