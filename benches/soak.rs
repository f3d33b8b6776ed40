//! The soak benchmark (not a test): mcpgw serves 16 legitimate clients for minutes while a hostile
//! mix runs against every serving transport at once, its stdio upstream's child is killed every
//! 10 s and its config reloaded every 5 s. It reports the legitimate calls' failures and latency,
//! how each hostile operation was answered, and the gateway's memory, descriptors and children.
//!
//! Run: `cargo bench --bench soak` (optionally `-- --seconds 30`; the default is 120).
//! `kid`'s echo tool is declared read-only in the file, so a legitimate call in flight at a kill is
//! sent again to the next child and every legitimate failure is one to explain; `-- --no-resend`
//! sets `reconnect.resend_lost: never` to count the calls a kill catches in flight instead.
//!
//! The legitimate clients connect from 127.0.0.1; each hostile kind connects from its own other
//! loopback address (127.0.0.2, …), so the per-address connection cap falls on it alone.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Killed, start_fixture};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const LEGIT_CLIENTS: usize = 16;
/// On average; see `kill_due`.
const KILL_EVERY: Duration = Duration::from_secs(10);
const RELOAD_EVERY: Duration = Duration::from_secs(5);
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// A legitimate call not answered within this is a failure (and the run does not hang on it).
const CALL_DEADLINE: Duration = Duration::from_secs(20);
/// A hostile operation not finished within this is counted as such and abandoned.
const HOSTILE_DEADLINE: Duration = Duration::from_secs(30);
/// Failures kept whole (the report shows the first few, and every one away from a kill).
const KEPT_FAILURES: usize = 2000;
const SHOWN_FAILURES: usize = 20;

/// The limits the hostile mix is meant to reach within the run. The total connection cap stays
/// far above what all hostile addresses together may hold (5 × 200), so a refusal never falls on
/// the legitimate clients.
const SERVING: &str = "serving: { max_connections: 4000, max_connections_per_client: 200, max_sessions: 4000, \
                       header_timeout: 2s, body_timeout: 2s, idle_timeout: 5s }";
/// The stdio upstream's `timeout:`, alternated by each reload so that it is replaced.
const TIMEOUTS: [&str; 2] = ["30s", "31s"];

/// Where each hostile kind connects from.
const BATCHES_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const SLOW_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const SSE_HOARD_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
const SSE_FLOOD_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
const WS_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);
const LEGIT_FROM: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// How many hostile tasks of each kind run at once.
const BATCH_WORKERS: usize = 4;
/// Per kind of slow connection; three kinds together pass the per-address cap (200).
const SLOW_WORKERS: usize = 80;
/// More than the per-address cap, so some are refused.
const SSE_HOARDERS: usize = 230;
const SSE_FLOODERS: usize = 4;
const WS_FLOODERS: usize = 2;
/// Messages sent on a WebSocket before reading the answers, and rounds of them per socket.
const WS_BURST: usize = 2000;
const WS_ROUNDS: usize = 5;
/// `POST /messages` per SSE session before it is closed and another opened.
const SSE_POSTS: usize = 2000;

fn main() {
    support::run_for(120, run);
}

async fn run(duration: Duration) {
    let (web, web_url) = start_fixture(&["--name", "web"]);
    let dir = tempfile::tempdir().unwrap();
    let resend = !std::env::args().any(|a| a == "--no-resend");
    let config = Config { path: dir.path().join("gateway.yaml"), web_url, resend };
    config.write(TIMEOUTS[0]);
    // Times in the report (failures, kills, reloads, the gateway's log) count from here.
    let epoch = Instant::now();
    let gateway = Gateway::start(&config.path, epoch);
    let address: SocketAddr = gateway.address.parse().unwrap();
    while get(address, "/readyz").await.map(|(status, _)| status) != Ok(200) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let soak = Arc::new(Soak {
        gateway: address,
        started: epoch,
        stop: AtomicBool::new(false),
        tally: Tally::default(),
        events: Mutex::default(),
    });
    let before = Usage::of(gateway.pid);
    println!(
        "mcpgw soak: {} s, {} cores, gateway at {address}, upstream web at {}, lost calls {}",
        duration.as_secs(),
        num_cpus(),
        config.web_url,
        if config.resend { "to read-only kid_echo resent" } else { "never resent" }
    );

    // The legitimate clients open their sessions before the hostile mix starts.
    let load_started = Instant::now();
    let mut legit = Vec::new();
    for n in 0..LEGIT_CLIENTS {
        let session = open_session(address, LEGIT_FROM, "2025-06-18").await.expect("a legitimate session");
        legit.push(tokio::spawn(legit_client(soak.clone(), n, session)));
    }
    let sampler = tokio::spawn(sample(soak.clone(), gateway.pid));
    let hostile = start_hostile(&soak, config, gateway.pid);

    tokio::time::sleep(duration).await;
    soak.stop.store(true, Ordering::Relaxed);
    let mut calls = Legit::default();
    for client in legit {
        calls.merge(client.await.unwrap());
    }
    for task in hostile {
        task.abort();
    }
    let peaks = sampler.await.unwrap();
    let elapsed = load_started.elapsed();
    // The hostile connections are gone; what the gateway still holds a few seconds on is kept.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = Usage::of(gateway.pid);
    let held = descriptors_by_kind(gateway.pid, address.port());
    let own = fds(std::process::id());
    let readyz = get(address, "/readyz").await.map(|(_, body)| body).unwrap_or_default();
    let readyz: Value = serde_json::from_str(&readyz).unwrap_or_default();

    report(&soak, &calls, elapsed, &before, &peaks, &after, &readyz, &gateway.log.lock().unwrap());
    println!();
    println!("the gateway's descriptors at the end (the soak process itself holds {own}):");
    for (kind, n) in held {
        println!("  {n:>6} {kind}");
    }
    drop((web, gateway, dir));
}

/// What every task shares: where the gateway is, when to stop, and what happened.
struct Soak {
    gateway: SocketAddr,
    started: Instant,
    stop: AtomicBool,
    tally: Tally,
    /// Kills and reloads with when they happened, to place each legitimate failure against them.
    events: Mutex<Vec<(Duration, Event)>>,
}

impl Soak {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn record(&self, event: Event) {
        self.events.lock().unwrap().push((self.started.elapsed(), event));
    }

    fn kill_times(&self) -> Vec<Duration> {
        self.events.lock().unwrap().iter().filter(|(_, e)| e.is_kill()).map(|(t, _)| *t).collect()
    }

    /// The last kill and the last reload at or before `at`, as "2.1 s after kill 3".
    fn context(&self, at: Duration) -> String {
        let events = self.events.lock().unwrap();
        let last = |kill: bool| {
            let found = events.iter().enumerate().rev().find(|(_, (t, e))| *t <= at && e.is_kill() == kill);
            found.map_or(format!("before any {}", if kill { "kill" } else { "reload" }), |(i, (t, e))| {
                let nth = events[..=i].iter().filter(|(_, other)| other.is_kill() == kill).count();
                format!("{:.2} s after {} {nth} ({})", (at - *t).as_secs_f64(), e.name(), e.detail())
            })
        };
        format!("{}; {}", last(true), last(false))
    }
}

#[derive(Clone)]
enum Event {
    /// The pid, and where the kill fell between reloads.
    Kill(u32, &'static str),
    /// The stdio upstream's new timeout.
    Reload(&'static str),
}

impl Event {
    fn is_kill(&self) -> bool {
        matches!(self, Event::Kill(..))
    }

    fn name(&self) -> &'static str {
        if self.is_kill() { "kill" } else { "reload" }
    }

    fn detail(&self) -> String {
        match self {
            Event::Kill(pid, when) => format!("pid {pid}, {when}"),
            Event::Reload(timeout) => format!("timeout {timeout}"),
        }
    }
}

/// Hostile operations by kind, and how each was answered ("HTTP 413", "closed", …).
#[derive(Default)]
struct Tally(Mutex<BTreeMap<&'static str, BTreeMap<String, u64>>>);

impl Tally {
    fn add(&self, kind: &'static str, outcome: impl Into<String>) {
        self.add_n(kind, outcome, 1);
    }

    fn add_n(&self, kind: &'static str, outcome: impl Into<String>, n: u64) {
        *self.0.lock().unwrap().entry(kind).or_default().entry(outcome.into()).or_default() += n;
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway, its config and its upstreams.

struct Gateway {
    address: String,
    pid: u32,
    log: Arc<Mutex<LogSummary>>,
    _process: Killed,
}

impl Gateway {
    fn start(config: &Path, epoch: Instant) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcpgw"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "-c"])
            .arg(config)
            // Upstream and reload events, and resent requests, at INFO: the timeline each
            // legitimate failure is set against.
            .env(
                "MCPGW_LOG",
                "warn,mcpgw::cli=info,mcpgw::upstream=info,mcpgw::reload=info,mcpgw::dispatch::owner=info",
            )
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = support::listening_address(&mut lines);
        // The log is read to its end (or the gateway would block on a full pipe), and its warnings
        // and errors are counted: a soak's surprises often show there first.
        let log = Arc::new(Mutex::new(LogSummary::default()));
        let summary = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                summary.lock().unwrap().take(&line, epoch.elapsed());
            }
        });
        Gateway { address, pid: child.id(), log, _process: Killed(child) }
    }
}

/// The gateway's log lines by level and message (message texts only, so repeats collapse), and
/// a timeline of them when they were read, but for the refused connections (thousands, and alike).
#[derive(Default)]
struct LogSummary {
    counts: BTreeMap<(String, String), u64>,
    timeline: Vec<(Duration, String)>,
}

impl LogSummary {
    const TIMELINE: usize = 10_000;

    fn take(&mut self, line: &str, at: Duration) {
        let v: Value = serde_json::from_str(line).unwrap_or_default();
        let level = v["level"].as_str().unwrap_or("?").to_string();
        let message = v["fields"]["message"].as_str().or(v["message"].as_str()).unwrap_or(line);
        let message = shorten(message, 120);
        if !message.starts_with("refused a connection") && self.timeline.len() < Self::TIMELINE {
            let mut fields = v["fields"].as_object().cloned().unwrap_or_default();
            fields.remove("message");
            self.timeline.push((at, shorten(&format!("{level} {message} {}", Value::from(fields)), 300)));
        }
        *self.counts.entry((level, message)).or_default() += 1;
    }
}

/// The config file: the stdio upstream `kid` (the fixture as a child) and the HTTP one `web`.
struct Config {
    path: PathBuf,
    web_url: String,
    /// Whether a call lost with its connection is resent when harmless (`reconnect.resend_lost`).
    resend: bool,
}

impl Config {
    fn yaml(&self, timeout: &str) -> String {
        format!(
            "{SERVING}\nupstreams:\n  kid:\n    stdio: {{ command: '{}', args: [--name, kid] }}\n    timeout: {timeout}\n    \
             tools: {{ shape: {{ echo: {{ annotations: {{ readOnlyHint: true }} }} }} }}\n    \
             reconnect: {{ resend_lost: {} }}\n  web: {{ url: '{}' }}\n",
            env!("CARGO_BIN_EXE_mcpgw-fixture"),
            if self.resend { "idempotent" } else { "never" },
            self.web_url
        )
    }

    /// Writes the file as editors do: a temporary file in the same directory, renamed over it,
    /// so the gateway never reads half of it.
    fn write(&self, timeout: &str) {
        let temporary = self.path.with_extension("yaml.tmp");
        std::fs::write(&temporary, self.yaml(timeout)).unwrap();
        std::fs::rename(&temporary, &self.path).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 from a chosen source address.

type Sender = http1::SendRequest<Full<Bytes>>;

/// A TCP connection to the gateway from `source`.
async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> Result<TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {}", e.kind()))?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).map_err(|e| format!("bind: {}", e.kind()))?;
    let stream = socket.connect(to).await.map_err(|e| format!("connect: {}", e.kind()))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// A hostile connection, checked for the gateway's refusal: past a cap, the gateway writes 503
/// at once and closes, which an HTTP client would only see as a failed request.
async fn admitted_from(source: Ipv4Addr, to: SocketAddr) -> Result<TcpStream, String> {
    let stream = connect_from(source, to).await?;
    let mut first = [0u8; 12];
    match tokio::time::timeout(Duration::from_millis(50), stream.peek(&mut first)).await {
        Err(_) => Ok(stream),
        Ok(Ok(0)) => Err("closed at connect".into()),
        Ok(Ok(n)) if first[..n].starts_with(b"HTTP/1.1 503") => Err("HTTP 503 at connect".into()),
        Ok(Ok(_)) => Err("unasked bytes at connect".into()),
        Ok(Err(e)) => Err(format!("connect: {}", e.kind())),
    }
}

async fn http_over(stream: TcpStream) -> Result<Sender, String> {
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| short(&e))?;
    tokio::spawn(connection);
    Ok(sender)
}

struct Answer {
    status: u16,
    session: Option<String>,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// POSTs JSON to `path` (headers such as the session's added) and reads the whole answer.
async fn post(
    sender: &mut Sender,
    to: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> Result<Answer, String> {
    sender.ready().await.map_err(|e| short(&e))?;
    let mut request = Request::post(path)
        .header("host", to.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response =
        sender.send_request(request.body(Full::new(Bytes::from(body))).unwrap()).await.map_err(|e| short(&e))?;
    let status = response.status().as_u16();
    let session = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = response.into_body().collect().await.map_err(|e| short(&e))?.to_bytes();
    Ok(Answer { status, session, body })
}

/// A GET on a fresh connection from 127.0.0.1: the status and body.
async fn get(to: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut sender = http_over(connect_from(LEGIT_FROM, to).await?).await?;
    let request = Request::get(path).header("host", to.to_string()).body(Full::new(Bytes::new())).unwrap();
    let response = sender.send_request(request).await.map_err(|e| short(&e))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| short(&e))?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).to_string()))
}

/// A streamable HTTP session: its connection, id and protocol version.
struct Session {
    sender: Sender,
    id: String,
    version: &'static str,
}

impl Session {
    /// Calls a tool and returns the JSON-RPC answer, or what went wrong.
    async fn call(&mut self, to: SocketAddr, tool: &str, arguments: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        let headers = [("mcp-session-id", self.id.as_str()), ("mcp-protocol-version", self.version)];
        let answer = post(&mut self.sender, to, "/mcp", &headers, body.to_string()).await?;
        if answer.status != 200 {
            return Err(format!("HTTP {}: {}", answer.status, shorten(&answer.text(), 400)));
        }
        json_rpc_answer(&answer.body).ok_or_else(|| format!("not a JSON-RPC answer: {}", shorten(&answer.text(), 400)))
    }
}

/// Initializes a streamable HTTP session at `version` from `source`.
async fn open_session(to: SocketAddr, source: Ipv4Addr, version: &'static str) -> Result<Session, String> {
    let stream = if source == LEGIT_FROM { connect_from(source, to).await? } else { admitted_from(source, to).await? };
    let mut sender = http_over(stream).await?;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}});
    let answer = post(&mut sender, to, "/mcp", &[], init.to_string()).await?;
    let Some(id) = answer.session.filter(|_| answer.status == 200) else {
        return Err(format!("initialize: HTTP {}", answer.status));
    };
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let answer =
        post(&mut sender, to, "/mcp", &[("mcp-session-id", &id), ("mcp-protocol-version", version)], initialized)
            .await?;
    if answer.status != 202 {
        return Err(format!("notifications/initialized: HTTP {}", answer.status));
    }
    Ok(Session { sender, id, version })
}

/// The JSON-RPC answer in a body: JSON, or the first message with an id on an event stream.
fn json_rpc_answer(body: &[u8]) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Some(v);
    }
    let text = String::from_utf8_lossy(body);
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|m| m.get("id").is_some() && m.get("method").is_none())
}

/// "result", or "error -32010" and the like: how one JSON-RPC answer went.
fn outcome_of(answer: &Value) -> String {
    match answer.get("error") {
        Some(error) => match error["data"]["retryable"].as_bool() {
            Some(true) => format!("error {} retryable", error["code"]),
            Some(false) => format!("error {} not retryable", error["code"]),
            None => format!("error {}", error["code"]),
        },
        None if answer["result"]["isError"] == true => "tool error".into(),
        None if answer.get("result").is_some() => "result".into(),
        None => "neither result nor error".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The legitimate clients.

#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    Kid,
    Web,
}

impl Upstream {
    fn tool(self) -> &'static str {
        match self {
            Upstream::Kid => "kid_echo",
            Upstream::Web => "web_echo",
        }
    }
}

#[derive(Clone)]
struct Failure {
    /// When the call was sent, and how long it took to fail.
    sent: Duration,
    took: Duration,
    client: usize,
    tool: &'static str,
    what: String,
}

impl Failure {
    /// "kid_echo error -32010 retryable": the tool and what went wrong, without the body.
    fn kind(&self) -> String {
        format!("{} {}", self.tool, shorten(self.what.split(':').next().unwrap_or(""), 60))
    }
}

/// What the legitimate clients saw: each call's latency by upstream, every failure's time and
/// kind, and the first failures whole.
#[derive(Default)]
struct Legit {
    kid: Vec<u64>,
    web: Vec<u64>,
    /// When each failed call was sent, when it failed, and its kind.
    failures: Vec<(Duration, Duration, String)>,
    kept: Vec<Failure>,
}

impl Legit {
    fn fail(&mut self, failure: Failure) {
        self.failures.push((failure.sent, failure.sent + failure.took, failure.kind()));
        if self.kept.len() < KEPT_FAILURES {
            self.kept.push(failure);
        }
    }

    fn merge(&mut self, other: Legit) {
        self.kid.extend(other.kid);
        self.web.extend(other.web);
        self.failures.extend(other.failures);
        self.failures.sort_by_key(|(sent, ..)| *sent);
        self.kept.extend(other.kept);
        self.kept.sort_by_key(|f| f.sent);
        self.kept.truncate(KEPT_FAILURES);
    }

    /// The failures counted by kind.
    fn by_kind(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for (.., kind) in &self.failures {
            *counts.entry(kind.as_str()).or_default() += 1;
        }
        counts
    }
}

/// One client on its own session: `tools/call` back to back, alternating between the stdio and the
/// HTTP upstream, each answer checked to echo its text. Nothing is retried: every failed call
/// is recorded as one.
async fn legit_client(soak: Arc<Soak>, n: usize, session: Session) -> Legit {
    let mut out = Legit::default();
    let mut session = Some(session);
    let mut i = 0u64;
    while !soak.stopping() {
        i += 1;
        let upstream = if i.is_multiple_of(2) { Upstream::Kid } else { Upstream::Web };
        let sent = soak.started.elapsed();
        let failure = |what: String| Failure {
            sent,
            took: soak.started.elapsed() - sent,
            client: n,
            tool: upstream.tool(),
            what,
        };
        let Some(open) = session.as_mut() else {
            // The connection was lost: a new one and a new session (the failure is recorded already).
            match open_session(soak.gateway, LEGIT_FROM, "2025-06-18").await {
                Ok(s) => session = Some(s),
                Err(e) => {
                    out.fail(failure(format!("new session: {e}")));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            continue;
        };
        let text = format!("client {n} call {i}");
        let started = Instant::now();
        let answer =
            tokio::time::timeout(CALL_DEADLINE, open.call(soak.gateway, upstream.tool(), json!({"text": text}))).await;
        let latency = started.elapsed().as_nanos() as u64;
        match answer {
            Ok(Ok(answer))
                if answer["result"]["content"][0]["text"] == text.as_str() && answer["result"]["isError"] != true =>
            {
                match upstream {
                    Upstream::Kid => out.kid.push(latency),
                    Upstream::Web => out.web.push(latency),
                }
            }
            Ok(Ok(answer)) => out.fail(failure(format!("{}: {answer}", outcome_of(&answer)))),
            Ok(Err(e)) => {
                let broken = !e.starts_with("HTTP ") && !e.starts_with("not a JSON-RPC");
                out.fail(failure(e));
                if broken {
                    session = None;
                }
            }
            Err(_) => {
                out.fail(failure(format!("no answer within {CALL_DEADLINE:?}")));
                session = None;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The hostile mix.

fn start_hostile(soak: &Arc<Soak>, config: Config, gateway_pid: u32) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for _ in 0..BATCH_WORKERS {
        tasks.push(tokio::spawn(batches(soak.clone())));
    }
    tasks.push(tokio::spawn(rpc_batches(soak.clone())));
    for kind in [Slow::Silent, Slow::HalfPreface, Slow::Trickle] {
        for _ in 0..SLOW_WORKERS {
            tasks.push(tokio::spawn(slow_connections(soak.clone(), kind)));
        }
    }
    for i in 0..SSE_HOARDERS {
        tasks.push(tokio::spawn(sse_hoard(soak.clone(), i)));
    }
    for _ in 0..SSE_FLOODERS {
        tasks.push(tokio::spawn(sse_flood(soak.clone())));
    }
    for _ in 0..WS_FLOODERS {
        tasks.push(tokio::spawn(ws_flood(soak.clone())));
    }
    // Kills and reloads keep to one schedule, so each kill's place between reloads is known.
    let start = Instant::now();
    tasks.push(tokio::spawn(kill_the_child(soak.clone(), gateway_pid, start)));
    tasks.push(tokio::spawn(reload(soak.clone(), config, start)));
    tasks
}

/// Sessions at 2025-03-26 (the last version with batches) posting batches of 256 slow calls, the
/// most a batch may hold, and every fifth time one of 300 (which must be refused with 413).
async fn batches(soak: Arc<Soak>) {
    const KIND: &str = "/mcp batch of 256 kid_sleep 50 ms (2025-03-26 session)";
    const OVERSIZE: &str = "/mcp batch of 300";
    const MEMBERS: &str = "/mcp batch of 256 kid_sleep 50 ms: each call's answer";
    let sleep = |id: usize| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "kid_sleep", "arguments": {"ms": 50}}});
    let batch = Value::from((0..256).map(sleep).collect::<Vec<_>>()).to_string();
    let oversize = Value::from((0..300).map(sleep).collect::<Vec<_>>()).to_string();
    while !soak.stopping() {
        let mut session = match open_session(soak.gateway, BATCHES_FROM, "2025-03-26").await {
            Ok(s) => s,
            Err(e) => {
                soak.tally.add(KIND, format!("no session: {e}"));
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let id = session.id.clone();
        let headers = [("mcp-session-id", id.as_str()), ("mcp-protocol-version", session.version)];
        for round in 1u32.. {
            let (kind, body) = if round.is_multiple_of(5) { (OVERSIZE, &oversize) } else { (KIND, &batch) };
            let posted = tokio::time::timeout(
                HOSTILE_DEADLINE,
                post(&mut session.sender, soak.gateway, "/mcp", &headers, body.clone()),
            )
            .await;
            match posted {
                Ok(Ok(answer)) => {
                    soak.tally.add(kind, format!("HTTP {}", answer.status));
                    if let Ok(Value::Array(answers)) = serde_json::from_slice::<Value>(&answer.body) {
                        let mut by: BTreeMap<String, u64> = BTreeMap::new();
                        for a in &answers {
                            *by.entry(outcome_of(a)).or_default() += 1;
                        }
                        for (outcome, n) in by {
                            soak.tally.add_n(MEMBERS, outcome, n);
                        }
                    }
                }
                Ok(Err(e)) => {
                    soak.tally.add(kind, e);
                    break;
                }
                Err(_) => {
                    soak.tally.add(kind, "no answer within 30 s");
                    break;
                }
            }
            if soak.stopping() {
                return;
            }
        }
    }
}

/// Plain JSON-RPC `/rpc` takes no batches (400 expected); a batch of 256 and a single call, in turn.
async fn rpc_batches(soak: Arc<Soak>) {
    const BATCH: &str = "/rpc batch of 256";
    const SINGLE: &str = "/rpc single web_echo";
    let echo = |id: usize| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "web_echo", "arguments": {"text": "rpc"}}});
    let batch = Value::from((0..256).map(echo).collect::<Vec<_>>()).to_string();
    while !soak.stopping() {
        let mut sender = match admitted_from(BATCHES_FROM, soak.gateway).await {
            Ok(stream) => match http_over(stream).await {
                Ok(sender) => sender,
                Err(e) => {
                    soak.tally.add(BATCH, e);
                    continue;
                }
            },
            Err(e) => {
                soak.tally.add(BATCH, e);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        while !soak.stopping() {
            let answer = post(&mut sender, soak.gateway, "/rpc", &[], batch.clone()).await;
            let Ok(answer) = answer.inspect_err(|e| soak.tally.add(BATCH, e.clone())) else { break };
            soak.tally.add(BATCH, format!("HTTP {}", answer.status));
            let answer = post(&mut sender, soak.gateway, "/rpc", &[], echo(1).to_string()).await;
            let Ok(answer) = answer.inspect_err(|e| soak.tally.add(SINGLE, e.clone())) else { break };
            let how = json_rpc_answer(&answer.body).map_or("no JSON-RPC".to_string(), |a| outcome_of(&a));
            soak.tally.add(SINGLE, format!("HTTP {}, {how}", answer.status));
        }
    }
}

/// Connections that hold a place without finishing a request.
#[derive(Clone, Copy)]
enum Slow {
    /// Sends nothing.
    Silent,
    /// Half an HTTP/2 preface.
    HalfPreface,
    /// A body of 100 bytes announced, trickled one byte a second.
    Trickle,
}

impl Slow {
    fn kind(self) -> &'static str {
        match self {
            Slow::Silent => "TCP: idle, nothing sent",
            Slow::HalfPreface => "TCP: half an HTTP/2 preface",
            Slow::Trickle => "TCP: body trickled 1 byte/s",
        }
    }
}

/// Opens slow connections one after another, each held until the gateway closes it.
async fn slow_connections(soak: Arc<Soak>, slow: Slow) {
    while !soak.stopping() {
        let outcome = tokio::time::timeout(HOSTILE_DEADLINE, slow_connection(soak.gateway, slow))
            .await
            .unwrap_or_else(|_| "still open after 30 s".into());
        // A refused address waits a little rather than spin on the refusal.
        if outcome.contains("503") || outcome.starts_with("connect") {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        soak.tally.add(slow.kind(), outcome);
    }
}

/// One slow connection: what the gateway wrote before it closed it, and after how long.
async fn slow_connection(to: SocketAddr, slow: Slow) -> String {
    let mut stream = match connect_from(SLOW_FROM, to).await {
        Ok(stream) => stream,
        Err(e) => return e,
    };
    let opened = Instant::now();
    let start: &[u8] = match slow {
        Slow::Silent => b"",
        Slow::HalfPreface => b"PRI * HTTP/2.0\r\n",
        Slow::Trickle => {
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        }
    };
    if stream.write_all(start).await.is_err() {
        return "closed before the request".into();
    }
    let mut trickling = matches!(slow, Slow::Trickle);
    let mut heard = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => heard.extend_from_slice(&buf[..n]),
                Err(e) => return format!("{} after {}", e.kind(), seconds_bucket(opened.elapsed())),
            },
            _ = tokio::time::sleep(Duration::from_secs(1)), if trickling => {
                trickling = stream.write_all(b" ").await.is_ok();
            }
        }
    }
    let first_line = String::from_utf8_lossy(&heard).lines().next().unwrap_or("").to_string();
    match first_line.as_str() {
        "" => format!("closed silently after {}", seconds_bucket(opened.elapsed())),
        line => {
            format!("{} and closed after {}", line.trim_start_matches("HTTP/1.1 "), seconds_bucket(opened.elapsed()))
        }
    }
}

/// "< 1 s", "2 s", …: a duration coarse enough to count outcomes by.
fn seconds_bucket(d: Duration) -> String {
    if d < Duration::from_secs(1) { "< 1 s".into() } else { format!("{} s", d.as_secs()) }
}

/// Legacy SSE streams opened and held 10-20 s each, more of them than the address may keep.
async fn sse_hoard(soak: Arc<Soak>, i: usize) {
    const KIND: &str = "/sse stream held 10-20 s";
    let hold = Duration::from_secs(10 + (i % 11) as u64);
    while !soak.stopping() {
        let outcome = tokio::time::timeout(hold + HOSTILE_DEADLINE, hold_sse(soak.gateway, hold))
            .await
            .unwrap_or_else(|_| "stalled".into());
        if outcome.contains("503") || outcome.starts_with("connect") || outcome.starts_with("closed at") {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        soak.tally.add(KIND, outcome);
    }
}

async fn hold_sse(to: SocketAddr, hold: Duration) -> String {
    let mut stream = match open_sse(to, SSE_HOARD_FROM).await {
        Ok(stream) => stream,
        Err(e) => return e,
    };
    let held = tokio::time::timeout(hold, async { while stream.next().await.is_some() {} }).await;
    if held.is_ok() { "ended by the gateway".into() } else { "held, then closed".into() }
}

/// An open legacy SSE stream: its messages path, and the events not read yet.
struct SseStream {
    messages: String,
    /// The connection's sender, kept for as long as the stream is read.
    _sender: Sender,
    body: hyper::body::Incoming,
    buffer: String,
}

impl SseStream {
    /// The next event's `data`, or `None` once the stream ended.
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
                if !data.is_empty() {
                    return Some(data);
                }
                continue;
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}

/// `GET /sse` from `source`, read up to its `endpoint` event.
async fn open_sse(to: SocketAddr, source: Ipv4Addr) -> Result<SseStream, String> {
    let mut sender = http_over(admitted_from(source, to).await?).await?;
    let request = Request::get("/sse")
        .header("host", to.to_string())
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.map_err(|e| short(&e))?;
    if response.status() != 200 {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    let mut stream =
        SseStream { messages: String::new(), _sender: sender, body: response.into_body(), buffer: String::new() };
    match tokio::time::timeout(HOSTILE_DEADLINE, stream.next()).await {
        Ok(Some(endpoint)) if endpoint.contains("session_id=") => {
            stream.messages = endpoint;
            Ok(stream)
        }
        Ok(_) => Err("no endpoint event".into()),
        Err(_) => Err("no endpoint event within 30 s".into()),
    }
}

/// Legacy SSE sessions flooded with `POST /messages` calls, never waiting for their answers (a
/// reader counts them as they come on the stream); each session is closed after 2000 and another
/// opened.
async fn sse_flood(soak: Arc<Soak>) {
    const KIND: &str = "/sse flood: POST /messages tools/call";
    const OPEN: &str = "/sse flood: sessions";
    const ANSWERS: &str = "/sse flood: answers on the stream";
    while !soak.stopping() {
        let stream = match open_sse(soak.gateway, SSE_FLOOD_FROM).await {
            Ok(stream) => stream,
            Err(e) => {
                soak.tally.add(OPEN, e);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let messages = stream.messages.clone();
        let (initialized_tx, initialized) = tokio::sync::oneshot::channel();
        let _reader = AbortOnDrop(tokio::spawn(read_sse_answers(soak.clone(), stream, initialized_tx, ANSWERS)));
        let flooded =
            tokio::time::timeout(Duration::from_secs(60), flood_sse_session(&soak, &messages, initialized, KIND)).await;
        match flooded {
            Ok(Ok(())) => soak.tally.add(OPEN, "flooded, then closed"),
            Ok(Err(e)) => soak.tally.add(OPEN, e),
            Err(_) => soak.tally.add(OPEN, "flood not done in 60 s"),
        }
        // Dropping the stream (with the reader) ends the session; answers still due are lost, as
        // a vanished client's are.
    }
}

/// A task that ends with its owner, even when the owner is aborted at the end of the run.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Initializes the session at 2024-11-05, then posts `SSE_POSTS` calls back to back.
async fn flood_sse_session(
    soak: &Soak,
    messages: &str,
    initialized: tokio::sync::oneshot::Receiver<()>,
    kind: &'static str,
) -> Result<(), String> {
    let mut sender = http_over(admitted_from(SSE_FLOOD_FROM, soak.gateway).await?).await?;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}});
    let answer = post(&mut sender, soak.gateway, messages, &[], init.to_string()).await?;
    if answer.status != 202 {
        return Err(format!("initialize: HTTP {}", answer.status));
    }
    tokio::time::timeout(HOSTILE_DEADLINE, initialized)
        .await
        .map_err(|_| "no initialize answer on the stream")?
        .map_err(|_| "the stream ended before the initialize answer")?;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    post(&mut sender, soak.gateway, messages, &[], note).await?;
    for id in 1..=SSE_POSTS {
        let tool = if id.is_multiple_of(2) { "kid_echo" } else { "web_echo" };
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {"text": "sse"}}});
        let answer = post(&mut sender, soak.gateway, messages, &[], call.to_string()).await;
        match answer {
            Ok(answer) => soak.tally.add(kind, format!("HTTP {}", answer.status)),
            Err(e) => {
                soak.tally.add(kind, e.clone());
                return Err(e);
            }
        }
        if soak.stopping() {
            break;
        }
    }
    Ok(())
}

/// Counts the answers on an SSE session's stream; the first (to `initialize`) is signalled.
async fn read_sse_answers(
    soak: Arc<Soak>,
    mut stream: SseStream,
    initialized: tokio::sync::oneshot::Sender<()>,
    kind: &'static str,
) {
    let mut initialized = Some(initialized);
    while let Some(data) = stream.next().await {
        let Ok(message) = serde_json::from_str::<Value>(&data) else { continue };
        if message["id"] == 0 {
            if let Some(tx) = initialized.take() {
                let _ = tx.send(());
            }
            continue;
        }
        if message.get("id").is_some() && message.get("method").is_none() {
            soak.tally.add(kind, outcome_of(&message));
        }
    }
}

/// WebSockets flooded with stateless (2026-07-28) `tools/call`s: 2000 sent without waiting for
/// an answer while another task reads them, five rounds on one socket, then a new socket.
async fn ws_flood(soak: Arc<Soak>) {
    const OPEN: &str = "/ws socket";
    const CALLS: &str = "/ws stateless tools/call, 2000 unawaited per round";
    while !soak.stopping() {
        let socket = match open_ws(soak.gateway).await {
            Ok(socket) => socket,
            Err(e) => {
                soak.tally.add(OPEN, e);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        soak.tally.add(OPEN, "upgraded");
        let (mut sink, mut frames) = socket.split();
        for round in 0..WS_ROUNDS {
            if soak.stopping() {
                return;
            }
            let first = round * WS_BURST;
            let sending = async {
                for id in first..first + WS_BURST {
                    let tool = if id.is_multiple_of(2) { "kid_echo" } else { "web_echo" };
                    if sink.send(Message::Text(stateless_call(id, tool).into())).await.is_err() {
                        return false;
                    }
                }
                true
            };
            let reading = async {
                let mut answered = 0;
                while answered < WS_BURST {
                    match tokio::time::timeout(HOSTILE_DEADLINE, frames.next()).await {
                        Ok(Some(Ok(Message::Text(text)))) => {
                            let answer: Value = serde_json::from_str(&text).unwrap_or_default();
                            if answer.get("id").is_some() && answer.get("method").is_none() {
                                answered += 1;
                                soak.tally.add(CALLS, outcome_of(&answer));
                            }
                        }
                        Ok(Some(Ok(Message::Close(frame)))) => {
                            let code = frame.map_or("no code".to_string(), |f| u16::from(f.code).to_string());
                            soak.tally.add_n(
                                CALLS,
                                format!("unanswered, socket closed ({code})"),
                                (WS_BURST - answered) as u64,
                            );
                            return false;
                        }
                        Ok(Some(Ok(_))) => {}
                        Ok(Some(Err(_)) | None) => {
                            soak.tally.add_n(CALLS, "unanswered, socket broke", (WS_BURST - answered) as u64);
                            return false;
                        }
                        Err(_) => {
                            soak.tally.add_n(CALLS, "unanswered within 30 s", (WS_BURST - answered) as u64);
                            return false;
                        }
                    }
                }
                true
            };
            let (sent, read) = tokio::join!(sending, reading);
            if !(sent && read) {
                break;
            }
        }
        let _ = sink.close().await;
    }
}

type WebSocket = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn open_ws(to: SocketAddr) -> Result<WebSocket, String> {
    let stream = admitted_from(WS_FROM, to).await?;
    let mut request = format!("ws://{to}/ws").into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert("sec-websocket-protocol", "mcp".parse().unwrap());
    let (socket, _) =
        tokio_tungstenite::client_async(request, stream).await.map_err(|e| shorten(&e.to_string(), 80))?;
    Ok(socket)
}

/// A stateless `tools/call`: the protocol version and capabilities travel in `_meta`.
fn stateless_call(id: usize, tool: &str) -> String {
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {"text": "ws"}, "_meta": meta}})
        .to_string()
}

/// The `n`th kill (from 1), on a schedule fixed against the reloads' (every 5 s from the start):
/// odd kills come 50 ms after a reload, while it makes the replacement child (make-before-break),
/// even ones halfway between two reloads; one every 10 s on average.
fn kill_due(start: Instant, n: u32) -> Instant {
    let offset = if n % 2 == 1 { Duration::from_millis(50) } else { RELOAD_EVERY / 2 };
    start + KILL_EVERY * n + offset
}

/// Asks the stdio upstream its pid (through the gateway) and kills it with SIGKILL, on the
/// schedule of `kill_due`; a failed attempt is retried a second later.
async fn kill_the_child(soak: Arc<Soak>, gateway_pid: u32, start: Instant) {
    const KIND: &str = "kill -9 of the stdio child";
    let mut control: Option<Session> = None;
    for n in 1.. {
        tokio::time::sleep_until(kill_due(start, n).into()).await;
        let when = if n % 2 == 1 { "50 ms after a reload" } else { "between reloads" };
        loop {
            match kill_once(&soak, &mut control, gateway_pid).await {
                Ok(pid) => {
                    soak.tally.add(KIND, format!("killed, {when}"));
                    soak.record(Event::Kill(pid, when));
                    break;
                }
                Err(e) => {
                    soak.tally.add(KIND, format!("failed, retried in 1 s: {e}"));
                    control = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// One kill: `kid_pid` on the control session, and SIGKILL to that pid if it is the gateway's child.
async fn kill_once(soak: &Soak, control: &mut Option<Session>, gateway_pid: u32) -> Result<u32, String> {
    let session = match control {
        Some(session) => {
            // The gateway closed the connection idle since the last kill (header_timeout).
            session.sender = http_over(connect_from(LEGIT_FROM, soak.gateway).await?).await?;
            session
        }
        None => control.insert(open_session(soak.gateway, LEGIT_FROM, "2025-06-18").await?),
    };
    let answer = session.call(soak.gateway, "kid_pid", json!({})).await?;
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_default();
    let pid: u32 = text.parse().map_err(|_| format!("kid_pid answered {answer}"))?;
    // Only a child of this gateway is killed, whatever the answer said.
    if parent_of(pid) != Some(gateway_pid) {
        return Err(format!("pid {pid} is not the gateway's child"));
    }
    let killed = Command::new("kill").args(["-9", &pid.to_string()]).status().is_ok_and(|s| s.success());
    if killed { Ok(pid) } else { Err(format!("kill -9 {pid} failed")) }
}

/// Every 5 s from `start`, rewrites the config with the stdio upstream's timeout changed, so the
/// reload replaces that upstream make-before-break.
async fn reload(soak: Arc<Soak>, config: Config, start: Instant) {
    for n in 1.. {
        tokio::time::sleep_until((start + RELOAD_EVERY * n).into()).await;
        let timeout = TIMEOUTS[n as usize % 2];
        config.write(timeout);
        soak.record(Event::Reload(timeout));
        soak.tally.add("reload (config rewritten)", "written");
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway process, seen from /proc.

/// One look at the gateway: resident memory, open descriptors, child processes.
struct Usage {
    rss_kb: u64,
    hwm_kb: u64,
    fds: usize,
    children: usize,
}

impl Usage {
    fn of(pid: u32) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        Usage {
            rss_kb: kb(&status, "VmRSS:"),
            hwm_kb: kb(&status, "VmHWM:"),
            fds: fds(pid),
            children: children_of(pid),
        }
    }
}

/// The peaks seen while the soak ran.
#[derive(Default)]
struct Peaks {
    rss_kb: u64,
    fds: usize,
    children: usize,
    samples: usize,
}

/// Samples memory and descriptors every 100 ms (children every second, walking /proc costs more).
async fn sample(soak: Arc<Soak>, pid: u32) -> Peaks {
    let mut peaks = Peaks::default();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    while !soak.stopping() {
        tick.tick().await;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        peaks.rss_kb = peaks.rss_kb.max(kb(&status, "VmRSS:"));
        peaks.fds = peaks.fds.max(fds(pid));
        if peaks.samples.is_multiple_of(10) {
            peaks.children = peaks.children.max(children_of(pid));
        }
        peaks.samples += 1;
    }
    peaks
}

fn kb(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |entries| entries.count())
}

/// The descriptors `pid` holds, by kind: TCP connections by direction, peer and state, pipes, others.
fn descriptors_by_kind(pid: u32, listening_port: u16) -> BTreeMap<String, usize> {
    // /proc/net/tcp: "sl local rem st … inode", addresses as little-endian hex "0100007F:1F90".
    let address = |hex: &str| {
        let (ip, port) = hex.split_once(':')?;
        let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes());
        Some((ip, u16::from_str_radix(port, 16).ok()?))
    };
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let mut sockets = std::collections::HashMap::new();
    for fields in tcp.lines().skip(1).map(|l| l.split_whitespace().collect::<Vec<_>>()) {
        let (Some(local), Some(remote), Some(state), Some(inode)) = (
            fields.get(1).and_then(|a| address(a)),
            fields.get(2).and_then(|a| address(a)),
            fields.get(3),
            fields.get(9),
        ) else {
            continue;
        };
        let state = match *state {
            "01" => "established",
            "08" => "close-wait",
            "0A" => "listening",
            other => other,
        };
        let kind = if state == "listening" {
            format!("TCP listening on {}:{}", local.0, local.1)
        } else if local.1 == listening_port {
            format!("TCP {state}, a client at {}", remote.0)
        } else {
            format!("TCP {state}, to {}:{}", remote.0, remote.1)
        };
        sockets.insert(format!("socket:[{inode}]"), kind);
    }
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
        let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
        let kind = match sockets.get(&target) {
            Some(socket) => socket.clone(),
            None if target.starts_with("socket:") => "socket, not TCP over IPv4".into(),
            None if target.starts_with("pipe:") => "pipe".into(),
            None => "other (files, eventfd, epoll, …)".into(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

fn parent_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|v| v.trim().parse().ok())
}

/// The processes whose parent is `pid` (the stdio upstreams' children, live or not yet reaped).
fn children_of(pid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| parent_of(*child) == Some(pid))
        .count()
}

// ---------------------------------------------------------------------------------------------
// The report.

#[allow(clippy::too_many_arguments)]
fn report(
    soak: &Soak,
    calls: &Legit,
    elapsed: Duration,
    before: &Usage,
    peaks: &Peaks,
    after: &Usage,
    readyz: &Value,
    log: &LogSummary,
) {
    let made = calls.kid.len() + calls.web.len() + calls.failures.len();
    println!();
    println!("| legitimate clients ({LEGIT_CLIENTS}, streamable HTTP 2025-06-18, from 127.0.0.1) | |");
    println!("|---|---|");
    println!("| calls made | {made} ({:.0}/s) |", made as f64 / elapsed.as_secs_f64());
    println!("| failures (goal 0) | {} |", calls.failures.len());
    for (upstream, samples) in [("kid_echo (stdio)", &calls.kid), ("web_echo (HTTP)", &calls.web)] {
        println!("| {upstream}: answered, p50 / p99 / max ms | {} |", percentiles(samples));
    }
    let all: Vec<u64> = calls.kid.iter().chain(&calls.web).copied().collect();
    println!("| all: p50 / p99 / max ms | {} |", percentiles(&all));
    for (kind, n) in calls.by_kind() {
        println!("| failures: {kind} | {n} |");
    }
    print_failures_by_kill(soak, calls);

    println!();
    println!("| hostile operation | attempts | answered |");
    println!("|---|---|---|");
    for (kind, outcomes) in soak.tally.0.lock().unwrap().iter() {
        let attempts: u64 = outcomes.values().sum();
        let answered: Vec<String> = outcomes.iter().map(|(outcome, n)| format!("{outcome}: {n}")).collect();
        println!("| {kind} | {attempts} | {} |", answered.join("; "));
    }

    let events = soak.events.lock().unwrap();
    let kills = events.iter().filter(|(_, e)| e.is_kill()).count();
    println!();
    println!("| gateway | |");
    println!("|---|---|");
    println!(
        "| RSS before / peak / at the end (3 s after) | {:.1} / {:.1} / {:.1} MB |",
        mb(before.rss_kb),
        mb(peaks.rss_kb),
        mb(after.rss_kb)
    );
    println!("| VmHWM at the end | {:.1} MB |", mb(after.hwm_kb));
    println!("| open fds before / peak / at the end | {} / {} / {} |", before.fds, peaks.fds, after.fds);
    println!(
        "| child processes before / peak / at the end | {} / {} / {} |",
        before.children, peaks.children, after.children
    );
    println!("| samples (every {} ms) | {} |", SAMPLE_EVERY.as_millis(), peaks.samples);
    println!("| kills done / reloads done | {kills} / {} |", events.len() - kills);
    let last_reload = &readyz["last_reload"];
    println!(
        "| generation at the end; last reload | {}; {} {} |",
        readyz["generation"], last_reload["result"], last_reload["diagnostics"]
    );
    for (name, upstream) in readyz["upstreams"].as_object().into_iter().flatten() {
        println!(
            "| upstream {name} at the end | {} (failures {}, tools {}) |",
            upstream["state"], upstream["failures"], upstream["tools"]
        );
    }
    drop(events);

    println!();
    println!("gateway log, warnings and errors by message:");
    for ((level, message), n) in &log.counts {
        println!("  {n:>6} × {level} {message}");
    }

    if !calls.kept.is_empty() {
        // The first few, and the first few of those no kill explains.
        let kills = soak.kill_times();
        let away: Vec<&Failure> =
            calls.kept.iter().filter(|f| near_kill(&kills, f.sent + f.took).is_none()).take(SHOWN_FAILURES).collect();
        let mut shown: Vec<Failure> = calls.kept.iter().take(SHOWN_FAILURES).chain(away).cloned().collect();
        shown.sort_by_key(|f| (f.sent, f.client));
        shown.dedup_by_key(|f| (f.sent, f.client));
        println!();
        println!(
            "{} legitimate failures: the first ones, and those not within 2 s after a kill (t: when the call was sent; since the start):",
            shown.len()
        );
        for f in &shown {
            println!(
                "  t={:.3} s, failed after {:.3} s, client {}, {} ({}): {}",
                f.sent.as_secs_f64(),
                f.took.as_secs_f64(),
                f.client,
                f.tool,
                soak.context(f.sent),
                shorten(&f.what, 500)
            );
        }
        print_timeline(soak, &shown, log);
    }
}

/// The kill (by index) within 2 s before `failed`, if any.
fn near_kill(kills: &[Duration], failed: Duration) -> Option<usize> {
    kills.iter().rposition(|t| *t <= failed).filter(|&k| failed - kills[k] < Duration::from_secs(2))
}

/// Each legitimate failure set against the kill before it: a failure within 2 s of a kill is
/// counted on that kill's row (as sent before or after it), any other on the last row.
fn print_failures_by_kill(soak: &Soak, calls: &Legit) {
    #[derive(Default, Clone)]
    struct Row<'a> {
        sent_before: usize,
        sent_after: usize,
        /// How long after the kill the last of those sent after it was sent.
        latest_after: Duration,
        kinds: BTreeMap<&'a str, usize>,
    }
    if calls.failures.is_empty() {
        return;
    }
    let events = soak.events.lock().unwrap();
    let kills: Vec<(Duration, String)> =
        events.iter().filter(|(_, e)| e.is_kill()).map(|(t, e)| (*t, e.detail())).collect();
    let times: Vec<Duration> = kills.iter().map(|(t, _)| *t).collect();
    let mut rows = vec![Row::default(); kills.len() + 1];
    for (sent, failed, kind) in &calls.failures {
        let near = near_kill(&times, *failed);
        let row = &mut rows[near.unwrap_or(kills.len())];
        if near.is_some_and(|k| *sent < kills[k].0) {
            row.sent_before += 1;
        } else {
            row.sent_after += 1;
            if let Some(k) = near {
                row.latest_after = row.latest_after.max(sent.saturating_sub(kills[k].0));
            }
        }
        *row.kinds.entry(kind).or_default() += 1;
    }
    println!();
    println!("| legitimate failures by kill | at | failures (sent before / after the kill) | by kind |");
    println!("|---|---|---|---|");
    for (i, row) in rows.iter().enumerate() {
        let (name, at) = match kills.get(i) {
            Some((t, detail)) => (format!("kill {} ({detail})", i + 1), format!("{:.3} s", t.as_secs_f64())),
            None => ("not within 2 s after a kill".to_string(), "-".to_string()),
        };
        let kinds: Vec<String> = row.kinds.iter().map(|(kind, n)| format!("{kind}: {n}")).collect();
        let latest = match (i < kills.len(), row.sent_after) {
            (true, 1..) => format!(", the last {} ms after it", row.latest_after.as_millis()),
            _ => String::new(),
        };
        println!(
            "| {name} | {at} | {} ({} / {}{latest}) | {} |",
            row.sent_before + row.sent_after,
            row.sent_before,
            row.sent_after,
            kinds.join("; ")
        );
    }
}

/// The kills, reloads and the gateway's upstream and reload log lines from 2 s before each group
/// of failures to 0.5 s after it.
fn print_timeline(soak: &Soak, failures: &[Failure], log: &LogSummary) {
    let mut windows: Vec<(Duration, Duration)> = Vec::new();
    for f in failures {
        let (from, to) = (f.sent.saturating_sub(Duration::from_secs(2)), f.sent + f.took + Duration::from_millis(500));
        match windows.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => windows.push((from, to)),
        }
    }
    let events = soak.events.lock().unwrap();
    for (from, to) in windows {
        println!();
        println!("timeline {:.3} s to {:.3} s:", from.as_secs_f64(), to.as_secs_f64());
        let mut lines: Vec<(Duration, String)> = events
            .iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .map(|(t, e)| (*t, format!("SOAK {} ({})", e.name(), e.detail())))
            .collect();
        lines.extend(log.timeline.iter().filter(|(t, _)| (from..=to).contains(t)).cloned());
        lines.extend(
            failures
                .iter()
                .filter(|f| (from..=to).contains(&f.sent))
                .map(|f| (f.sent, format!("CALL SENT, fails: client {} {}", f.client, f.tool))),
        );
        lines.sort_by_key(|(t, _)| *t);
        for (t, line) in lines {
            println!("  {:>8.3} {line}", t.as_secs_f64());
        }
    }
}

/// "0.412 / 3.1 / 25.0" milliseconds.
fn percentiles(samples: &[u64]) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)] as f64 / 1e6;
    format!("{} calls: {:.3} / {:.3} / {:.3}", sorted.len(), at(0.50), at(0.99), at(1.0))
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn short(e: &dyn std::fmt::Display) -> String {
    shorten(&e.to_string(), 80)
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
