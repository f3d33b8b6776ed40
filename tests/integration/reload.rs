//! Hot reload: changes apply without dropping in-flight calls, unchanged upstreams keep their
//! processes, and a broken file leaves the last good config serving.

use serde_json::json;

use super::util::{Client, EchoLoad, TestGateway, eventually, fixture_bin, stdio_fixture};

#[tokio::test]
async fn reload_removes_and_adds_upstreams_while_a_call_is_in_flight() {
    let yaml = format!("upstreams:\n  a: {}\n  keep: {}\n", stdio_fixture("a"), stdio_fixture("keep"));
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let keep_pid = c.call_text("keep_pid", json!({})).await;

    let mut slow = c.sibling();
    let in_flight = tokio::spawn(async move { slow.call_text("a_sleep", json!({"ms": 1500})).await });
    // The reload comes once the call runs on the upstream.
    eventually("the call to be running upstream", || {
        let mut c = c.sibling();
        async move { (c.call_text("a_sleeping", json!({})).await == "1").then_some(()) }
    })
    .await;
    gw.rewrite(&format!("upstreams:\n  keep: {}\n  b: {}\n", stdio_fixture("keep"), stdio_fixture("b"))).await;
    gw.wait_generation(2).await;

    assert_eq!(in_flight.await.unwrap(), "slept", "the in-flight call finished on the old generation");
    let tools = eventually("b's tools", || {
        let endpoint = gw.url("/mcp");
        async move {
            let tools = Client::connect(endpoint).await.tools().await;
            tools.contains(&"b_whoami".to_string()).then_some(tools)
        }
    })
    .await;
    assert!(tools.iter().all(|t| !t.starts_with("a_")), "removed upstream's tools are gone: {tools:?}");
    assert_eq!(c.call_text("keep_pid", json!({})).await, keep_pid, "an unchanged upstream was not restarted");
    let log = gw.log_text();
    assert!(log.contains("config reloaded"), "{log}");
}

#[tokio::test]
async fn broken_reload_keeps_serving_the_last_good_config() {
    let yaml = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;

    gw.rewrite("upstreams:\n  a: { stdio: { comand: x } }\n").await;
    let status = eventually("the reload to be rejected", || async {
        let (_, ready) = gw.readyz().await;
        (ready["last_reload"]["result"] == "failed").then_some(ready)
    })
    .await;
    assert_eq!(status["generation"], 1);
    let diagnostics = status["last_reload"]["diagnostics"].to_string();
    assert!(diagnostics.contains("gateway.yaml:2:17: upstreams.a.stdio.comand: unknown key"), "{diagnostics}");
    assert!(gw.log_text().contains("config rejected"));
    assert_eq!(c.call_text("a_whoami", json!({})).await, "a", "the old table still serves");

    // Fixing the file applies it.
    gw.rewrite(&format!("upstreams:\n  a: {}\n  b: {}\n", stdio_fixture("a"), stdio_fixture("b"))).await;
    gw.wait_generation(2).await;
    gw.wait_upstream("b", "up").await;
    assert_eq!(c.call_text("b_whoami", json!({})).await, "b");
}

#[tokio::test]
async fn sighup_reloads_and_virtual_servers_follow_the_file() {
    let yaml = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    // Written in place (no rename), then announced with SIGHUP.
    std::fs::write(
        &gw.config,
        format!("upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['a_whoami'] }}\n", stdio_fixture("a")),
    )
    .unwrap();
    std::process::Command::new("kill").args(["-HUP", &gw.process.child.id().to_string()]).status().unwrap();
    gw.wait_generation(2).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    assert_eq!(c.tools().await, ["a_whoami"]);
}

/// Reading the config is not changing it: neither the gateway's own reload checks nor another
/// reader of the directory may set off more of them (they once did, a read every 150 ms forever).
/// The read count over an idle second is the measure, so that second is waited out on purpose.
#[tokio::test]
async fn reading_the_config_does_not_trigger_reloads() {
    let gw = TestGateway::start("upstreams: {}\n").await;
    let pid = gw.process.child.id();
    let reads = || {
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
        io.lines().find_map(|l| l.strip_prefix("syscr: ")).unwrap().trim().parse::<u64>().unwrap()
    };
    for _ in 0..3 {
        std::fs::read_to_string(&gw.config).unwrap();
    }
    // Whatever the reads set off settles first: the count stops moving between two looks. (A
    // gateway that goes on reading never settles, and fails here.)
    eventually("the gateway to settle after the reads", || async {
        let first = reads();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        (reads() == first).then_some(())
    })
    .await;
    let before = reads();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let idle = reads() - before;
    assert!(idle <= 2, "an idle gateway made {idle} read calls in a second");
    assert_eq!(gw.readyz().await.1["generation"], 1);
}

/// Editors and deploy tools truncate a file before writing it. A reload that sees the file empty,
/// or without its `upstreams:`, is rejected and every upstream keeps running; only a file that
/// says `upstreams: {}` stops them all.
#[tokio::test]
async fn a_truncated_file_is_rejected_and_only_an_explicit_empty_upstreams_stops_them_all() {
    let yaml = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let gw = TestGateway::start(&yaml).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let pid = c.call_text("a_pid", json!({})).await;

    let mut generation = 1;
    for broken in ["", "# nothing yet\n", "listen: 127.0.0.1:0\n", "upstreams:\n"] {
        gw.rewrite(broken).await;
        let status = eventually("the reload to be rejected", || async {
            let (_, ready) = gw.readyz().await;
            (ready["last_reload"]["result"] == "failed").then_some(ready)
        })
        .await;
        assert_eq!(status["generation"], generation, "{broken:?} was not applied: {status}");
        assert!(!status["last_reload"]["diagnostics"].as_array().unwrap().is_empty(), "{status}");
        assert_eq!(c.call_text("a_pid", json!({})).await, pid, "{broken:?}: the upstream kept running");
        // The good file again, so that the next rejection is a fresh one.
        gw.rewrite(&yaml).await;
        generation += 1;
        gw.wait_generation(generation).await;
    }
    assert_eq!(c.call_text("a_pid", json!({})).await, pid);

    gw.rewrite("upstreams: {}\n").await;
    gw.wait_generation(generation + 1).await;
    let (_, ready) = gw.readyz().await;
    assert_eq!(ready["last_reload"]["result"], "ok", "{ready}");
    assert_eq!(ready["upstreams"], json!({}), "{ready}");
    assert!(c.tools().await.is_empty());
}

/// A reload says what it changed in each virtual server's catalog, and names a listed tool that
/// no upstream provides, instead of letting it vanish with `changed=[]`.
#[tokio::test]
async fn a_reload_logs_each_virtual_server_s_catalog_changes() {
    let before = format!(
        "upstreams:\n  a: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: [a_echo, a_add] }}\n",
        stdio_fixture("a")
    );
    let gw = TestGateway::start(&before).await;
    gw.wait_upstream("a", "up").await;
    gw.rewrite(&before.replace("a_echo", "a_ech")).await;
    gw.wait_generation(2).await;
    let events =
        || -> Vec<serde_json::Value> { gw.log_text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect() };
    let changed = eventually("the reload's catalog change", || async {
        let changed: Vec<serde_json::Value> =
            events().into_iter().filter(|e| e["message"] == "catalog changed").collect();
        (!changed.is_empty()).then_some(changed)
    })
    .await;
    assert_eq!(changed.len(), 1, "only ops changed: {changed:?}");
    assert_eq!(changed[0]["virtual_server"], "ops");
    assert_eq!(changed[0]["removed"], r#"["tool a_echo"]"#);
    assert_eq!(changed[0]["added"], "[]");
    let warned = events().into_iter().any(|e| {
        let message = e["message"].as_str().unwrap_or_default();
        e["level"] == "WARN"
            && message.contains(r#"virtual_servers.ops.tools[0]: no upstream provides "a_ech""#)
            && message.contains(r#"did you mean "a_echo"?"#)
    });
    assert!(warned, "{}", gw.log_text());
    let (_, ready) = gw.readyz().await;
    let diagnostics = ready["last_reload"]["diagnostics"].to_string();
    assert!(diagnostics.contains(r#"no upstream provides \"a_ech\""#), "also under last_reload: {ready}");
}

/// A reload that changes an upstream's connection settings starts the new connection before the
/// old one stops (make before break): calls made all through a storm of such reloads succeed.
#[tokio::test]
async fn a_storm_of_reloads_changing_connection_settings_fails_no_call() {
    let config = |timeout: u64| {
        format!(
            "upstreams:\n  a: {{ stdio: {{ command: '{}', args: [--name, a] }}, timeout: {timeout}s }}\n",
            fixture_bin()
        )
    };
    let gw = TestGateway::start(&config(30)).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let first_pid = c.call_text("a_pid", json!({})).await;
    let load = EchoLoad::start(&c, "a_echo", 8);
    for generation in 2..=11 {
        gw.rewrite(&config(30 + generation)).await;
        gw.wait_generation(generation).await;
    }
    let (answered, failed) = load.stop().await;
    assert!(failed.is_empty(), "no call failed during the reloads: {failed:?}");
    assert!(answered > 0);
    assert_ne!(c.call_text("a_pid", json!({})).await, first_pid, "the new settings run in a new child");
}

/// A call that waits for a restarting child when a reload replaces the upstream (its settings
/// changed) is answered by the replacement, and the progress it asked for still reaches it.
#[tokio::test]
async fn a_call_waiting_on_a_replaced_upstream_is_answered_by_the_replacement_with_its_progress() {
    let flags = tempfile::tempdir().unwrap();
    let (slow, restarting) = (flags.path().join("slow"), flags.path().join("restarting"));
    // While `slow` exists, a new child hangs before it starts, so the old upstream stays down.
    let config = |timeout: u64| {
        format!(
            "upstreams:\n  a: {{ stdio: {{ command: sh, args: ['-c', 'if [ -f {slow} ]; then touch {restarting}; exec sleep 60; fi; exec {fixture} --name a'] }}, timeout: {timeout}s }}\n",
            slow = slow.display(),
            restarting = restarting.display(),
            fixture = fixture_bin()
        )
    };
    let gw = TestGateway::start(&config(20)).await;
    let mut c = Client::connect(gw.url("/mcp")).await;
    let pid = c.call_text("a_pid", json!({})).await;
    std::fs::write(&slow, "").unwrap();
    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    eventually("the restart to hang", || async { restarting.exists().then_some(()) }).await;

    let caller = c.sibling();
    let call = tokio::spawn(async move {
        let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
            "params":{"name": "a_progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok"}}});
        super::util::sse_messages(&caller.post(body).await.text().await.unwrap())
    });
    // Time for the call to reach the old upstream and wait there; were it later, it would go
    // to the replacement directly and the test would pass without showing anything.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    std::fs::remove_file(&slow).unwrap();
    gw.rewrite(&config(21)).await;
    gw.wait_generation(2).await;

    let messages = call.await.unwrap();
    let progress: Vec<_> = messages.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 3, "every progress notification arrived: {messages:?}");
    assert!(progress.iter().all(|m| m["params"]["progressToken"] == "tok"), "{messages:?}");
    let last = messages.last().unwrap();
    assert_eq!(last["result"]["content"][0]["text"], "progressed", "{messages:?}");
}
