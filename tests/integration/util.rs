//! Builders for integration tests: `TestUpstream` (the fixture server over HTTP),
//! `TestGateway` (the real binary on a temp config) and `Client` (a small streamable HTTP client
//! with raw access to its POSTs and streams; `clients::TestClient` is the one for every transport).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn gateway_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mcpgw")
}

pub fn fixture_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mcpgw-fixture")
}

/// YAML for a stdio upstream running the fixture under `name`.
pub fn stdio_fixture(name: &str) -> String {
    format!("{{ stdio: {{ command: '{}', args: [--name, {name}] }} }}", fixture_bin())
}

/// Polls `f` until it returns `Some`, or panics with `what` after `DEADLINE`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > DEADLINE {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A child process killed when the test ends.
pub struct Process {
    pub child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixture MCP server over streamable HTTP on a free loopback port.
pub struct TestUpstream {
    pub url: String,
    pub process: Process,
}

impl TestUpstream {
    pub fn http(name: &str, extra: &[&str]) -> TestUpstream {
        Self::http_at(name, "127.0.0.1:0", extra)
    }

    pub fn http_at(name: &str, addr: &str, extra: &[&str]) -> TestUpstream {
        let mut child = Command::new(fixture_bin())
            .args(["--http", addr, "--name", name])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the fixture server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("fixture prints its address").to_string();
        TestUpstream { url, process: Process { child } }
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").trim_end_matches("/mcp").to_string()
    }
}

/// The real gateway binary, serving a config written to a temp directory.
pub struct TestGateway {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub process: Process,
    pub log: Arc<Mutex<Vec<String>>>,
    /// The extra environment it was started with (a stdio client's `mcpgw stdio` gets it too).
    pub env: Vec<(String, String)>,
}

impl TestGateway {
    /// Starts on `yaml` and waits until `/readyz` says every upstream had its first attempt.
    pub async fn start(yaml: &str) -> TestGateway {
        Self::start_named("gateway.yaml", yaml).await
    }

    pub async fn start_named(file: &str, text: &str) -> TestGateway {
        Self::launch(file, text, "127.0.0.1:0", &[]).await
    }

    /// Starts with extra environment variables (secrets the config reads as `${VAR}`).
    pub async fn start_with_env(text: &str, env: &[(&str, &str)]) -> TestGateway {
        Self::launch("gateway.yaml", text, "127.0.0.1:0", env).await
    }

    /// Starts with other files next to the config (documents it refers to), as (name, content).
    pub async fn start_with_files(text: &str, files: &[(&str, &str)]) -> TestGateway {
        Self::start_full(text, files, &[], "127.0.0.1:0").await
    }

    /// Starts with files next to the config, extra environment, and a listen address.
    pub async fn start_full(text: &str, files: &[(&str, &str)], env: &[(&str, &str)], listen: &str) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        Self::launch_in(dir, "gateway.yaml", text, listen, env).await
    }

    /// Starts on a given address (to stand in for a gateway that restarted).
    pub async fn start_at(text: &str, listen: &str) -> TestGateway {
        Self::launch("gateway.yaml", text, listen, &[]).await
    }

    async fn launch(file: &str, text: &str, listen: &str, env: &[(&str, &str)]) -> TestGateway {
        Self::launch_in(tempfile::tempdir().unwrap(), file, text, listen, env).await
    }

    async fn launch_in(
        dir: tempfile::TempDir,
        file: &str,
        text: &str,
        listen: &str,
        env: &[(&str, &str)],
    ) -> TestGateway {
        let config = dir.path().join(file);
        std::fs::write(&config, text).unwrap();
        let config_arg = config.to_str().unwrap().to_string();
        Self::spawn(&["serve", "--listen", listen, "--log-format", "json", "-c", &config_arg], dir, config, env).await
    }

    /// `mcpgw bridge` with these arguments, serving HTTP on a free port.
    pub async fn bridge(args: &[&str]) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let mut all = vec!["bridge", "--listen", "127.0.0.1:0", "--log-format", "json"];
        all.extend_from_slice(args);
        let config = dir.path().join("none");
        Self::spawn(&all, dir, config, &[]).await
    }

    async fn spawn(args: &[&str], dir: tempfile::TempDir, config: PathBuf, env: &[(&str, &str)]) -> TestGateway {
        let mut child = Command::new(gateway_bin())
            .args(args)
            .envs(env.iter().copied())
            .env("MCPGW_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mcpgw");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"].as_str().is_some_and(|m| m.starts_with("mcpgw listening"))
                {
                    let scheme = if v["tls"] == true { "https" } else { "http" };
                    let _ = tx.send(format!("{scheme}://{}", v["address"].as_str().unwrap_or_default()));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let base = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("mcpgw did not start; log:\n{}", log.lock().unwrap().join("\n")));
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let gw = TestGateway { base, dir, config, process: Process { child }, log, env };
        gw.wait_ready().await;
        gw
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn readyz(&self) -> (u16, Value) {
        // A TLS listener's certificate is the test's own: readiness does not judge it.
        let client = reqwest::Client::builder().tls_danger_accept_invalid_certs(true).build().unwrap();
        let r = client.get(self.url("/readyz")).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn wait_ready(&self) {
        eventually("/readyz to answer 200", || async { (self.readyz().await.0 == 200).then_some(()) }).await;
    }

    /// Waits until upstream `name` reports `state`.
    pub async fn wait_upstream(&self, name: &str, state: &str) {
        eventually(&format!("upstream {name} to be {state}"), || async {
            (self.readyz().await.1["upstreams"][name]["state"] == state).then_some(())
        })
        .await;
    }

    /// Rewrites the config file (as an editor's atomic save would) and waits for `generation`.
    pub async fn rewrite(&self, text: &str) {
        let tmp = self.dir.path().join(".gateway.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    /// Waits until the live generation is at least `generation`.
    pub async fn wait_generation(&self, generation: u64) {
        eventually(&format!("generation {generation}"), || async {
            (self.readyz().await.1["generation"].as_u64() >= Some(generation)).then_some(())
        })
        .await;
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let pid = self.process.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(start.elapsed() < DEADLINE, "mcpgw did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The JSON-RPC messages of a whole event-stream body, skipping events without one (the id-only
/// priming event a resumable stream opens with).
pub fn sse_messages(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {d}")))
        .collect()
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// A minimal streamable HTTP MCP client.
pub struct Client {
    pub endpoint: String,
    pub session: Option<String>,
    http: reqwest::Client,
    next_id: u64,
}

impl Client {
    pub async fn connect(endpoint: String) -> Client {
        Self::connect_with(endpoint, json!({})).await
    }

    /// Connects declaring these client capabilities (`{"sampling": {}}`, …).
    pub async fn connect_with(endpoint: String, capabilities: Value) -> Client {
        let mut c = Client::unconnected(endpoint);
        let r = c
            .post(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":capabilities,"clientInfo":{"name":"test","version":"0"}}}))
            .await;
        assert_eq!(r.status(), 200, "initialize failed");
        c.session = Some(r.headers()["mcp-session-id"].to_str().unwrap().to_string());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
        let r = c.post(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
        assert_eq!(r.status(), 202);
        c
    }

    /// Another client on the same session (to send while this one waits on a call).
    pub fn sibling(&self) -> Client {
        let mut c = Client::unconnected(self.endpoint.clone());
        c.session = self.session.clone();
        c
    }

    pub fn unconnected(endpoint: String) -> Client {
        Client { endpoint, session: None, http: reqwest::Client::new(), next_id: 1 }
    }

    pub async fn post(&self, body: Value) -> reqwest::Response {
        let mut r = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
        }
        r.body(body.to_string()).send().await.unwrap()
    }

    /// Opens this session's GET event stream (list changes, resource updates).
    pub async fn get_stream(&self) -> reqwest::Response {
        let r = self
            .http
            .get(&self.endpoint)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", self.session.clone().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        r
    }

    /// Resumes an event stream of this session from after the event `last_event_id`.
    pub async fn resume(&self, last_event_id: &str) -> reqwest::Response {
        self.http
            .get(&self.endpoint)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", self.session.clone().unwrap())
            .header("mcp-protocol-version", "2025-11-25")
            .header("last-event-id", last_event_id)
            .send()
            .await
            .unwrap()
    }

    /// Sends a request and returns the whole JSON-RPC response.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let r = self.post(json!({"jsonrpc":"2.0","id":self.next_id,"method":method,"params":params})).await;
        assert_eq!(r.status(), 200, "{method} answered HTTP {}", r.status());
        let streamed = r.headers().get("content-type").is_some_and(|t| t == "text/event-stream");
        let text = tokio::time::timeout(DEADLINE, r.text()).await.expect("the answer ended").unwrap();
        // A client that could be asked something gets its answer as a stream, which ends with it.
        let v: Value = match streamed {
            true => sse_messages(&text).into_iter().find(|m| m.get("method").is_none()).expect("an answer"),
            false => serde_json::from_str(&text).unwrap(),
        };
        assert_eq!(v["id"], self.next_id, "response id matches request id");
        v
    }

    /// Names from every page of a `*/list`.
    pub async fn list(&mut self, method: &str, field: &str, key: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let r = self.request(method, params).await;
            let result = &r["result"];
            assert!(result.is_object(), "{method} failed: {r}");
            names.extend(result[field].as_array().unwrap().iter().map(|t| t[key].as_str().unwrap().to_string()));
            match result["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return names,
            }
        }
    }

    pub async fn tools(&mut self) -> Vec<String> {
        self.list("tools/list", "tools", "name").await
    }

    /// Calls a tool; returns the response (result or error).
    pub async fn call(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// Calls a tool and returns the text of its first content block.
    pub async fn call_text(&mut self, name: &str, arguments: Value) -> String {
        let r = self.call(name, arguments).await;
        r["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{name} failed: {r}")).to_string()
    }
}

pub fn path_exists(p: &str) -> bool {
    Path::new(p).exists()
}

/// Runs `mcpgw ARGS` as a stdio server: writes each of `lines`, closes its input, and returns
/// every line it printed (each must be JSON) and its exit code.
pub fn stdio_exchange(args: &[&str], lines: &[String]) -> (Vec<Value>, Option<i32>) {
    let mut child = Command::new(gateway_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mcpgw");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every stdout line is JSON"))
        .collect();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(start.elapsed() < DEADLINE, "mcpgw did not exit after its input closed");
        std::thread::sleep(Duration::from_millis(20));
    };
    (out, code)
}

/// Clients calling an echo tool in a loop, each with its own text, until stopped.
pub struct EchoLoad {
    stop: Arc<std::sync::atomic::AtomicBool>,
    callers: Vec<tokio::task::JoinHandle<(u32, Vec<Value>)>>,
}

impl EchoLoad {
    /// `n` siblings of `c` calling `tool` (which must answer its `text` argument).
    pub fn start(c: &Client, tool: &str, n: usize) -> EchoLoad {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let callers = (0..n)
            .map(|i| {
                let (mut c, stop, tool) = (c.sibling(), stop.clone(), tool.to_string());
                tokio::spawn(async move {
                    let (mut answered, mut failed) = (0u32, Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let r = c.call(&tool, json!({"text": format!("{i}")})).await;
                        match r["result"]["content"][0]["text"].as_str() {
                            Some(text) if text == format!("{i}") => answered += 1,
                            _ => failed.push(r),
                        }
                    }
                    (answered, failed)
                })
            })
            .collect();
        EchoLoad { stop, callers }
    }

    /// Stops the callers; returns how many calls were answered right and every other answer.
    pub async fn stop(self) -> (u32, Vec<Value>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (mut answered, mut failed) = (0, Vec::new());
        for caller in self.callers {
            let (n, f) = caller.await.unwrap();
            answered += n;
            failed.extend(f);
        }
        (answered, failed)
    }
}
