//! `TestApi`: a plain REST API on loopback for the REST-tool tests. It answers what it saw
//! (`/echo/...`), fails on demand (`/status/N`, `/flaky/KEY/N`), stalls (`/slow/MS`), sends
//! large or non-JSON bodies, and counts every request it receives.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};

pub struct TestApi {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    seen: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct State {
    seen: Arc<Mutex<Vec<Value>>>,
    attempts: Mutex<HashMap<String, u32>>,
}

impl TestApi {
    pub async fn start() -> TestApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let seen = state.seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestApi { base, seen, task }
    }

    /// Every request received so far, as `/echo` describes it.
    pub fn requests(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.requests().iter().filter(|r| r["path"].as_str().unwrap_or("").starts_with(prefix)).count()
    }
}

fn reply(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder().status(status).header("content-type", content_type).body(Full::new(body.into())).unwrap()
}

async fn answer(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), Value::String(v.to_str().unwrap_or("").to_string())))
        .collect();
    let path = parts.uri.path().to_string();
    let seen = json!({
        "method": parts.method.as_str(),
        "path": path,
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    state.seen.lock().unwrap().push(seen.clone());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Ok(match segments.as_slice() {
        ["echo", ..] => reply(200, "application/json", seen.to_string()),
        ["weather"] => reply(
            200,
            "application/json; charset=utf-8",
            json!({ "current_weather": { "temperature": 21.5, "windspeed": 3.0 }, "elevation": 34 }).to_string(),
        ),
        ["list"] => reply(200, "application/json", json!({ "items": [{"name": "a"}, {"name": "b"}] }).to_string()),
        ["status", code] => {
            let code: u16 = code.parse().unwrap_or(500);
            reply(code, "text/plain", format!("failure {code}: {}", "details ".repeat(200)))
        }
        ["flaky", key, failures] => {
            let failures: u32 = failures.parse().unwrap_or(1);
            let n = {
                let mut attempts = state.attempts.lock().unwrap();
                let n = attempts.entry(key.to_string()).or_default();
                *n += 1;
                *n
            };
            if n <= failures {
                reply(503, "text/plain", "try again")
            } else {
                reply(200, "application/json", json!({ "attempts": n }).to_string())
            }
        }
        ["slow", ms] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(1000))).await;
            reply(200, "application/json", "{}")
        }
        ["big", bytes] => reply(200, "text/plain", "x".repeat(bytes.parse().unwrap_or(0))),
        ["text"] => reply(200, "text/plain", "plain words"),
        ["away"] => Response::builder()
            .status(302)
            .header("location", "http://192.0.2.1/elsewhere")
            .body(Full::new(Bytes::new()))
            .unwrap(),
        _ => reply(404, "text/plain", "no such endpoint"),
    })
}
