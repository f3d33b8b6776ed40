//! Resource subscriptions across clients and virtual servers: a client subscribes to, reads and
//! hears of only what its own virtual server publishes, however many clients elsewhere subscribed
//! to the same URI; and the upstream is unsubscribed exactly when the last subscriber goes,
//! whether it unsubscribes or its session ends (DELETE, a closed SSE stream, a closed socket).
//!
//! Each behaviour is one function of the transport, run as one test per transport.

use serde_json::{Value, json};

use super::clients::{TestClient, Transport};
use super::util::{TestGateway, eventually, stdio_fixture};

/// Published by `default` only.
const README: &str = "fixture://a/readme";
/// Published by `default` and `items` (through the template `fixture://a/items/{id}`).
const ITEM: &str = "fixture://a/items/1";
/// Another item: one session's own subscription, to see that session's end handled.
const OWN_ITEM: &str = "fixture://a/items/2";

/// One upstream, three virtual servers: `default` publishes all of its resources, `items` only
/// the items template, `none` no resource at all. Every one has the tools (`a_touch`, `a_subscriptions`).
async fn gateway() -> TestGateway {
    TestGateway::start(&format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'], resources: ['*'] }}\n  \
         items: {{ tools: ['*'], resources: ['fixture://a/items/*'] }}\n  none: {{ tools: ['*'] }}\n",
        stdio_fixture("a")
    ))
    .await
}

/// Runs `$test(transport)` as one test per transport: `$test::streamable_http`, ….
macro_rules! per_transport {
    ($test:ident: $($name:ident => $transport:ident),+ $(,)?) => {
        mod $test {
            use super::Transport;
            $(
                #[tokio::test]
                async fn $name() {
                    super::$test(Transport::$transport).await
                }
            )+
        }
    };
}

per_transport!(subscribing_to_what_its_server_does_not_publish_is_refused_even_after_another_client_did:
    streamable_http => StreamableHttp, sse => Sse, websocket => WebSocket);
per_transport!(a_client_never_hears_of_updates_to_what_its_server_does_not_publish:
    streamable_http => StreamableHttp, stateless => Stateless, sse => Sse, websocket => WebSocket);
per_transport!(the_upstream_is_unsubscribed_when_the_last_subscriber_unsubscribes_after_another_left:
    streamable_http => StreamableHttp, sse => Sse, websocket => WebSocket);
per_transport!(the_upstream_is_unsubscribed_when_the_last_subscriber_leaves_and_not_before:
    streamable_http => StreamableHttp, sse => Sse, websocket => WebSocket);

async fn subscribing_to_what_its_server_does_not_publish_is_refused_even_after_another_client_did(
    transport: Transport,
) {
    let gw = gateway().await;
    let publisher = TestClient::connect(&gw, transport, "default").await;
    let outsiders =
        [TestClient::connect(&gw, transport, "items").await, TestClient::connect(&gw, transport, "none").await];
    for outsider in &outsiders {
        let vs = &outsider.virtual_server;
        assert_eq!(code(&subscribe(outsider, README).await), Some(-32002), "{transport} {vs}: before anyone");
        let read = outsider.request("resources/read", json!({"uri": README})).await;
        assert_eq!(code(&read), Some(-32002), "{transport} {vs}: {read}");
    }

    assert_eq!(subscribe(&publisher, README).await["result"], json!({}), "{transport}: its own server publishes it");
    for outsider in &outsiders {
        let vs = &outsider.virtual_server;
        let r = subscribe(outsider, README).await;
        assert_eq!(code(&r), Some(-32002), "{transport} {vs}: refused after another client subscribed: {r}");
        let read = outsider.request("resources/read", json!({"uri": README})).await;
        assert_eq!(code(&read), Some(-32002), "{transport} {vs}: {read}");
    }
}

/// The outsider subscribes to `ITEM` (which its server publishes) as well as to `README` (which it
/// does not). Both updates come from the same upstream, `README`'s first, so once the outsider
/// hears of `ITEM` it would have heard of `README` before, had it been let through.
async fn a_client_never_hears_of_updates_to_what_its_server_does_not_publish(transport: Transport) {
    let gw = gateway().await;
    // The publisher is a session client whatever is tested: it subscribes, and touches.
    let publisher_transport = if transport.supports_sessions() { transport } else { Transport::StreamableHttp };
    let publisher = TestClient::connect(&gw, publisher_transport, "default").await;
    assert_eq!(subscribe(&publisher, README).await["result"], json!({}));
    let outsider = TestClient::connect(&gw, transport, "items").await;
    if transport.supports_sessions() {
        // Whatever it is answered, the outsider must not hear of README.
        subscribe(&outsider, README).await;
        assert_eq!(subscribe(&outsider, ITEM).await["result"], json!({}), "{transport}");
    } else {
        // A stateless client asks in its listen; the gateway subscribes in order, so once the
        // upstream heard of ITEM, README was decided.
        outsider.listen(json!({"resourceSubscriptions": [README, ITEM]})).await;
        eventually("the listen's subscriptions to be made", || async {
            heard(&publisher).await.contains(&format!("resources/subscribe {ITEM}")).then_some(())
        })
        .await;
    }

    assert_eq!(publisher.call_text("a_touch", json!({"uri": README})).await, "touched");
    assert_eq!(publisher.call_text("a_touch", json!({"uri": ITEM})).await, "touched");
    let update = publisher.next_notification("notifications/resources/updated").await;
    assert_eq!(update["params"]["uri"], README, "the publisher hears of its own");
    let update = outsider.next_notification("notifications/resources/updated").await;
    assert_eq!(
        update["params"]["uri"], ITEM,
        "{transport}: a client of `items` heard of {README}, which `items` does not publish"
    );
}

/// `first` subscribes, then `second`; `second` ends, then `first` unsubscribes: the upstream
/// must hear the unsubscribe, whatever order the gateway sees the two in.
async fn the_upstream_is_unsubscribed_when_the_last_subscriber_unsubscribes_after_another_left(transport: Transport) {
    let gw = gateway().await;
    let first = TestClient::connect(&gw, transport, "default").await;
    let second = TestClient::connect(&gw, transport, "default").await;
    assert_eq!(subscribe(&first, README).await["result"], json!({}));
    assert_eq!(subscribe(&second, README).await["result"], json!({}));
    second.close().await;
    let r = first.request("resources/unsubscribe", json!({"uri": README})).await;
    assert_eq!(r["result"], json!({}), "{transport}");
    let log = eventually(&format!("{transport}: the upstream to be unsubscribed from {README}"), || async {
        let log = heard(&first).await;
        log.contains(&format!("resources/unsubscribe {README}")).then_some(log)
    })
    .await;
    assert_eq!(
        lines(&log),
        [format!("resources/subscribe {README}"), format!("resources/unsubscribe {README}")],
        "{transport}: subscribed once, unsubscribed once"
    );
}

/// `first` and `second` subscribe to `README`; `first` also to a URI of its own. `first` ends: its
/// own URI is released, `README` is not (`second` still holds it). `second` ends: `README` is released.
async fn the_upstream_is_unsubscribed_when_the_last_subscriber_leaves_and_not_before(transport: Transport) {
    let gw = gateway().await;
    let witness = TestClient::connect(&gw, transport, "default").await;
    let first = TestClient::connect(&gw, transport, "default").await;
    let second = TestClient::connect(&gw, transport, "default").await;
    assert_eq!(subscribe(&first, README).await["result"], json!({}));
    assert_eq!(subscribe(&second, README).await["result"], json!({}));
    assert_eq!(subscribe(&first, OWN_ITEM).await["result"], json!({}));

    first.close().await;
    let log = eventually(&format!("{transport}: the first session's end to release its own URI"), || async {
        let log = heard(&witness).await;
        log.contains(&format!("resources/unsubscribe {OWN_ITEM}")).then_some(log)
    })
    .await;
    // (Checked once the first session's releases were sent: this can miss a late one, never invent one.)
    assert!(
        !log.contains(&format!("resources/unsubscribe {README}")),
        "{transport}: {README} was released while another session still holds it:\n{log}"
    );

    second.close().await;
    let log = eventually(&format!("{transport}: the upstream to be unsubscribed from {README}"), || async {
        let log = heard(&witness).await;
        log.contains(&format!("resources/unsubscribe {README}")).then_some(log)
    })
    .await;
    assert_eq!(
        lines(&log),
        [
            format!("resources/subscribe {README}"),
            format!("resources/subscribe {OWN_ITEM}"),
            format!("resources/unsubscribe {OWN_ITEM}"),
            format!("resources/unsubscribe {README}"),
        ],
        "{transport}"
    );
}

async fn subscribe(c: &TestClient, uri: &str) -> Value {
    c.request("resources/subscribe", json!({"uri": uri})).await
}

fn code(answer: &Value) -> Option<i64> {
    answer["error"]["code"].as_i64()
}

/// The subscription requests upstream `a` received, one per line.
async fn heard(c: &TestClient) -> String {
    c.call_text("a_subscriptions", json!({})).await
}

fn lines(log: &str) -> Vec<String> {
    log.lines().map(str::to_string).collect()
}
