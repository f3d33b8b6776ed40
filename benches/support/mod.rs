//! What both benchmarks need: the fixture upstream started on loopback, a child process killed
//! when it goes out of scope, and their `main`: the `--seconds` argument and the runtime.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

/// A child process killed when dropped.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The fixture MCP server over streamable HTTP on a free loopback port, and its URL.
pub(crate) fn start_fixture(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpgw-fixture"))
        .args(["--http", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Killed(child), line.trim().trim_start_matches("listening on ").to_string())
}

/// Runs `bench` for the duration `--seconds` gives (else `default_seconds`) on two worker
/// threads, the cores the figures are quoted for.
pub(crate) fn run_for<F: std::future::Future<Output = ()>>(default_seconds: u64, bench: impl FnOnce(Duration) -> F) {
    let seconds = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(bench(Duration::from_secs(seconds)));
}

/// The address mcpgw (started with `--log-format json`) says it listens on, read from its log.
pub(crate) fn listening_address(log: &mut Lines<BufReader<ChildStderr>>) -> String {
    loop {
        let line = log.next().expect("mcpgw exited").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(a) = v["address"].as_str() {
            return a.to_string();
        }
    }
}
