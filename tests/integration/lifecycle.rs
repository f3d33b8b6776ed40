//! Upstreams coming and going: a dead upstream degrades only its own items, comes back by
//! itself, list changes reach clients, and no child process outlives the gateway.

use serde_json::json;

use super::clients::{TestClient, Transport};
use super::util::{Client, EchoLoad, TestGateway, TestUpstream, eventually, process_alive, stdio_fixture};

#[tokio::test]
async fn crashed_stdio_upstream_takes_only_its_tools_away_and_comes_back() {
    let yaml = format!("upstreams:\n  a: {}\n  b: {}\n", stdio_fixture("a"), stdio_fixture("b"));
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let first_pid = c.call_text("a_pid", json!({})).await;

    let crashed = c.call("a_crash", json!({})).await;
    assert!(crashed["error"].is_object(), "a call that kills its upstream gets an error: {crashed}");
    assert_eq!(c.call_text("b_whoami", json!({})).await, "b", "the other upstream keeps serving");

    // The supervisor restarts the child; its tools return under the same names.
    let tools = eventually("a's tools to return", || {
        let endpoint = gw.url("/mcp");
        async move {
            let mut c = Client::connect(endpoint).await;
            let tools = c.tools().await;
            tools.contains(&"a_whoami".to_string()).then_some(tools)
        }
    })
    .await;
    assert!(tools.contains(&"b_whoami".to_string()));
    let second_pid = c.call_text("a_pid", json!({})).await;
    assert_ne!(first_pid, second_pid, "a new child process serves after the restart");
}

#[tokio::test]
async fn http_upstream_down_at_start_is_reported_and_joins_when_it_comes_up() {
    // Reserve a port, then free it so nothing listens there yet.
    let placeholder = TestUpstream::http("late", &[]);
    let addr = placeholder.addr();
    drop(placeholder);
    let yaml = format!("upstreams:\n  late: {{ url: 'http://{addr}/mcp' }}\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    let (code, ready) = gw.readyz().await;
    assert_eq!(code, 200, "the gateway is ready with an upstream down");
    assert_eq!(ready["upstreams"]["late"]["state"], "down");
    let mut c = Client::connect(gw.url("/mcp")).await;
    let tools = c.tools().await;
    assert!(tools.iter().all(|t| !t.starts_with("late_")) && tools.contains(&"a_echo".to_string()));

    let _late = TestUpstream::http_at("late", &addr, &[]);
    gw.wait_upstream("late", "up").await;
    // Its items join the catalog right after (clients hear `list_changed` then).
    let c = std::sync::Arc::new(tokio::sync::Mutex::new(c));
    eventually("late's tools to be listed", || async {
        c.lock().await.tools().await.contains(&"late_whoami".to_string()).then_some(())
    })
    .await;
    assert_eq!(c.lock().await.call_text("late_whoami", json!({})).await, "late");
}

#[tokio::test]
async fn a_dead_upstream_answers_retryable_errors_then_its_tools_are_withdrawn_after_the_grace() {
    let remote = TestUpstream::http("remote", &[]);
    let yaml = format!("upstreams:\n  remote: {{ url: '{}', timeout: 5s, reconnect: {{ grace: 3s }} }}\n", remote.url);
    let gw = TestGateway::start(&yaml).await;
    let c = TestClient::connect(&gw, Transport::StreamableHttp, "default").await;
    assert_eq!(c.call_text("remote_whoami", json!({})).await, "remote");
    drop(remote);
    let r = c.call("remote_whoami", json!({})).await;
    assert_eq!(r["error"]["code"], -32010, "upstream unavailable: {r}");
    assert_eq!(r["error"]["data"], json!({"upstream": "remote", "retryable": true}), "it never reached it: {r}");
    gw.wait_upstream("remote", "down").await;
    let down_at = std::time::Instant::now();
    let r = c.call("remote_whoami", json!({})).await;
    assert_eq!(r["error"]["data"]["retryable"], true, "{r}");
    let tools = c.tools().await;
    assert!(tools.contains(&"remote_whoami".to_string()), "listed through the grace period: {tools:?}");

    // After the grace, the tools are withdrawn and the session hears it.
    c.next_notification("notifications/tools/list_changed").await;
    assert!(
        down_at.elapsed() >= std::time::Duration::from_secs(2),
        "not before the grace ended: {:?}",
        down_at.elapsed()
    );
    let tools = c.tools().await;
    assert!(tools.is_empty(), "a down upstream's tools are withdrawn after the grace: {tools:?}");
}

/// A child killed under load restarts behind its tools: they stay listed, calls made while it
/// restarts wait for it, and only a call in flight at the kill fails, as lost (not retryable).
#[tokio::test]
async fn a_killed_child_keeps_its_tools_listed_and_calls_wait_for_its_restart() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let yaml = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let load = EchoLoad::start(&c, "a_echo", 8);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let lister = {
        let (mut c, stop) = (c.sibling(), stop.clone());
        tokio::spawn(async move {
            let mut short = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let tools = c.tools().await;
                if !tools.contains(&"a_echo".to_string()) {
                    short.push(tools);
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            short
        })
    };
    for _ in 0..2 {
        let pid = c.call_text("a_pid", json!({})).await;
        let killed = std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(killed.success());
        // Asked while the child is dead or restarting: answered by the next one. (A request
        // written to the pipe just before the kill landed counts as in flight, and lost.)
        let mut asked = 0;
        let next = loop {
            let r = c.call("a_pid", json!({})).await;
            match r["result"]["content"][0]["text"].as_str() {
                Some(next) => break next.to_string(),
                None if asked == 0 && r["error"]["data"]["retryable"] == false => asked += 1,
                None => panic!("a call after the kill fails only if it was in flight at the kill: {r}"),
            }
        };
        assert_ne!(next, pid, "a new child answers");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let short = lister.await.unwrap();
    assert!(short.is_empty(), "the tools stayed listed through both restarts: {short:?}");
    let (answered, failed) = load.stop().await;
    for e in &failed {
        assert_eq!(e["error"]["code"], -32010, "only calls in flight at a kill fail: {e}");
        assert_eq!(e["error"]["data"]["retryable"], false, "and they are told they may have run: {e}");
    }
    assert!(failed.len() <= 16, "at most the calls in flight at the two kills were lost: {}", failed.len());
    assert!(answered > 0);
    assert!(!gw.log_text().contains("unknown tool"), "no call met an unknown tool");
}

/// On every binding with a session stream (streamable HTTP's GET stream, SSE, WebSocket frames, stdio lines).
#[tokio::test]
async fn list_changed_from_an_upstream_reaches_clients_on_the_get_stream() {
    let yaml = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    for transport in Transport::WITH_SESSIONS {
        // Each transport adds its own tool: a stdio client's upstream is its own process.
        let fresh = format!("fresh_{}", transport.name());
        let c = TestClient::connect(&gw, transport, "default").await;
        assert_eq!(c.call_text("a_add_tool", json!({"name": fresh})).await, "added");
        c.next_notification("notifications/tools/list_changed").await;
        assert!(c.tools().await.contains(&format!("a_{fresh}")), "{transport}");
        assert_eq!(c.call_text(&format!("a_{fresh}"), json!({})).await, fresh);
    }
}

#[tokio::test]
async fn stdio_children_exit_with_the_gateway_on_sigterm() {
    // `p` gives each client session its own child, started on the serving thread of the call.
    let yaml = format!(
        "upstreams:\n  a: {}\n  b: {}\n  p: {{ stdio: {{ command: '{}', args: [--name, p] }}, sessions: per_client }}\n",
        stdio_fixture("a"),
        stdio_fixture("b"),
        super::util::fixture_bin()
    );
    let mut gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let pids: Vec<u32> = vec![
        c.call_text("a_pid", json!({})).await.parse().unwrap(),
        c.call_text("b_pid", json!({})).await.parse().unwrap(),
        c.call_text("p_pid", json!({})).await.parse().unwrap(),
    ];
    assert!(pids.iter().all(|p| process_alive(*p)));
    assert_eq!(gw.terminate(), Some(0), "mcpgw exits cleanly on SIGTERM");
    for pid in pids {
        eventually(&format!("child {pid} to be gone"), || async move { (!process_alive(pid)).then_some(()) }).await;
    }
    assert!(gw.log_text().contains("child process exited"));
}

#[tokio::test]
async fn expired_upstream_session_is_initialized_again_without_the_client_noticing() {
    let remote = TestUpstream::http("remote", &[]);
    let gw = TestGateway::start(&format!("upstreams:\n  remote: {{ url: '{}' }}\n", remote.url)).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("remote_forget_sessions", json!({})).await, "forgotten");
    assert_eq!(c.call_text("remote_whoami", json!({})).await, "remote");
    eventually("the log to say the session expired", || async {
        gw.log_text().contains("upstream session expired").then_some(())
    })
    .await;
}

/// `/readyz` counts what each upstream contributes to the catalogs (after its filters and the
/// virtual servers'), and says when the last reload happened in RFC 3339.
#[tokio::test]
async fn readyz_counts_published_items_and_dates_the_last_reload() {
    let yaml = format!(
        "upstreams:\n  a:\n    stdio: {{ command: '{}', args: [--name, a] }}\n    tools: {{ include: [echo, add, pid], exclude: [pid] }}\n  \
         b: {}\nvirtual_servers:\n  default: {{ tools: [a_echo, 'b_*'] }}\n  ops: {{ tools: [a_add] }}\n",
        super::util::fixture_bin(),
        stdio_fixture("b")
    );
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let b_tools = c.tools().await.iter().filter(|t| t.starts_with("b_")).count();
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["a"]["tools"], 2, "echo in default, add in ops: {ready}");
    assert_eq!(ready["upstreams"]["b"]["tools"], b_tools, "{ready}");
    assert_eq!(ready["upstreams"]["b"]["prompts"], 0, "no virtual server lists prompts: {ready}");
    let at = ready["last_reload"]["at"].as_str().unwrap_or_else(|| panic!("not a string: {ready}"));
    let shape: String = at.chars().map(|c| if c.is_ascii_digit() { 'd' } else { c }).collect();
    assert_eq!(shape, "dddd-dd-ddTdd:dd:ddZ", "{at}");
}

#[test]
fn the_fixture_explains_its_options() {
    let help = std::process::Command::new(super::util::fixture_bin()).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(text.starts_with("usage: mcpgw-fixture") && text.contains("--http ADDR"), "{text}");
    let wrong = std::process::Command::new(super::util::fixture_bin()).arg("--htp").output().unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8(wrong.stderr).unwrap().starts_with("error: unknown argument --htp"));
}

/// A stdio child that exits at start is explained where people look, `/readyz` and `check
/// --live`: its exit status and the last lines of its stderr, not just "not connected".
#[tokio::test]
async fn a_child_that_exits_at_start_is_explained_by_its_status_and_stderr() {
    let yaml = "upstreams:\n  notes: { stdio: { command: sh, args: ['-c', 'echo first >&2; echo cannot open file notes.py >&2; exit 2'] } }\n";
    let gw = TestGateway::start(yaml).await;
    let (_, ready) = gw.readyz().await;
    let error = ready["upstreams"]["notes"]["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("exited (exit status: 2)"), "{ready}");
    assert!(error.contains("first | cannot open file notes.py"), "{ready}");
    eventually("three failed starts", || async {
        (gw.readyz().await.1["upstreams"]["notes"]["failures"].as_u64() >= Some(3)).then_some(())
    })
    .await;
    let warned = gw.log_text().lines().filter(|l| l.contains("upstream unavailable")).count();
    assert_eq!(warned, 1, "one warning for one cause, however many retries:\n{}", gw.log_text());

    let out = std::process::Command::new(super::util::gateway_bin())
        .args(["check", "--live"])
        .arg(&gw.config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open file notes.py"), "{stderr}");
}

/// An upstream that accepts connections and never answers holds readiness for its timeout once
/// (the discovery probe and `initialize` share it), not once per handshake step.
#[tokio::test]
async fn an_upstream_that_hangs_at_start_holds_readiness_for_its_timeout_once() {
    // Connections complete in the kernel's backlog; nothing ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let yaml = format!(
        "upstreams:\n  hung: {{ url: 'http://{}/mcp', timeout: 4s }}\n  a: {}\n",
        silent.local_addr().unwrap(),
        stdio_fixture("a")
    );
    let started = std::time::Instant::now();
    let gw = TestGateway::start(&yaml).await;
    let waited = started.elapsed();
    // Two steps of 4 s each took 8 s before; one limit for both takes 4 s.
    assert!(waited < std::time::Duration::from_secs(7), "ready after {waited:?}");
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["upstreams"]["hung"]["state"], "down", "{ready}");
    assert!(ready["upstreams"]["hung"]["error"].as_str().unwrap_or_default().contains("4s"), "{ready}");
    drop(silent);
}

/// A child slow to start (as `npx` is when it first downloads a package) answers the discovery
/// probe after the gateway stopped waiting: that late answer is expected, and no warning.
#[tokio::test]
async fn a_child_slow_to_start_connects_without_a_warning() {
    let yaml = format!(
        "upstreams:\n  slow: {{ stdio: {{ command: sh, args: ['-c', 'sleep 3; exec \"$0\" --name slow', '{}'] }} }}\n",
        super::util::fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_upstream("slow", "up").await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.call_text("slow_whoami", json!({})).await, "slow");
    let log = gw.log_text();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("\"WARN\"")).collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// A call in flight when its stdio child dies may have run. It is sent once more to the next
/// child when running it twice is harmless: here `sleep` is idempotent by the file's shape (`p`
/// gives each client its own child). Another tool's call, or any call with `resend_lost: never`,
/// is answered -32010, not retryable.
#[tokio::test]
async fn a_call_lost_with_its_child_is_sent_again_only_when_running_it_twice_is_harmless() {
    let fixture = super::util::fixture_bin();
    let idempotent = "tools: { shape: { sleep: { annotations: { idempotentHint: true } } } }";
    let yaml = format!(
        "upstreams:\n  a: {{ stdio: {{ command: '{fixture}', args: [--name, a] }}, {idempotent} }}\n  \
         b: {{ stdio: {{ command: '{fixture}', args: [--name, b] }} }}\n  \
         c: {{ stdio: {{ command: '{fixture}', args: [--name, c] }}, {idempotent}, reconnect: {{ resend_lost: never }} }}\n  \
         p: {{ stdio: {{ command: '{fixture}', args: [--name, p] }}, {idempotent}, sessions: per_client }}\n"
    );
    let gw = TestGateway::start(&yaml).await;
    let c = Client::connect(gw.url("/mcp")).await;
    for (upstream, resent) in [("a", true), ("b", false), ("c", false), ("p", true)] {
        let pid = c.sibling().call_text(&format!("{upstream}_pid"), json!({})).await;
        let mut caller = c.sibling();
        let tool = format!("{upstream}_sleep");
        let call = tokio::spawn(async move { caller.call(&tool, json!({"ms": 1500})).await });
        eventually("the call to be running upstream", || {
            let mut c = c.sibling();
            let tool = format!("{upstream}_sleeping");
            async move { (c.call_text(&tool, json!({})).await == "1").then_some(()) }
        })
        .await;
        assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
        let answer = call.await.unwrap();
        if resent {
            assert_eq!(answer["result"]["content"][0]["text"], "slept", "{upstream}: the next child ran it: {answer}");
        } else {
            assert_eq!(answer["error"]["code"], -32010, "{upstream}: {answer}");
            assert_eq!(answer["error"]["data"]["retryable"], false, "{upstream}: it may have run: {answer}");
        }
    }
    // A stateless client's call is sent again too (its round starts over with it).
    let pid = c.sibling().call_text("a_pid", json!({})).await;
    let stateless = TestClient::connect(&gw, Transport::Stateless, "default").await;
    let call = tokio::spawn(async move { stateless.call("a_sleep", json!({"ms": 1500})).await });
    eventually("the stateless call to be running upstream", || {
        let mut c = c.sibling();
        async move { (c.call_text("a_sleeping", json!({})).await == "1").then_some(()) }
    })
    .await;
    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    let answer = call.await.unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "slept", "stateless: the next child ran it: {answer}");
    assert!(gw.log_text().contains("sending it once more"), "the resend is logged");
}
