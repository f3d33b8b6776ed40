//! The policy seam, through the test-only policy of debug builds: `MCPGW_TEST_DENY` names public
//! item keys (tool and prompt names, resource URIs, resource-template URI templates) to deny. On
//! every served transport a denied item is missing from every list and refused with -32012
//! wherever it is used, and everything else keeps working: lists are filtered by the same
//! decisions as calls.

use serde_json::{Value, json};

use super::clients::{TestClient, Transport};
use super::util::{TestGateway, stdio_fixture};

/// The JSON-RPC code of a request a policy refused.
const DENIED: i64 = -32012;

const DENY: &str = "a_echo,a_greet,fixture://a/readme,fixture://a/items/{id}";

#[tokio::test]
async fn denied_items_are_hidden_and_refused_on_every_transport() {
    let yaml = format!("upstreams:\n  a: {}\n  b: {}\n", stdio_fixture("a"), stdio_fixture("b"));
    let gw = TestGateway::start_with_env(&yaml, &[("MCPGW_TEST_DENY", DENY)]).await;
    // Every shortfall, on every transport, so one run shows the whole picture.
    let mut wrong = Vec::new();
    for transport in Transport::ALL {
        let c = TestClient::connect(&gw, transport, "default").await;
        check_transport(&c, &mut wrong).await;
        c.close().await;
    }
    assert!(wrong.is_empty(), "{} departures from the policy contract:\n{}", wrong.len(), wrong.join("\n"));
}

async fn check_transport(c: &TestClient, wrong: &mut Vec<String>) {
    let t = c.transport;
    let mut check = |ok: bool, what: String| {
        if !ok {
            wrong.push(format!("{t}: {what}"));
        }
    };

    // Lists: the denied item is gone, its neighbours stay.
    for (method, field, key, denied, kept) in [
        ("tools/list", "tools", "name", "a_echo", "b_echo"),
        ("prompts/list", "prompts", "name", "a_greet", "b_greet"),
        ("resources/list", "resources", "uri", "fixture://a/readme", "fixture://b/readme"),
        (
            "resources/templates/list",
            "resourceTemplates",
            "uriTemplate",
            "fixture://a/items/{id}",
            "fixture://b/items/{id}",
        ),
    ] {
        let listed = c.list(method, field, key).await;
        check(!listed.iter().any(|n| n == denied), format!("{method} lists the denied {denied}"));
        check(listed.iter().any(|n| n == kept), format!("{method} lacks {kept}, which is not denied"));
    }
    let tools = c.tools().await;
    check(tools.contains(&"a_whoami".to_string()), "tools/list lacks a_whoami: a denial hid its whole upstream".into());

    // Uses: refused uniformly; the same use of a neighbour works.
    let mut uses = vec![
        (
            "tools/call",
            json!({"name": "a_echo", "arguments": {"text": "hi"}}),
            json!({"name": "b_echo", "arguments": {"text": "hi"}}),
        ),
        (
            "prompts/get",
            json!({"name": "a_greet", "arguments": {"who": "ann"}}),
            json!({"name": "b_greet", "arguments": {"who": "ann"}}),
        ),
        ("resources/read", json!({"uri": "fixture://a/readme"}), json!({"uri": "fixture://b/readme"})),
        // A URI matching a denied template.
        ("resources/read", json!({"uri": "fixture://a/items/7"}), json!({"uri": "fixture://b/items/7"})),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "a_greet"}, "argument": {"name": "who", "value": "a"}}),
            json!({"ref": {"type": "ref/prompt", "name": "b_greet"}, "argument": {"name": "who", "value": "a"}}),
        ),
    ];
    if t.supports_sessions() {
        uses.push(("resources/subscribe", json!({"uri": "fixture://a/readme"}), json!({"uri": "fixture://b/readme"})));
    }
    for (method, denied, kept) in uses {
        let answer = c.request(method, denied.clone()).await;
        check(code(&answer) == Some(DENIED), format!("{method} {denied} answered {answer}, not {DENIED}"));
        let answer = c.request(method, kept.clone()).await;
        check(answer["result"].is_object(), format!("{method} {kept} (not denied) answered {answer}"));
    }
    let whoami = c.call("a_whoami", json!({})).await;
    check(whoami["result"]["content"][0]["text"] == "a", format!("a_whoami (not denied) answered {whoami}"));
}

fn code(answer: &Value) -> Option<i64> {
    answer["error"]["code"].as_i64()
}
