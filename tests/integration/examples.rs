//! The README's client snippets are the files under `examples/clients/`, shown whole, and each
//! runs against the gateway here: a snippet that drifts from its SDK fails a test.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::util::{TestGateway, stdio_fixture};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/clients")
}

/// Every file of `examples/clients/`, by name.
fn example_files() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(examples_dir()).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names
}

#[test]
fn the_readme_shows_each_client_example_exactly_as_tested() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for name in example_files() {
        let marker = format!("<!-- examples/clients/{name} -->");
        let at = readme.find(&marker).unwrap_or_else(|| panic!("the README does not show examples/clients/{name}"));
        let fenced = &readme[at + marker.len()..];
        let body_start = fenced.find("```").and_then(|f| fenced[f..].find('\n').map(|n| f + n + 1)).unwrap();
        let body_end = body_start + fenced[body_start..].find("```").unwrap();
        let shown = &fenced[body_start..body_end];
        let file = std::fs::read_to_string(examples_dir().join(&name)).unwrap();
        assert_eq!(shown, file, "the README's copy of examples/clients/{name} differs from the file");
    }
}

/// Runs one example as a user would (`program file URL TOOL ARGS`) and checks it listed the
/// fixture's tools and printed the tool's answer.
async fn run(program: PathBuf, env: Option<(&'static str, PathBuf)>, file: &str, base: &str) {
    let (file, base, program_name) = (examples_dir().join(file), base.to_string(), program.display().to_string());
    let out = tokio::task::spawn_blocking(move || {
        let mut command = Command::new(program);
        command.arg(file).args([base.as_str(), "f_echo", r#"{"text":"hello from the example"}"#]);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        command.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{program_name}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("f_echo"), "{program_name} listed the tools: {stdout}");
    assert!(stdout.contains("hello from the example"), "{program_name} printed the answer: {stdout}");
}

#[tokio::test]
async fn each_client_example_lists_and_calls_through_the_gateway() {
    let gw = TestGateway::start(&format!("upstreams:\n  f: {}\n", stdio_fixture("f"))).await;
    let mcp = gw.url("/mcp");
    let mut ran = Vec::new();
    if super::sdk::which("curl") {
        run("sh".into(), None, "curl.sh", &gw.base).await;
        ran.push("curl.sh");
    } else {
        super::peers::skip("needs curl (apt install curl)");
    }
    if let Some(python) = super::sdk::python_sdk2() {
        run(python, None, "python_sdk2.py", &mcp).await;
        ran.push("python_sdk2.py");
    }
    if let Some(python) = super::sdk::python_sdk() {
        run(python, None, "python_sdk1.py", &mcp).await;
        ran.push("python_sdk1.py");
    }
    if let Some(tools) = super::sdk::sdk_tools() {
        run("node".into(), Some(("NODE_PATH", tools.join("node_modules"))), "typescript_sdk.cjs", &mcp).await;
        ran.push("typescript_sdk.cjs");
    }
    // A new example needs a line here.
    let skipped: Vec<String> = example_files().into_iter().filter(|f| !ran.contains(&f.as_str())).collect();
    let runnable = ["curl.sh", "python_sdk1.py", "python_sdk2.py", "typescript_sdk.cjs"];
    assert!(skipped.iter().all(|f| runnable.contains(&f.as_str())), "examples no test runs: {skipped:?}");
}
