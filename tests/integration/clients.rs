//! One test client for every served transport, so a behaviour test is written once and run on
//! each: `TestClient::connect(&gw, Transport::WebSocket, "default")`, then `request`, `notify`,
//! `next_notification`, `answer_with` and `close`. Whatever frames a message (an event stream, a
//! JSON body, a WebSocket frame, a line on stdout), the test sees JSON-RPC messages.
//!
//! Server-to-client messages other than answers land in one queue per client, in arrival order:
//! notifications on the session's own stream and on a request's event stream alike.
mod transport;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

pub use transport::Transport;
use wire::{
    EventStream, Inbox, Replier, Wire, http_client, http_post, open_sse, open_stdio, open_ws, read_event_stream,
    stateless_post, write_line,
};

use super::util::{DEADLINE, TestGateway};

/// The session-based protocol version clients initialize with (the SSE transport's own is older).
pub const VERSION: &str = "2025-11-25";
/// The stateless protocol version.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// Answers the server's requests (sampling, elicitation, roots): the `result` to send, or
/// `None` to leave the request unanswered.
pub type Handler = dyn Fn(&Value) -> Option<Value> + Send + Sync;

/// An MCP client on one served binding.
pub struct TestClient {
    pub transport: Transport,
    pub virtual_server: String,
    wire: Wire,
    inbox: Arc<Inbox>,
    next_id: AtomicU64,
    /// Declared in `initialize`, or sent with every stateless request.
    capabilities: Mutex<Value>,
    /// The HTTP status of the last request's answer (HTTP bindings only).
    last_status: Mutex<Option<u16>>,
    /// The answer to `initialize`, once it came.
    initialized: Mutex<Option<Value>>,
}

impl TestClient {
    /// Connects to `virtual_server` over `transport` and, where there are sessions, initializes
    /// with no client capabilities.
    pub async fn connect(gw: &TestGateway, transport: Transport, virtual_server: &str) -> TestClient {
        Self::connect_with(gw, transport, virtual_server, json!({})).await
    }

    /// Connects declaring these client capabilities (`{"sampling": {}}`, …).
    pub async fn connect_with(
        gw: &TestGateway,
        transport: Transport,
        virtual_server: &str,
        capabilities: Value,
    ) -> TestClient {
        Self::connect_as_with(gw, transport, virtual_server, &[], capabilities).await
    }

    /// Opens the connection (the SSE stream, the socket, the process) without initializing.
    pub async fn open(gw: &TestGateway, transport: Transport, virtual_server: &str) -> TestClient {
        Self::open_as(gw, transport, virtual_server, &[]).await
    }

    /// Connects and initializes as `connect` does, sending these headers (credentials) with every
    /// HTTP request and the WebSocket upgrade.
    pub async fn connect_as(
        gw: &TestGateway,
        transport: Transport,
        virtual_server: &str,
        headers: &[(&str, &str)],
    ) -> TestClient {
        Self::connect_as_with(gw, transport, virtual_server, headers, json!({})).await
    }

    /// `connect_as`, declaring these client capabilities.
    pub async fn connect_as_with(
        gw: &TestGateway,
        transport: Transport,
        virtual_server: &str,
        headers: &[(&str, &str)],
        capabilities: Value,
    ) -> TestClient {
        let client = Self::open_as(gw, transport, virtual_server, headers).await;
        if transport.supports_sessions() {
            let version = if transport == Transport::Sse { "2024-11-05" } else { VERSION };
            let answer = client.initialize(version, capabilities).await;
            assert_eq!(answer["result"]["protocolVersion"], version, "{transport}: {answer}");
            client.notify("notifications/initialized", json!({})).await;
        } else {
            *client.capabilities.lock().unwrap() = capabilities;
        }
        client
    }

    /// Opens the connection as `open` does, sending these headers with every HTTP request and
    /// the WebSocket upgrade.
    pub async fn open_as(
        gw: &TestGateway,
        transport: Transport,
        virtual_server: &str,
        headers: &[(&str, &str)],
    ) -> TestClient {
        let inbox = Arc::new(Inbox::default());
        let url = |t: Transport| gw.url(&t.path(virtual_server).unwrap());
        let http = http_client(headers);
        let wire = match transport {
            Transport::StreamableHttp => {
                Wire::Http { endpoint: url(transport), http, session: Mutex::new(None), stream: Mutex::new(None) }
            }
            Transport::Stateless => Wire::Stateless { endpoint: url(transport), http, listens: Mutex::default() },
            Transport::PlainRpc => Wire::Rpc { endpoint: url(transport), http },
            Transport::Sse => open_sse(gw, &url(transport), &inbox, http).await,
            Transport::WebSocket => open_ws(&url(transport), &inbox, headers).await,
            Transport::Stdio => open_stdio(&gw.config, virtual_server, &gw.env, &inbox),
        };
        Self::with_wire(transport, virtual_server, wire, inbox)
    }

    /// `mcpgw stdio` on a config of its own, with this extra environment, not initialized.
    pub fn open_stdio(config: &std::path::Path, virtual_server: &str, env: &[(String, String)]) -> TestClient {
        let inbox = Arc::new(Inbox::default());
        let wire = open_stdio(config, virtual_server, env, &inbox);
        Self::with_wire(Transport::Stdio, virtual_server, wire, inbox)
    }

    fn with_wire(transport: Transport, virtual_server: &str, wire: Wire, inbox: Arc<Inbox>) -> TestClient {
        TestClient {
            transport,
            virtual_server: virtual_server.to_string(),
            wire,
            inbox,
            next_id: AtomicU64::new(1),
            capabilities: Mutex::new(json!({})),
            last_status: Mutex::new(None),
            initialized: Mutex::new(None),
        }
    }

    /// Sends `initialize` for `version` declaring `capabilities`, and returns the whole answer. Over
    /// streamable HTTP the answer's session id is kept, and the session's GET stream opened.
    pub async fn initialize(&self, version: &str, capabilities: Value) -> Value {
        *self.capabilities.lock().unwrap() = capabilities.clone();
        let params = json!({"protocolVersion": version, "capabilities": capabilities,
            "clientInfo": {"name": "mcpgw-test", "version": "0"}});
        let id = json!(0);
        let Wire::Http { endpoint, http, session, stream } = &self.wire else {
            let answer = self.request_as(id, "initialize", params).await;
            *self.initialized.lock().unwrap() = Some(answer.clone());
            return answer;
        };
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params});
        let r = http_post(http, endpoint, None, &body).await;
        self.note_status(r.status().as_u16());
        if is_refusal(&r) {
            // Refused (credentials, rules): the JSON-RPC error, and no session.
            return r.json().await.unwrap();
        }
        assert_eq!(r.status(), 200, "initialize failed");
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let answer: Value = r.json().await.unwrap();
        *self.initialized.lock().unwrap() = Some(answer.clone());
        *session.lock().unwrap() = Some(id.clone());
        // The session's own stream, open from the start so nothing sent to the session is missed.
        let get = http
            .get(endpoint.as_str())
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", version)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 200, "the session's GET stream");
        assert_eq!(get.headers()["content-type"], "text/event-stream");
        let (inbox, replies) = (self.inbox.clone(), self.replier());
        *stream.lock().unwrap() = Some(tokio::spawn(read_event_stream(get, inbox, replies)));
        answer
    }

    /// Sends a request and returns the whole JSON-RPC answer (result or error), answering what
    /// the server asks meanwhile with the `answer_with` handler.
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let id = json!(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.request_as(id, method, params).await
    }

    /// `request` with a chosen id (to cancel it by that id).
    pub async fn request_as(&self, id: Value, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = match &self.wire {
            Wire::Http { endpoint, http, .. } => {
                let r = http_post(http, endpoint, self.session().as_deref(), &body).await;
                self.note_status(r.status().as_u16());
                if is_refusal(&r) {
                    return r.json().await.unwrap();
                }
                assert_eq!(r.status(), 200, "{method} answered HTTP {}", r.status());
                self.read_answer(r, &id).await
            }
            Wire::Stateless { .. } => self.stateless_request(id.clone(), method, params).await,
            Wire::Rpc { endpoint, http } => {
                let r = http_post(http, endpoint, None, &body).await;
                self.note_status(r.status().as_u16());
                r.json().await.unwrap()
            }
            Wire::Closed => panic!("{}: the client is closed", self.transport),
            Wire::Sse { .. } | Wire::Ws { .. } | Wire::Stdio { .. } => {
                let (tx, rx) = oneshot::channel();
                self.inbox.waiting.lock().unwrap().insert(id.to_string(), tx);
                self.send(body).await;
                match tokio::time::timeout(DEADLINE, rx).await {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(_)) => panic!("{}: the connection closed before {method} was answered", self.transport),
                    Err(_) => panic!("{}: no answer to {method} within {DEADLINE:?}", self.transport),
                }
            }
        };
        self.inbox.check();
        assert_eq!(answer["id"], id, "{}: the answer's id matches the request's: {answer}", self.transport);
        answer
    }

    /// Sends a notification.
    pub async fn notify(&self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params})).await;
    }

    /// Sends one message as it is (a notification, or an answer to the server), expecting no answer.
    /// Over HTTP the POST must be accepted with 202.
    pub async fn send(&self, message: Value) {
        match &self.wire {
            Wire::Http { endpoint, http, .. } => {
                let r = http_post(http, endpoint, self.session().as_deref(), &message).await;
                assert_eq!(r.status(), 202, "{message}");
            }
            Wire::Sse { messages, http, .. } => {
                let r = http_post(http, messages, None, &message).await;
                assert_eq!(r.status(), 202, "{message}");
            }
            Wire::Ws { sink, .. } => {
                sink.lock().await.send(Message::Text(message.to_string().into())).await.unwrap();
            }
            Wire::Stdio { stdin, .. } => write_line(stdin, &message.to_string()).await,
            Wire::Stateless { endpoint, http, .. } | Wire::Rpc { endpoint, http } => {
                let r = http_post(http, endpoint, None, &message).await;
                assert_eq!(r.status(), 202, "{message}");
            }
            Wire::Closed => panic!("{}: the client is closed", self.transport),
        }
    }

    /// Sends text that may not be JSON at all, as one frame or line (WebSocket and stdio only).
    pub async fn send_text(&self, text: &str) {
        match &self.wire {
            Wire::Ws { sink, .. } => sink.lock().await.send(Message::Text(text.to_string().into())).await.unwrap(),
            Wire::Stdio { stdin, .. } => write_line(stdin, text).await,
            _ => panic!("{}: send_text is for message-framed bindings (WebSocket, stdio)", self.transport),
        }
    }

    /// The next server-to-client message (not an answer to one of this client's requests) for
    /// which `wanted` holds, within `DEADLINE`; messages before it are dropped. Notifications on a
    /// request's own event stream count, and so do questions from the server.
    pub async fn next_message(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        assert!(
            self.transport != Transport::PlainRpc,
            "plain JSON-RPC has no channel from the server: nothing but answers arrive"
        );
        let mut queue = self.inbox.queue.lock().await;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            self.inbox.check();
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(message)) if wanted(&message) => return message,
                Ok(Some(_)) => {}
                Ok(None) => panic!("{}: the client's queue closed", self.transport),
                Err(_) => panic!("{}: no wanted message within {DEADLINE:?}", self.transport),
            }
        }
    }

    /// The next notification named `method`.
    pub async fn next_notification(&self, method: &str) -> Value {
        self.next_message(|m| m["method"] == method && m.get("id").is_none()).await
    }

    /// Every server-to-client message received and not yet taken, without waiting.
    pub async fn received(&self) -> Vec<Value> {
        let mut queue = self.inbox.queue.lock().await;
        let mut all = Vec::new();
        while let Ok(m) = queue.try_recv() {
            all.push(m);
        }
        all
    }

    /// Answers the server's requests with `handler` from now on.
    pub fn answer_with(&self, handler: impl Fn(&Value) -> Option<Value> + Send + Sync + 'static) {
        *self.inbox.handler.lock().unwrap() = Some(Arc::new(handler));
    }

    /// Answers the server's sampling requests with `text` and accepts every elicitation.
    pub fn answer_sampling(&self, text: &str) {
        let text = text.to_string();
        self.answer_with(move |question| match question["method"].as_str() {
            Some("sampling/createMessage") => {
                Some(json!({"role": "assistant", "content": {"type": "text", "text": text}, "model": "test-model"}))
            }
            Some("elicitation/create") => Some(json!({"action": "accept"})),
            _ => None,
        });
    }

    /// Every request the server sent this client so far (for a stateless client, each of its
    /// `inputRequests`, with its key as `id`).
    pub fn questions(&self) -> Vec<Value> {
        self.inbox.questions.lock().unwrap().clone()
    }

    /// The answer to `initialize` (`None` before it, and on bindings without sessions).
    pub fn initialize_answer(&self) -> Option<Value> {
        self.initialized.lock().unwrap().clone()
    }

    /// The HTTP status of the last request's answer (HTTP bindings only).
    pub fn last_status(&self) -> Option<u16> {
        *self.last_status.lock().unwrap()
    }

    /// The streamable HTTP session id.
    pub fn session(&self) -> Option<String> {
        match &self.wire {
            Wire::Http { session, .. } => session.lock().unwrap().clone(),
            _ => None,
        }
    }

    /// The URL an SSE client POSTs its messages to.
    pub fn sse_messages_url(&self) -> &str {
        match &self.wire {
            Wire::Sse { messages, .. } => messages,
            _ => panic!("{}: only SSE clients have a messages URL", self.transport),
        }
    }

    /// Opens `subscriptions/listen` (stateless clients) asking for `notifications` (e.g.
    /// `{"toolsListChanged": true}`); returns its acknowledgement. What it carries afterwards
    /// arrives like any other notification (`next_notification`).
    pub async fn listen(&self, notifications: Value) -> Value {
        self.listen_as(json!(self.next_id.fetch_add(1, Ordering::Relaxed)), notifications).await
    }

    /// `listen` with a chosen id (the subscription's id, which its notifications carry).
    pub async fn listen_as(&self, id: Value, notifications: Value) -> Value {
        let Wire::Stateless { endpoint, http, listens } = &self.wire else {
            panic!("{}: subscriptions/listen is the stateless protocol's", self.transport)
        };
        let params = self.stateless_params(json!({"notifications": notifications}));
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen", "params": params});
        let r = stateless_post(http, endpoint, "subscriptions/listen", None, &body).await;
        assert_eq!(r.status(), 200, "subscriptions/listen");
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let (first_tx, first_rx) = oneshot::channel();
        let inbox = self.inbox.clone();
        listens.lock().unwrap().push(tokio::spawn(async move {
            let mut events = EventStream::new(r);
            let Some(ack) = events.next().await else { return };
            let _ = first_tx.send(ack);
            while let Some(message) = events.next().await {
                inbox.take(message);
            }
        }));
        tokio::time::timeout(DEADLINE, first_rx).await.expect("the listen is acknowledged").expect("a first message")
    }

    /// Ends the session as the binding does: DELETE (streamable HTTP, which must answer 204),
    /// dropping the stream (SSE, stateless listens), a close frame (WebSocket), closing stdin
    /// (stdio, whose exit code is returned once the process exited).
    pub async fn close(mut self) -> Option<i32> {
        let transport = self.transport;
        match std::mem::replace(&mut self.wire, Wire::Closed) {
            Wire::Http { endpoint, http, session, stream } => {
                if let Some(reader) = stream.lock().unwrap().take() {
                    reader.abort();
                }
                let id = session.lock().unwrap().take();
                if let Some(id) = id {
                    let r = http.delete(&endpoint).header("mcp-session-id", id).send().await.unwrap();
                    assert_eq!(r.status(), 204, "DELETE ends the session");
                }
                None
            }
            Wire::Stateless { listens, .. } => {
                for listen in listens.lock().unwrap().drain(..) {
                    listen.abort();
                }
                None
            }
            Wire::Rpc { .. } | Wire::Closed => None,
            Wire::Sse { reader, .. } => {
                reader.abort();
                let _ = reader.await;
                None
            }
            Wire::Ws { sink, reader } => {
                let _ = sink.lock().await.send(Message::Close(None)).await;
                // The server answers the close frame, which ends the reader.
                let _ = tokio::time::timeout(DEADLINE, reader).await.expect("the socket closed");
                None
            }
            Wire::Stdio { stdin, mut child } => {
                drop(stdin.lock().await.take());
                let status = tokio::time::timeout(DEADLINE, child.wait())
                    .await
                    .unwrap_or_else(|_| panic!("{transport}: mcpgw did not exit after its input closed"))
                    .unwrap();
                status.code()
            }
        }
    }

    /// Names from every page of a `*/list` (`"tools/list", "tools", "name"`).
    pub async fn list(&self, method: &str, field: &str, key: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let r = self.request(method, params).await;
            let result = &r["result"];
            assert!(result.is_object(), "{}: {method} failed: {r}", self.transport);
            names.extend(result[field].as_array().unwrap().iter().map(|t| t[key].as_str().unwrap().to_string()));
            match result["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return names,
            }
        }
    }

    pub async fn tools(&self) -> Vec<String> {
        self.list("tools/list", "tools", "name").await
    }

    /// Calls a tool; returns the answer (result or error).
    pub async fn call(&self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// Calls a tool and returns the text of its first content block.
    pub async fn call_text(&self, name: &str, arguments: Value) -> String {
        let r = self.call(name, arguments).await;
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: {name} failed: {r}", self.transport))
            .to_string()
    }

    fn note_status(&self, status: u16) {
        *self.last_status.lock().unwrap() = Some(status);
    }

    /// Where answers to the server's questions go from a stream reader.
    fn replier(&self) -> Replier {
        match &self.wire {
            Wire::Http { endpoint, http, session, .. } => {
                Replier::Post { http: http.clone(), url: endpoint.clone(), session: session.lock().unwrap().clone() }
            }
            _ => Replier::None,
        }
    }

    /// The answer to request `id` from an HTTP response: its JSON body, or the message in its
    /// event stream that answers `id` (questions on the way are answered, notifications queued).
    async fn read_answer(&self, response: reqwest::Response, id: &Value) -> Value {
        let streamed = response.headers().get("content-type").is_some_and(|t| t == "text/event-stream");
        if !streamed {
            let text = tokio::time::timeout(DEADLINE, response.text()).await.expect("the answer in time").unwrap();
            return serde_json::from_str(&text).unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text}"));
        }
        let replies = self.replier();
        let mut events = EventStream::new(response);
        let answer = tokio::time::timeout(DEADLINE, async {
            loop {
                let message = events.next().await?;
                if message.get("method").is_none() && message["id"] == *id {
                    return Some(message);
                }
                if let Some(reply) = self.inbox.take(message) {
                    replies.send(reply).await;
                }
            }
        });
        match answer.await {
            Ok(Some(answer)) => answer,
            Ok(None) => panic!("{}: the stream ended without an answer to {id}", self.transport),
            Err(_) => panic!("{}: no answer to {id} within {DEADLINE:?}", self.transport),
        }
    }

    /// `_meta` for a stateless request: its version, capabilities and client info, merged with
    /// whatever `_meta` the params already carry (a progress token, a log level).
    fn stateless_params(&self, mut params: Value) -> Value {
        let mut meta = json!({
            "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
            "io.modelcontextprotocol/clientCapabilities": self.capabilities.lock().unwrap().clone(),
            "io.modelcontextprotocol/clientInfo": {"name": "mcpgw-test", "version": "0"},
        });
        if let Some(Value::Object(own)) = params.get("_meta") {
            meta.as_object_mut().unwrap().extend(own.clone());
        }
        params["_meta"] = meta;
        params
    }

    /// A stateless request; an `input_required` result is answered with the handler (when one is
    /// set and it answers every question) and retried, until the request completes.
    async fn stateless_request(&self, id: Value, method: &str, mut params: Value) -> Value {
        let Wire::Stateless { endpoint, http, .. } = &self.wire else { unreachable!() };
        loop {
            let sent = self.stateless_params(params.clone());
            let name = ["name", "uri", "taskId"].iter().find_map(|k| sent.get(*k).and_then(Value::as_str));
            let name = NAMED.contains(&method).then_some(name).flatten();
            let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": sent});
            let r = stateless_post(http, endpoint, method, name, &body).await;
            self.note_status(r.status().as_u16());
            assert!(r.headers().get("mcp-session-id").is_none(), "stateless requests get no session");
            let answer = self.read_answer(r, &id).await;
            let result = &answer["result"];
            if result["resultType"] != "input_required" {
                return answer;
            }
            let Some(handler) = self.inbox.handler.lock().unwrap().clone() else { return answer };
            let mut responses = serde_json::Map::new();
            for (key, question) in result["inputRequests"].as_object().into_iter().flatten() {
                let mut asked = question.clone();
                asked["id"] = json!(key);
                self.inbox.questions.lock().unwrap().push(asked.clone());
                let Some(reply) = handler(&asked) else { return answer };
                responses.insert(key.clone(), reply);
            }
            params["inputResponses"] = Value::Object(responses);
            // The retry is a request of its own; it keeps the id, so its answer is the one asked for.
            params["requestState"] = result["requestState"].clone();
        }
    }
}

/// Stateless methods that name their target in `Mcp-Name`.
const NAMED: [&str; 6] = ["tools/call", "resources/read", "prompts/get", "tasks/get", "tasks/update", "tasks/cancel"];

impl Drop for TestClient {
    fn drop(&mut self) {
        match &self.wire {
            Wire::Http { stream, .. } => {
                if let Some(reader) = stream.lock().unwrap().take() {
                    reader.abort();
                }
            }
            Wire::Stateless { listens, .. } => listens.lock().unwrap().iter().for_each(JoinHandle::abort),
            Wire::Sse { reader, .. } | Wire::Ws { reader, .. } => reader.abort(),
            // The child is killed on drop; its reader ends with its stdout.
            Wire::Stdio { .. } | Wire::Rpc { .. } | Wire::Closed => {}
        }
    }
}

/// An HTTP answer refusing the request with a JSON-RPC error and a status of its own (401, 403).
fn is_refusal(r: &reqwest::Response) -> bool {
    let json = r.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    [401, 403].contains(&r.status().as_u16()) && json
}
