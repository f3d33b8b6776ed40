//! The container images' files: each baked config checks clean once its key's hash is set, names
//! the variable when it is not, and serves only callers holding the key; the Dockerfile builds
//! both images from files that exist. (Building the images needs a Docker daemon, which the test
//! machines do not have; `docker build .` and `docker build --target stdio .` are the manual check.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::util::{TestGateway, gateway_bin};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const KEY: &str = "mcpgw_container_test_key_0123456789";

/// The `hash:` of `KEY`, as `mcpgw auth hash-key --stdin` prints it.
fn key_hash() -> String {
    let mut child = Command::new(gateway_bin())
        .args(["auth", "hash-key", "--subject", "t", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(KEY.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().find_map(|l| l.strip_prefix("- hash: ")).unwrap().to_string()
}

fn check(config: &Path, hash: Option<&str>) -> std::process::Output {
    let mut command = Command::new(gateway_bin());
    command.args(["check", "--deny-warnings"]).arg(config);
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Some(hash) = hash {
        command.env("MCPGW_API_KEY_HASH", hash);
    }
    command.output().unwrap()
}

#[test]
fn the_baked_configs_check_clean_with_a_key_hash_and_name_the_variable_without() {
    let hash = key_hash();
    for name in ["default.yaml", "stdio.yaml"] {
        let config = repo().join("examples/container").join(name);
        let out = check(&config, Some(&hash));
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let out = check(&config, None);
        assert_eq!(out.status.code(), Some(1), "{name} needs its key's hash");
        assert!(String::from_utf8_lossy(&out.stderr).contains("MCPGW_API_KEY_HASH is not set"), "{name}");
    }
}

#[tokio::test]
async fn the_default_image_config_serves_only_callers_holding_the_key() {
    let text = std::fs::read_to_string(repo().join("examples/container/default.yaml")).unwrap();
    let hash = key_hash();
    let gw = TestGateway::start_with_env(&text, &[("MCPGW_API_KEY_HASH", &hash)]).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let http = reqwest::Client::new();
    let refused = http.post(gw.url("/rpc")).json(&list).send().await.unwrap();
    assert_eq!(refused.status(), 401, "no key, no tools");
    let answered = http.post(gw.url("/rpc")).bearer_auth(KEY).json(&list).send().await.unwrap();
    assert_eq!(answered.status(), 200);
    let tools: Value = answered.json().await.unwrap();
    assert_eq!(tools["result"]["tools"][0]["name"], "weather_forecast", "{tools}");
}

/// Every file a `COPY` reads exists in the repository; the stages are the build, the stdio image
/// and, last (what `docker build .` makes), the default image; each bakes its own config.
#[test]
fn the_dockerfile_builds_both_images_from_files_that_exist() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let stages: Vec<&str> =
        dockerfile.lines().filter(|l| l.starts_with("FROM ")).filter_map(|l| l.split(" AS ").nth(1)).collect();
    assert_eq!(stages, ["build", "stdio", "default"], "{dockerfile}");
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(repo().join(source).exists(), "{line}: {source} is not in the repository");
        }
    }
    let stage =
        |name: &str| dockerfile.split(&format!(" AS {name}\n")).nth(1).unwrap().split("\nFROM ").next().unwrap();
    assert!(stage("default").contains("COPY examples/container/default.yaml /etc/mcpgw/gateway.yaml"));
    assert!(stage("stdio").contains("COPY examples/container/stdio.yaml /etc/mcpgw/gateway.yaml"));
    assert!(stage("stdio").contains("/usr/local/bin/"), "the stdio image puts uv and uvx on the PATH");
}
