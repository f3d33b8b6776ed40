//! `mcpgw bridge`: a gateway without a file, in front of one upstream whose items are exposed
//! unprefixed. It builds the config in memory and runs the same serving code as `serve` and `stdio`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, ValueEnum};
use serde_json::{Map, Value, json};

use super::serve;
use crate::reload::Source;
use crate::telemetry::LogFormat;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("upstream").required(true).args(["stdio", "url", "sse", "websocket"])))]
pub struct BridgeArgs {
    /// Run this command as a stdio upstream, e.g. "uvx mcp-server-time" (quotes group words).
    #[arg(long)]
    stdio: Option<String>,
    /// A streamable HTTP upstream.
    #[arg(long)]
    url: Option<String>,
    /// A legacy HTTP+SSE upstream (the event stream's URL).
    #[arg(long)]
    sse: Option<String>,
    /// A WebSocket upstream (ws:// or wss://).
    #[arg(long)]
    websocket: Option<String>,
    /// A header for an HTTP or WebSocket upstream, "Name: value"; repeatable.
    #[arg(long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// An environment variable for a stdio upstream, NAME=VALUE; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Serve over HTTP (streamable HTTP, SSE, WebSocket and /rpc) or over stdio.
    #[arg(long, value_enum, default_value = "http")]
    to: Serving,
    /// The HTTP address, with `--to http`.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: String,
    /// Log as text or JSON lines (to stderr).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Serving {
    Http,
    Stdio,
}

pub(super) fn run(args: BridgeArgs) -> ExitCode {
    let text = match config_text(&args) {
        Ok(t) => t,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let source = Source::Inline { label: PathBuf::from("<bridge>"), text };
    match args.to {
        Serving::Http => serve::run(source, Some(&args.listen), args.log_format, None),
        Serving::Stdio => serve::run_stdio(source, "default", args.log_format),
    }
}

/// The config the arguments describe, as JSON (which the YAML loader reads). Every `$` is
/// doubled so values the shell already expanded are taken literally.
fn config_text(args: &BridgeArgs) -> Result<String, String> {
    let literal = |s: &str| Value::String(s.replace('$', "$$"));
    let mut upstream = Map::new();
    if let Some(command) = &args.stdio {
        let words = split_command(command)?;
        let (program, rest) = words.split_first().ok_or("--stdio needs a command")?;
        let mut env = Map::new();
        for pair in &args.env {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("--env {pair:?}: write NAME=VALUE"))?;
            env.insert(k.to_string(), literal(v));
        }
        upstream.insert(
            "stdio".into(),
            json!({ "command": literal(program), "args": rest.iter().map(|a| literal(a)).collect::<Vec<_>>(), "env": env }),
        );
    }
    for (key, value) in [("url", &args.url), ("sse", &args.sse), ("websocket", &args.websocket)] {
        if let Some(v) = value {
            upstream.insert(key.into(), literal(v));
        }
    }
    if !args.headers.is_empty() {
        let mut headers = Map::new();
        for h in &args.headers {
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| format!("--header {:?}: write \"Name: value\"", h.split(':').next().unwrap_or("")))?;
            headers.insert(k.trim().to_string(), literal(v.trim()));
        }
        upstream.insert("headers".into(), Value::Object(headers));
    }
    upstream.insert("prefix".into(), json!(""));
    Ok(json!({ "listen": literal(&args.listen), "upstreams": { "bridge": upstream } }).to_string())
}

/// Splits a command line into words: whitespace separates, quotes group, backslash escapes.
fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                let next = chars.next().ok_or("the command ends with a lone backslash")?;
                word.get_or_insert_with(String::new).push(next);
            }
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Err("the command has an unclosed quote".into());
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell() {
        let check = |line: &str, expected: &[&str]| assert_eq!(split_command(line).unwrap(), expected, "{line}");
        check("uvx mcp-server-time", &["uvx", "mcp-server-time"]);
        check("  node  server.js  ", &["node", "server.js"]);
        check("python -c 'print(1 + 2)'", &["python", "-c", "print(1 + 2)"]);
        check(r#"cmd "a b" c\ d ''"#, &["cmd", "a b", "c d", ""]);
        assert!(split_command("cmd 'open").is_err());
    }
}
