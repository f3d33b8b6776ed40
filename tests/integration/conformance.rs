//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, server scenarios,
//! the `active` suite), run directly against the fixture's conformance personality and through
//! mcpgw fronting it unprefixed, so a failure says whether the fixture or the gateway is at fault.
//! `.ci/run` installs the suite and Node 22 into $MCPGW_TEST_TOOLS/conformance.

use std::path::PathBuf;
use std::process::Command;

use super::util::{TestGateway, TestUpstream, fixture_bin};

/// Node 22 and the suite's entry point, or `None` (after saying so) when not installed.
/// Under CI a missing install is a failure.
fn suite() -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::var_os("MCPGW_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mcpgw-test"))
        .join("conformance");
    let node = dir.join("node_modules/.bin/node");
    let entry = dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    if node.exists() && entry.exists() {
        return Some((node, entry));
    }
    let message = format!(
        "the conformance tests need `npm install --prefix {} @modelcontextprotocol/conformance@0.1.16 node@22.23.3` \
         (bash .ci/run does it)",
        dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// Runs the active server suite against `url`; returns the number of passed checks, failing the
/// test with the suite's report when any check failed.
async fn run_suite(node: PathBuf, entry: PathBuf, url: String) -> u32 {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node).arg(entry).args(["server", "--url", &url]).output().expect("run the conformance suite")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let total = report
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Total: "))
        .unwrap_or_else(|| panic!("no total in:\n{report}"));
    let (passed, failed) = total.split_once(" passed, ").unwrap_or_else(|| panic!("unreadable total {total:?}"));
    let failed: u32 = failed.trim_end_matches(" failed").parse().unwrap();
    let summary = report.split("=== SUMMARY ===").last().unwrap_or(&report).to_string();
    assert!(out.status.success() && failed == 0, "conformance failures:\n{summary}");
    passed.parse().unwrap()
}

#[tokio::test]
async fn the_conformance_suite_passes_against_the_fixture_and_through_mcpgw() {
    let Some((node, entry)) = suite() else { return };

    // Directly against the fixture.
    let fixture = TestUpstream::http("conformance", &["--conformance"]);
    let direct = run_suite(node.clone(), entry.clone(), fixture.url.replace("127.0.0.1", "localhost")).await;
    drop(fixture);

    // Through mcpgw, unprefixed, one upstream session per client (the suite's sampling and
    // elicitation scenarios need their requests routed to the right client).
    let yaml = format!(
        "upstreams:\n  conformance:\n    stdio: {{ command: '{}', args: [--conformance] }}\n    prefix: ''\n    sessions: per_client\n",
        fixture_bin()
    );
    let gw = TestGateway::start(&yaml).await;
    let through = run_suite(node, entry, gw.url("/mcp").replace("127.0.0.1", "localhost")).await;
    assert!(through >= 39, "only {through} checks ran through the gateway");
    assert!(direct >= through, "the direct run ({direct}) checks at least what the gateway run ({through}) does");
}
