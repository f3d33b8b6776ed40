//! The client side of each binding: the connection a `TestClient` holds (`Wire`), where the
//! server's messages land (`Inbox`), event-stream parsing, and the readers that run beside a
//! connection (SSE stream, WebSocket frames, stdout lines).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::super::util::{DEADLINE, TestGateway, gateway_bin};
use super::{Handler, STATELESS_VERSION, VERSION};

/// The connection of one client, by binding.
pub(super) enum Wire {
    Http {
        endpoint: String,
        http: reqwest::Client,
        session: Mutex<Option<String>>,
        stream: Mutex<Option<JoinHandle<()>>>,
    },
    Stateless {
        endpoint: String,
        http: reqwest::Client,
        listens: Mutex<Vec<JoinHandle<()>>>,
    },
    Rpc {
        endpoint: String,
        http: reqwest::Client,
    },
    Sse {
        messages: String,
        http: reqwest::Client,
        reader: JoinHandle<()>,
    },
    Ws {
        sink: Arc<tokio::sync::Mutex<WsSink>>,
        reader: JoinHandle<()>,
    },
    Stdio {
        stdin: Arc<tokio::sync::Mutex<Option<tokio::process::ChildStdin>>>,
        child: tokio::process::Child,
    },
    /// After `close`.
    Closed,
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type WsSink = SplitSink<WsStream, Message>;

/// Where a client's messages arrive: answers go to the request waiting for them; everything
/// else is queued for `next_message`, after the server's questions are answered by the handler.
pub(super) struct Inbox {
    pub(super) waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    pub(super) tx: mpsc::UnboundedSender<Value>,
    pub(super) queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Value>>,
    pub(super) questions: Mutex<Vec<Value>>,
    pub(super) handler: Mutex<Option<Arc<Handler>>>,
    /// What went wrong in a background reader (a line that is not JSON, a refused reply).
    pub(super) faults: Mutex<Vec<String>>,
}

impl Default for Inbox {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Inbox {
            waiting: Mutex::default(),
            tx,
            queue: tokio::sync::Mutex::new(rx),
            questions: Mutex::default(),
            handler: Mutex::default(),
            faults: Mutex::default(),
        }
    }
}

impl Inbox {
    /// Sorts one message from the server; returns the answer to send back when it is a question
    /// the handler answered.
    pub(super) fn take(&self, message: Value) -> Option<Value> {
        let is_request = message.get("method").is_some() && message.get("id").is_some();
        if is_request {
            self.questions.lock().unwrap().push(message.clone());
            let handler = self.handler.lock().unwrap().clone();
            let reply = handler
                .and_then(|h| h(&message))
                .map(|result| json!({"jsonrpc": "2.0", "id": message["id"], "result": result}));
            let _ = self.tx.send(message);
            return reply;
        }
        if message.get("method").is_none()
            && let Some(waiter) = self.waiting.lock().unwrap().remove(&message["id"].to_string())
        {
            let _ = waiter.send(message);
            return None;
        }
        let _ = self.tx.send(message);
        None
    }

    /// The connection ended: nobody waiting gets an answer any more.
    pub(super) fn closed(&self) {
        self.waiting.lock().unwrap().clear();
    }

    pub(super) fn fault(&self, what: String) {
        self.faults.lock().unwrap().push(what);
    }

    /// Panics with what went wrong in a background reader, if anything did.
    pub(super) fn check(&self) {
        let faults = self.faults.lock().unwrap();
        assert!(faults.is_empty(), "the client's connection misbehaved: {faults:?}");
    }
}

/// How a background reader sends an answer to the server's question.
pub(super) enum Replier {
    None,
    Post { http: reqwest::Client, url: String, session: Option<String> },
}

impl Replier {
    pub(super) async fn send(&self, reply: Value) {
        if let Replier::Post { http, url, session } = self {
            let r = http_post(http, url, session.as_deref(), &reply).await;
            assert_eq!(r.status(), 202, "an answer to the server is accepted");
        }
    }
}

pub(super) async fn http_post(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut r = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        r = r.header("mcp-session-id", s).header("mcp-protocol-version", VERSION);
    }
    r.body(body.to_string()).send().await.unwrap()
}

/// A stateless POST with the headers mirroring its body.
pub(super) async fn stateless_post(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    name: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut r = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", STATELESS_VERSION)
        .header("mcp-method", method);
    if let Some(name) = name {
        r = r.header("mcp-name", name);
    }
    r.body(body.to_string()).send().await.unwrap()
}

/// The JSON-RPC messages of an event stream, one at a time. Events without JSON data (a priming
/// event, keep-alive comments) are skipped; `endpoint` events are returned as `{"endpoint": …}`.
pub(super) struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub(super) fn new(response: reqwest::Response) -> Self {
        EventStream { response, buffer: String::new() }
    }

    /// The next message, or `None` when the stream ends. Waits as long as it takes: callers bound it.
    pub(super) async fn next(&mut self) -> Option<Value> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: String = event.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                if event.lines().any(|l| l == "event: endpoint") {
                    return Some(json!({"endpoint": data}));
                }
                if let Ok(message) = serde_json::from_str::<Value>(&data) {
                    return Some(message);
                }
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Reads an event stream into `inbox` until it ends, answering the server's questions.
pub(super) async fn read_event_stream(response: reqwest::Response, inbox: Arc<Inbox>, replies: Replier) {
    let mut events = EventStream::new(response);
    while let Some(message) = events.next().await {
        if let Some(reply) = inbox.take(message) {
            replies.send(reply).await;
        }
    }
}

/// An HTTP client sending these headers with every request.
pub(super) fn http_client(headers: &[(&str, &str)]) -> reqwest::Client {
    let mut defaults = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        defaults.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_str(value).unwrap(),
        );
    }
    reqwest::Client::builder().default_headers(defaults).build().unwrap()
}

pub(super) async fn open_sse(gw: &TestGateway, url: &str, inbox: &Arc<Inbox>, http: reqwest::Client) -> Wire {
    let stream = http.get(url).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(stream.status(), 200, "GET {url}");
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut events = EventStream::new(stream);
    let first = tokio::time::timeout(DEADLINE, events.next()).await.expect("the endpoint event in time");
    let endpoint =
        first.and_then(|e| e["endpoint"].as_str().map(str::to_string)).expect("the stream names its endpoint");
    let messages = gw.url(&endpoint);
    let (inbox, post) = (inbox.clone(), http.clone());
    let reply_to = messages.clone();
    let reader = tokio::spawn(async move {
        while let Some(message) = events.next().await {
            if let Some(reply) = inbox.take(message) {
                let r = http_post(&post, &reply_to, None, &reply).await;
                if r.status() != 202 {
                    inbox.fault(format!("an answer to the server was refused with {}", r.status()));
                }
            }
        }
        inbox.closed();
    });
    Wire::Sse { messages, http, reader }
}

pub(super) async fn open_ws(url: &str, inbox: &Arc<Inbox>, headers: &[(&str, &str)]) -> Wire {
    let mut request = url.replace("http://", "ws://").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "mcp".parse().unwrap());
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "mcp", "the subprotocol is agreed");
    let (sink, frames) = ws.split();
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    let reader = tokio::spawn(read_ws(frames, inbox.clone(), sink.clone()));
    Wire::Ws { sink, reader }
}

async fn read_ws(mut frames: SplitStream<WsStream>, inbox: Arc<Inbox>, sink: Arc<tokio::sync::Mutex<WsSink>>) {
    while let Some(Ok(frame)) = frames.next().await {
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            inbox.fault(format!("a frame is not JSON: {text}"));
            continue;
        };
        if let Some(reply) = inbox.take(message) {
            let _ = sink.lock().await.send(Message::Text(reply.to_string().into())).await;
        }
    }
    inbox.closed();
}

pub(super) fn open_stdio(
    config: &std::path::Path,
    virtual_server: &str,
    env: &[(String, String)],
    inbox: &Arc<Inbox>,
) -> Wire {
    let mut command = tokio::process::Command::new(gateway_bin());
    command.arg("stdio").arg("-c").arg(config);
    if virtual_server != "default" {
        command.args(["--server", virtual_server]);
    }
    let mut child = command
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start mcpgw stdio");
    let stdin = Arc::new(tokio::sync::Mutex::new(child.stdin.take()));
    let stdout = child.stdout.take().unwrap();
    let (inbox, replies) = (inbox.clone(), stdin.clone());
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                inbox.fault(format!("every stdout line is JSON, not: {line}"));
                continue;
            };
            if let Some(reply) = inbox.take(message) {
                write_line(&replies, &reply.to_string()).await;
            }
        }
        inbox.closed();
    });
    Wire::Stdio { stdin, child }
}

pub(super) async fn write_line(stdin: &tokio::sync::Mutex<Option<tokio::process::ChildStdin>>, line: &str) {
    let mut stdin = stdin.lock().await;
    let Some(pipe) = stdin.as_mut() else { panic!("stdin is closed") };
    pipe.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    pipe.flush().await.unwrap();
}
