//! `mcpgw call` for a first-time user: it starts only the upstream that owns the tool, suggests
//! the nearest name for an unknown one, says why a pinned tool is withheld, and its `--dry-run`
//! output is exactly the request, one line per line.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::util::{fixture_bin, gateway_bin, stdio_fixture};

/// Runs `mcpgw call` with `args` on `yaml`, written as gateway.yaml in `dir`.
fn call(dir: &Path, yaml: &str, args: &[&str]) -> Output {
    let file = dir.join("gateway.yaml");
    std::fs::write(&file, yaml).unwrap();
    Command::new(gateway_bin()).arg("call").args(args).arg("-c").arg(&file).output().unwrap()
}

#[test]
fn call_starts_only_the_upstream_that_owns_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("b-started");
    // `b` leaves a mark the moment it is started, then serves as the fixture does.
    let yaml = format!(
        "upstreams:\n  a: {}\n  b:\n    stdio: {{ command: sh, args: [-c, 'touch \"{}\"; exec \"{}\" --name b'] }}\n",
        stdio_fixture("a"),
        started.display(),
        fixture_bin()
    );
    let out = call(dir.path(), &yaml, &["a_whoami"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["content"][0]["text"], "a");
    assert!(!started.exists(), "b does not own a_whoami, so it was never started");

    let out = call(dir.path(), &yaml, &["b_whoami"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.exists(), "b owns b_whoami");
}

#[test]
fn an_unknown_tool_gets_the_nearest_name() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("upstreams:\n  a: {}\n", stdio_fixture("a"));
    let out = call(dir.path(), &yaml, &["a_whoamii"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: virtual server \"default\" has no tool named \"a_whoamii\"\n  help: did you mean \"a_whoami\"?\n"
    );
    // A prefix that no upstream has: every upstream is asked, to find the nearest name.
    let out = call(dir.path(), &yaml, &["aa_whoami"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("help: did you mean \"a_whoami\"?"));
}

#[test]
fn a_tool_withheld_by_its_pin_is_called_withheld_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let pin = format!("sha256:{}", "0".repeat(64));
    let yaml = format!(
        "upstreams:\n  a:\n    stdio: {{ command: '{}', args: [--name, a] }}\n    tools:\n      shape:\n        \
         echo: {{ pin: '{pin}', on_change: block }}\n",
        fixture_bin()
    );
    let out = call(dir.path(), &yaml, &["a_echo", "--args", r#"{"text": "x"}"#]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(
            "error: \"a_echo\" is withheld: upstream \"a\" changed the tool's definition since it was pinned, \
             and its shape says `on_change: block`\n"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("has no tool named"), "{stderr}");
    assert!(stderr.contains(&format!("pinned {pin}, now sha256:")), "{stderr}");
    assert!(stderr.contains("help: review the change with `mcpgw check --live`, then accept it with `mcpgw pin`"));
}

#[test]
fn dry_run_prints_each_line_once_with_one_final_newline() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "upstreams:\n  api:\n    rest:\n      base_url: https://api.example.com\n      tools:\n        \
                note:\n          method: POST\n          path: /notes\n          body:\n            raw: |\n              \
                {{ text }}\n          input_schema: { type: object, properties: { text: { type: string } } }\n";
    let out = call(dir.path(), yaml, &["api_note", "--args", r#"{"text": "hi"}"#, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "POST https://api.example.com/notes\ncontent-type: text/plain; charset=utf-8\n\nhi\n"
    );
}

/// Stopping a stateless stdio upstream ends its `subscriptions/listen`, whose late answer is
/// normal: `mcpgw call` prints no warning about it (nor about any answer to a request it sent).
#[test]
fn a_call_to_a_stateless_stdio_upstream_warns_about_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("upstreams:\n  c: {{ stdio: {{ command: '{}', args: [--conformance] }} }}\n", fixture_bin());
    let out = call(dir.path(), &yaml, &["c_test_simple_text"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("WARN"), "{stderr}");
}
