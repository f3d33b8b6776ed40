//! The gateway benchmark (not a test): starts the fixture upstream and mcpgw on loopback and
//! reports, for `tools/call` at concurrency 1, 16 and 64, requests/s and p50/p99 latency through
//! the gateway and directly against the same upstream; the gateway's CPU time per call; its
//! memory idle, under load and per session; start-to-ready and reload times.
//!
//! Run: `cargo bench --bench gateway` (optionally `-- --seconds 5 --only instant:1,1ms:64`).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Killed, start_fixture};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const CONCURRENCY: [usize; 3] = [1, 16, 64];

fn main() {
    support::run_for(3, run);
}

async fn run(duration: Duration) {
    let (instant, instant_url) = start_fixture(&["--name", "instant"]);
    let (slow, slow_url) = start_fixture(&["--name", "slow", "--delay-ms", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    let yaml = format!(
        "serving: {{ max_sessions: 100000 }}\nupstreams:\n  instant: {{ url: '{instant_url}' }}\n  slow: {{ url: '{slow_url}' }}\n"
    );
    std::fs::write(&config, &yaml).unwrap();

    // Two gateways on the same upstreams: one worker thread (the sidecar setting) and the default (one per core).
    let one = Gateway::start(&config, Some(1));
    let default = Gateway::start(&config, None);
    // A third with JWT authentication and two access rules on: what knowing the caller costs.
    let secured_config = dir.path().join("secured.yaml");
    std::fs::write(
        &secured_config,
        format!(
            "{yaml}auth:\n  jwt:\n    issuers: [{{ issuer: bench, audiences: [mcpgw-bench], secret: '${{BENCH_SECRET}}' }}]\n\
             access:\n  - allow: {{ groups: [bench], tools: ['*_echo'] }}\n  - deny: {{ tools: ['*_delete'] }}\n"
        ),
    )
    .unwrap();
    let secured = Gateway::start(&secured_config, None);
    let token = format!("Bearer {}", bench_token());
    // nginx, when installed, proxies the same upstreams: the reference for a proxy's own cost.
    let nginx = Nginx::start(dir.path(), &instant_url, &slow_url);
    for gw in [&one, &default, &secured] {
        while http_get(&gw.address, "/readyz").await != 200 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let ready = default.started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_rss = rss_kb(default.pid);

    println!("mcpgw benchmark: tools/call, {}s per cell, {} cores", duration.as_secs(), num_cpus());
    println!(
        "start: listening after {:.1} ms, ready (upstreams connected) after {:.1} ms",
        ms(default.listening),
        ms(ready)
    );
    println!("idle RSS: {:.1} MB", idle_rss as f64 / 1024.0);
    let before = rss_kb(default.pid);
    let sessions = 10_000;
    for _ in 0..sessions {
        session(&format!("http://{}/mcp", default.address), None).await;
    }
    let after = rss_kb(default.pid);
    println!(
        "memory per client session: {:.2} KB ({sessions} sessions)",
        (after.saturating_sub(before)) as f64 / sessions as f64
    );

    println!();
    println!(
        "| upstream | conc | path | req/s | vs direct | p50 ms | p99 ms | added p50 ms | gateway CPU µs/call (user + kernel) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut peak_rss = idle_rss;
    for (label, upstream, url) in [("instant", "instant", &instant_url), ("1 ms", "slow", &slow_url)] {
        let tool = format!("{upstream}_echo");
        for c in CONCURRENCY {
            if !selected(label, c) {
                continue;
            }
            let direct = load(url, "echo", c, duration, None).await;
            println!("| {label} | {c} | direct | {:.0} | | {:.3} | {:.3} | | |", direct.rps, direct.p50, direct.p99);
            if let Some(nginx) = &nginx {
                let cpu_before = CpuTicks::of(nginx.pid);
                let proxied = load(&nginx.url(upstream, url), "echo", c, duration, None).await;
                let cpu = CpuTicks::of(nginx.pid).per_call_since(&cpu_before, proxied.count);
                println!(
                    "| {label} | {c} | nginx (reference) | {:.0} | {:.0}% | {:.3} | {:.3} | {:+.3} | {cpu} |",
                    proxied.rps,
                    100.0 * proxied.rps / direct.rps,
                    proxied.p50,
                    proxied.p99,
                    proxied.p50 - direct.p50
                );
            }
            let paths = [
                ("mcpgw, 1 thread", &one, None),
                ("mcpgw, default threads", &default, None),
                ("mcpgw, JWT + 2 rules", &secured, Some(token.as_str())),
            ];
            for (name, gw, authorization) in paths {
                let cpu_before = CpuTicks::of(gw.pid);
                let through = load(&format!("http://{}/mcp", gw.address), &tool, c, duration, authorization).await;
                let cpu = CpuTicks::of(gw.pid).per_call_since(&cpu_before, through.count);
                peak_rss = peak_rss.max(rss_kb(gw.pid));
                println!(
                    "| {label} | {c} | {name} | {:.0} | {:.0}% | {:.3} | {:.3} | {:+.3} | {cpu} |",
                    through.rps,
                    100.0 * through.rps / direct.rps,
                    through.p50,
                    through.p99,
                    through.p50 - direct.p50
                );
            }
        }
    }
    println!();
    println!("RSS under load (peak seen): {:.1} MB", peak_rss as f64 / 1024.0);

    let (address, gw_pid) = (default.address.clone(), default.pid);
    let reload_started = Instant::now();
    std::fs::write(&config, format!("{yaml}virtual_servers:\n  default: {{ tools: ['*'] }}\n")).unwrap();
    Command::new("kill").args(["-HUP", &gw_pid.to_string()]).status().unwrap();
    loop {
        let body = http_get_body(&address, "/readyz").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["generation"].as_u64() >= Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    println!("reload (SIGHUP to new generation serving): {:.2} ms", ms(reload_started.elapsed()));
    drop((instant, slow, one, default, secured, nginx));
}

/// nginx as a plain reverse proxy in front of the fixtures, one process (`master_process off`),
/// keep-alive to the upstreams, no buffering: the cost of proxying bytes without understanding MCP.
struct Nginx {
    address: String,
    pid: u32,
    _process: Killed,
}

impl Nginx {
    fn start(dir: &std::path::Path, instant_url: &str, slow_url: &str) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let d = dir.display();
        let location = |name: &str| {
            format!(
                "location /{name}/ {{ proxy_pass http://{name}/; proxy_http_version 1.1; \
                 proxy_set_header Connection \"\"; proxy_set_header Host $host; proxy_buffering off; }}\n"
            )
        };
        let config = format!(
            "daemon off; master_process off; error_log {d}/nginx-error.log; pid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; keepalive_requests 100000000; client_body_temp_path {d}; proxy_temp_path {d};\n\
             fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             upstream instant {{ server {}; keepalive 128; keepalive_requests 100000000; }}\n\
             upstream slow {{ server {}; keepalive 128; keepalive_requests 100000000; }}\n\
             server {{ listen 127.0.0.1:{port};\n{}{} }} }}\n",
            host(instant_url),
            host(slow_url),
            location("instant"),
            location("slow"),
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, config).ok()?;
        let child = Command::new(binary).arg("-c").arg(&file).stderr(Stdio::null()).spawn().ok()?;
        let address = format!("127.0.0.1:{port}");
        for _ in 0..200 {
            if std::net::TcpStream::connect(&address).is_ok() {
                return Some(Nginx { address, pid: child.id(), _process: Killed(child) });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("nginx did not start; see {d}/nginx-error.log");
        None
    }

    /// The nginx address that reaches `upstream_url` through the location named `upstream`.
    fn url(&self, upstream: &str, upstream_url: &str) -> String {
        format!("http://{}/{upstream}{}", self.address, path(upstream_url))
    }
}

struct Gateway {
    address: String,
    pid: u32,
    started: Instant,
    /// From spawn to the listening log line.
    listening: Duration,
    _process: Killed,
}

impl Gateway {
    fn start(config: &std::path::Path, threads: Option<usize>) -> Gateway {
        let started = Instant::now();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcpgw"));
        command.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "-c"]).arg(config);
        if let Some(n) = threads {
            command.args(["--threads", &n.to_string()]);
        }
        let mut child = command
            .env("MCPGW_LOG", "warn,mcpgw::cli=info")
            .env("BENCH_SECRET", BENCH_SECRET)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = support::listening_address(&mut lines);
        let listening = started.elapsed();
        std::thread::spawn(move || for _ in lines {});
        Gateway { address, pid: child.id(), started, listening, _process: Killed(child) }
    }
}

/// The secret the secured gateway's issuer signs with.
const BENCH_SECRET: &str = "benchmark-secret-of-at-least-32-bytes";

/// A token the secured gateway accepts, valid for an hour, in the group its rule allows.
fn bench_token() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = serde_json::json!({"iss": "bench", "aud": "mcpgw-bench", "sub": "bench", "groups": ["bench"],
        "iat": now, "exp": now + 3600});
    let key = jsonwebtoken::EncodingKey::from_secret(BENCH_SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

/// `--only instant:1,1ms:64` limits the run to those cells (for profiling one of them).
fn selected(label: &str, concurrency: usize) -> bool {
    let Some(only) = std::env::args().skip_while(|a| a != "--only").nth(1) else { return true };
    let label = label.replace(' ', "");
    only.split(',').any(|cell| cell == format!("{label}:{concurrency}"))
}

struct Outcome {
    count: usize,
    rps: f64,
    p50: f64,
    p99: f64,
}

/// `concurrency` connections, each calling `tool` back to back for `duration`.
async fn load(url: &str, tool: &str, concurrency: usize, duration: Duration, authorization: Option<&str>) -> Outcome {
    let session = session(url, authorization).await;
    let authorization = authorization.map(str::to_string);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (url, tool, session, stop) = (url.to_string(), tool.to_string(), session.clone(), stop.clone());
        let authorization = authorization.clone();
        workers.push(tokio::spawn(async move {
            let mut sender = connect(&url).await;
            let mut samples = Vec::with_capacity(100_000);
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"benchmark"}}}}}}"#
            );
            while !stop.load(Ordering::Relaxed) {
                let mut request = Request::post(path(&url))
                    .header("host", host(&url))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-session-id", &session)
                    .header("mcp-protocol-version", "2025-11-25");
                if let Some(value) = &authorization {
                    request = request.header("authorization", value);
                }
                let request = request.body(Full::new(Bytes::from(body.clone()))).unwrap();
                let t = Instant::now();
                let response = sender.send_request(request).await.expect("request");
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                assert!(bytes.windows(8).any(|w| w == b"\"result\""), "call failed: {}", String::from_utf8_lossy(&bytes));
                samples.push(t.elapsed().as_nanos() as u64);
            }
            samples
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as f64 / 1e6;
    Outcome { count: all.len(), rps: all.len() as f64 / elapsed.as_secs_f64(), p50: at(0.50), p99: at(0.99) }
}

/// Initializes an MCP session and returns its id.
async fn session(url: &str, authorization: Option<&str>) -> String {
    let mut sender = connect(url).await;
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let mut request = Request::post(path(url))
        .header("host", host(url))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let request = request.body(Full::new(Bytes::from_static(init.as_bytes()))).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let id = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = response.into_body().collect().await;
    id
}

async fn connect(url: &str) -> http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(host(url)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

async fn http_get(address: &str, path: &str) -> u16 {
    match TcpStream::connect(address).await {
        Ok(stream) => {
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
            tokio::spawn(connection);
            let request = Request::get(path).header("host", address).body(Full::new(Bytes::new())).unwrap();
            sender.send_request(request).await.map(|r| r.status().as_u16()).unwrap_or(0)
        }
        Err(_) => 0,
    }
}

async fn http_get_body(address: &str, path: &str) -> String {
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = Request::get(path).header("host", address).body(Full::new(Bytes::new())).unwrap();
    let response = sender.send_request(request).await.unwrap();
    String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).to_string()
}

fn host(url: &str) -> String {
    url.trim_start_matches("http://").split('/').next().unwrap().to_string()
}

fn path(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    rest.find('/').map_or("/".to_string(), |i| rest[i..].to_string())
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A process's CPU time so far: user and kernel, in clock ticks.
struct CpuTicks {
    user: u64,
    kernel: u64,
}

impl CpuTicks {
    fn of(pid: u32) -> CpuTicks {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        CpuTicks { user: field(11), kernel: field(12) }
    }

    /// "46.1 (12.0 + 34.1)": µs per call in all, in user space and in the kernel.
    fn per_call_since(&self, before: &CpuTicks, calls: usize) -> String {
        let us = |ticks: u64| ticks as f64 * 1e6 / ticks_per_second() / calls as f64;
        let (user, kernel) = (us(self.user - before.user), us(self.kernel - before.kernel));
        format!("{:.1} ({user:.1} + {kernel:.1})", user + kernel)
    }
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
