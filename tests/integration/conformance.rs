//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, server scenarios,
//! the `active` suite), run directly against the fixture's conformance personality and through
//! mcpgw fronting it unprefixed, so a failure says whether the fixture or the gateway is at fault.
//! The 0.2 line of the suite then checks both protocol eras through mcpgw against the
//! requirement sets of 2025-11-25 and 2026-07-28 (stateless), with the fixture's dual-era HTTP
//! personality behind it: mcpgw speaks 2026-07-28 to it, so session-based clients exercise the
//! translation of `input_required` results into requests, and stateless clients the pass-through.
//! `.ci/run` installs the suites and Node 22 into $MCPGW_TEST_TOOLS/conformance{,-next}.

use std::path::PathBuf;
use std::process::Command;

use super::util::{TestGateway, TestUpstream, fixture_bin};

/// The 0.1 suite (session-based versions, `active` suite).
const SUITE: (&str, &str) = ("conformance", "@modelcontextprotocol/conformance@0.1.16");
/// The 0.2 suite, which knows the requirement sets of each revision, 2026-07-28 included.
const NEXT: (&str, &str) = ("conformance-next", "@modelcontextprotocol/conformance@0.2.0-alpha.12");

/// Node 22 and the suite's entry point, or `None` (after saying so) when not installed.
/// Under CI a missing install is a failure.
fn suite((folder, package): (&str, &str)) -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::var_os("MCPGW_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mcpgw-test"))
        .join(folder);
    let node = dir.join("node_modules/.bin/node");
    let entry = dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    if node.exists() && entry.exists() {
        return Some((node, entry));
    }
    let message = format!("needs the npm packages {package} and node@22.23.3 in {}", dir.display());
    super::peers::skip(&message);
    None
}

/// Runs the server suite against `url` with `extra` arguments; returns the number of passed
/// checks, failing the test with the suite's report when the run failed.
async fn run_suite(node: PathBuf, entry: PathBuf, url: String, extra: &[&str]) -> u32 {
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg(entry)
            .args(["server", "--url", &url])
            .args(&extra)
            .output()
            .expect("run the conformance suite")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let total = report
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Total: "))
        .unwrap_or_else(|| panic!("no total in:\n{report}"));
    let (passed, _) = total.split_once(" passed, ").unwrap_or_else(|| panic!("unreadable total {total:?}"));
    let summary = report.split("=== SUMMARY ===").last().unwrap_or(&report).to_string();
    // The exit status is the verdict: every check the run scores passed.
    assert!(out.status.success(), "conformance failures:\n{summary}");
    passed.parse().unwrap()
}

#[tokio::test]
async fn the_conformance_suite_passes_against_the_fixture_and_through_mcpgw() {
    let Some((node, entry)) = suite(SUITE) else { return };

    // Directly against the fixture.
    let fixture = TestUpstream::http("conformance", &["--conformance"]);
    let direct = run_suite(node.clone(), entry.clone(), fixture.url.replace("127.0.0.1", "localhost"), &[]).await;
    drop(fixture);

    // Through mcpgw, unprefixed, with the default settings: the suite's sampling and elicitation
    // scenarios need the stdio upstream's requests routed to the client whose call caused them.
    let gw = TestGateway::start(&stdio_conformance("")).await;
    let through = run_suite(node, entry, gw.url("/mcp").replace("127.0.0.1", "localhost"), &[]).await;
    assert!(through >= 39, "only {through} checks ran through the gateway");
    assert!(direct >= through, "the direct run ({direct}) checks at least what the gateway run ({through}) does");
}

#[tokio::test]
async fn the_requirements_of_both_protocol_eras_pass_through_mcpgw() {
    let Some((node, entry)) = suite(NEXT) else { return };
    // One upstream process over streamable HTTP: its list changes (which the suite triggers and
    // then awaits on a `subscriptions/listen` stream) reach the gateway's shared session.
    let fixture = TestUpstream::http("conformance", &["--conformance"]);
    let gw =
        TestGateway::start(&format!("upstreams:\n  conformance:\n    url: {}\n    prefix: ''\n", fixture.url)).await;
    let url = gw.url("/mcp").replace("127.0.0.1", "localhost");
    let (_, ready) = gw.readyz().await;
    assert_eq!(
        ready["upstreams"]["conformance"]["protocol_version"], "2026-07-28",
        "the upstream is spoken to statelessly"
    );
    let legacy = run_suite(node.clone(), entry.clone(), url.clone(), &["--requirements", "2025-11-25"]).await;
    assert!(legacy >= 80, "only {legacy} checks of 2025-11-25 passed");
    let stateless = run_suite(node.clone(), entry.clone(), url, &["--requirements", "2026-07-28"]).await;
    // 195 with the tasks extension's checks, which the suite runs but does not score.
    assert!(stateless >= 195, "only {stateless} checks of 2026-07-28 passed");

    // The 2025-11-25 requirements again, through a session-based stdio upstream with the default
    // settings: its sampling and elicitation requests reach the client whose call caused them.
    let gw = TestGateway::start(&stdio_conformance("")).await;
    let url = gw.url("/mcp").replace("127.0.0.1", "localhost");
    let over_stdio = run_suite(node, entry, url, &["--requirements", "2025-11-25"]).await;
    assert!(over_stdio >= 80, "only {over_stdio} checks of 2025-11-25 passed through a stdio upstream");
}

/// The fixture's conformance personality as a session-based stdio upstream (`era: session`: it
/// would answer `server/discover` too, and a stateless upstream asks through `input_required`,
/// which reaches the right client whatever `sessions` says), unprefixed, with `settings` (YAML
/// lines under the upstream) and every other setting at its default.
fn stdio_conformance(settings: &str) -> String {
    let command = format!("{{ command: '{}', args: [--conformance] }}", fixture_bin());
    format!("upstreams:\n  conformance:\n    stdio: {command}\n    prefix: ''\n    era: session\n{settings}")
}
