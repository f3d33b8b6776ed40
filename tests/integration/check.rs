//! `mcpgw check` and `mcpgw schema` as users see them: exact output for every broken fixture
//! (snapshots), clean checks for every valid fixture and example, and a schema that is never stale.
//! Set UPDATE_SNAPSHOTS=1 to rewrite the snapshots, then review the diff like code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::util::gateway_bin;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary from the repository root with a clean environment, so output is reproducible.
fn mcpgw(args: &[&str]) -> Output {
    Command::new(gateway_bin())
        .args(args)
        .current_dir(repo())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn files(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)))
        .collect();
    out.sort();
    out
}

fn relative(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap().display().to_string()
}

#[test]
fn check_output_for_every_invalid_fixture_matches_its_snapshot() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut mismatches = Vec::new();
    let cases = files("tests/fixtures/invalid", &["yaml", "toml", "tml"]);
    assert!(cases.len() >= 8, "the invalid fixtures are missing");
    for case in cases {
        let out = mcpgw(&["check", &relative(&case)]);
        assert_eq!(out.status.code(), Some(1), "{} must be rejected", case.display());
        let stderr = String::from_utf8(out.stderr).unwrap();
        let snap = case.with_extension(format!("{}.snap", case.extension().unwrap().to_str().unwrap()));
        if update {
            std::fs::write(&snap, &stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&snap).unwrap_or_default();
        if expected != stderr {
            mismatches.push(format!("--- {}\n{expected}+++ actual\n{stderr}", relative(&snap)));
        }
    }
    assert!(mismatches.is_empty(), "snapshots differ (UPDATE_SNAPSHOTS=1 rewrites them):\n{}", mismatches.join("\n"));
}

#[test]
fn every_valid_fixture_and_example_checks_clean() {
    let mut cases = files("tests/fixtures/valid", &["yaml", "toml"]);
    for dir in std::fs::read_dir(repo().join("examples")).unwrap() {
        let config = dir.unwrap().path().join("gateway.yaml");
        if config.exists() {
            cases.push(config);
        }
    }
    cases.push(repo().join("gateway.yaml"));
    assert!(cases.len() >= 5);
    for case in cases {
        let out = mcpgw(&["check", "--deny-warnings", &relative(&case)]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} should be valid:\n{}",
            case.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn check_exit_codes_and_json_format() {
    let out = mcpgw(&["check", "--format", "json", "tests/fixtures/invalid/types.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let diagnostics: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diagnostics[0]["severity"], "error");
    assert_eq!(diagnostics[0]["file"], "tests/fixtures/invalid/types.yaml");
    assert_eq!(diagnostics[0]["line"], 5);
    assert_eq!(diagnostics[0]["path"], "upstreams.time.stdio.args");

    assert_eq!(mcpgw(&["check", "tests/fixtures/valid/minimal.yaml"]).status.code(), Some(0));
    assert_eq!(mcpgw(&["check", "no/such/file.yaml"]).status.code(), Some(1));
    assert_eq!(mcpgw(&["check", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(mcpgw(&["frobnicate"]).status.code(), Some(2));
    let help = mcpgw(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8(help.stdout).unwrap();
    for command in ["serve", "check", "schema"] {
        assert!(help.contains(command), "--help lists {command}");
    }
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.yaml");
    std::fs::write(
        &config,
        "upstreams:\n  a: { url: 'http://a/mcp', prefix: '' }\n  b: { url: 'http://b/mcp', prefix: '' }\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let out = mcpgw(&["check", path]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning:"));
    assert_eq!(mcpgw(&["check", "--deny-warnings", path]).status.code(), Some(1));
}

#[test]
fn the_config_reference_matches_the_config_types() {
    let out = mcpgw(&["schema", "--markdown"]);
    assert_eq!(out.status.code(), Some(0));
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = repo().join("docs/config.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/config.md is stale: run `cargo run -- schema --markdown > docs/config.md`");
}

#[test]
fn committed_schema_matches_the_config_types() {
    let out = mcpgw(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = repo().join("schema/gateway.schema.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/gateway.schema.json is stale: run `cargo run -- schema > schema/gateway.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(schema["additionalProperties"], false, "unknown top-level keys are rejected by editors too");
    assert!(schema["properties"]["upstreams"].is_object());
}

#[test]
fn the_sample_config_names_the_schema_for_editors() {
    let sample = std::fs::read_to_string(repo().join("gateway.yaml")).unwrap();
    assert!(sample.starts_with("# yaml-language-server: $schema=schema/gateway.schema.json"));
}

/// REST tools are known without connecting: a virtual server naming one that the API (after
/// prefix, rename and filters) does not publish gets a warning with the nearest name.
#[test]
fn a_virtual_server_naming_a_rest_tool_nobody_publishes_is_a_warning_with_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.yaml");
    std::fs::write(
        &config,
        "upstreams:\n  inv:\n    rest:\n      base_url: https://inventory.example.com/api\n      tools:\n        \
         list_items: { path: /items }\n        get_item: { path: '/items/{id}' }\n    \
         tools: { rename: { get_item: item } }\nvirtual_servers:\n  default: { tools: ['*'] }\n  \
         ops: { tools: [inv_list_items, inv_list_itemz, inv_get_item, inv_item] }\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let out = mcpgw(&["check", "--deny-warnings", path]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let expected = format!(
        "warning: {path}:11:34: virtual_servers.ops.tools[1]: no upstream provides \"inv_list_itemz\"\n  \
         help: did you mean \"inv_list_items\"? upstream \"inv\" publishes inv_list_items, inv_item\n\
         warning: {path}:11:50: virtual_servers.ops.tools[2]: no upstream provides \"inv_get_item\"\n  \
         help: did you mean \"inv_item\"? upstream \"inv\" renames \"get_item\" to it\n\
         {path}: 0 errors, 2 warnings; valid\n"
    );
    assert_eq!(stderr, expected);
}

/// `--live` knows every connected upstream's names: a misspelt MCP tool is a warning too.
#[test]
fn check_live_warns_of_a_virtual_server_naming_a_tool_its_upstream_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("g.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams:\n  f: {}\nvirtual_servers:\n  default: {{ tools: ['*'] }}\n  ops: {{ tools: [f_echo, f_ech] }}\n",
            super::util::stdio_fixture("f")
        ),
    )
    .unwrap();
    let path = config.to_str().unwrap();
    assert_eq!(mcpgw(&["check", "--deny-warnings", path]).status.code(), Some(0), "MCP names are unknown offline");
    let out = mcpgw(&["check", "--live", "--deny-warnings", path]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {path}:5:26: virtual_servers.ops.tools[1]: no upstream provides \"f_ech\"\n  help: did you mean \"f_echo\"?"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
}
