//! `mcpgw call`: one tool call through the config's routing, without a listener, starting only
//! the upstreams that could own the tool. With `--dry-run`, a REST tool's HTTP request is
//! printed (secrets as written in the file) instead of sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::diagnostic::did_you_mean;
use crate::config::diagnostic::render_text;
use crate::config::env::ProcessEnv;
use crate::model::{ListKind, Model, Transport};
use crate::protocol::{Item, ItemKind, ItemSet};
use crate::reload::{self, Reloader, Source};
use crate::routing::RoutingTable;
use crate::session::{Caller, Link, Session};
use crate::upstream::UpstreamState;
use crate::{dispatch, rest, routing};

#[derive(clap::Args, Debug)]
pub struct CallArgs {
    /// The tool's public name, as `tools/list` shows it.
    pub tool: String,
    /// The arguments, as a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// The config file.
    #[arg(short, long, env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
    pub config: PathBuf,
    /// The virtual server whose catalog names the tool.
    #[arg(long, default_value = "default")]
    pub server: String,
    /// Print the HTTP request a REST tool would send (secrets masked) and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Longest wait for upstreams to connect.
    #[arg(long, default_value = "10s", value_parser = parse_wait)]
    pub connect_timeout: Duration,
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    crate::model::parse_duration(text).ok_or_else(|| format!("\"{text}\" is not a duration such as 10s"))
}

pub(super) fn run(args: CallArgs) -> ExitCode {
    let arguments: Map<String, Value> = match serde_json::from_str(&args.args) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return usage("--args must be a JSON object, e.g. '{\"lat\": 1}'"),
        Err(e) => return usage(&format!("--args is not JSON: {e}")),
    };
    if args.dry_run {
        return dry_run(&args, &arguments);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(call(&args, arguments))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

async fn call(args: &CallArgs, arguments: Map<String, Value>) -> ExitCode {
    let source = Source::File(args.config.clone());
    // Only the upstreams whose prefix the name has (or that have none) could own the tool. When
    // none could, every upstream is started, so that the nearest name can be suggested.
    let select = |model: &Model| -> Option<Vec<String>> {
        let owners: Vec<String> = model
            .upstreams
            .iter()
            .filter(|u| u.prefix.is_empty() || args.tool.starts_with(&format!("{}{}", u.prefix, model.separator)))
            .map(|u| u.name.clone())
            .collect();
        (!owners.is_empty()).then_some(owners)
    };
    let (reloader, _warnings) = match Reloader::start_with(source, Arc::new(ProcessEnv), &select) {
        Ok(r) => r,
        Err(diagnostics) => {
            eprint!("{}", render_text(&args.config, &diagnostics, false));
            return ExitCode::from(1);
        }
    };
    let code = call_on(&reloader, args, arguments).await;
    reloader.shutdown().await;
    code
}

async fn call_on(reloader: &Reloader, args: &CallArgs, arguments: Map<String, Value>) -> ExitCode {
    if reloader.live.snapshot().model.virtual_server(&args.server).is_none() {
        eprintln!("error: {}: no virtual server named \"{}\"", args.config.display(), args.server);
        return ExitCode::from(1);
    }
    // The tool appears once its upstream has connected and the table has been rebuilt.
    let deadline = Instant::now() + args.connect_timeout;
    let mut settled_at = None;
    let snapshot = loop {
        let snapshot = reloader.live.snapshot();
        let found = snapshot.table.catalog(&args.server).and_then(|c| c.find(ItemKind::Tool, &args.tool)).is_some();
        if found {
            break snapshot;
        }
        if snapshot.settled() {
            // Give the table rebuild that follows the last connection a moment.
            let at = *settled_at.get_or_insert_with(Instant::now);
            if at.elapsed() > Duration::from_millis(300) {
                return unknown_tool(&snapshot, args);
            }
        }
        if Instant::now() > deadline {
            return unknown_tool(&snapshot, args);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let params = crate::protocol::jsonrpc::raw(&serde_json::json!({ "name": args.tool, "arguments": arguments }));
    // One call from the local user, on a session of its own that ends with it.
    let session = Session::detached(&args.server, crate::protocol::mcp::LATEST_VERSION, Caller::local());
    let id = crate::protocol::jsonrpc::raw(&1);
    let request = dispatch::Request::new(id, Link::unreachable(&session), "tools/call", Some(params));
    drop(snapshot);
    match dispatch::handle(&reloader.live, &request).await {
        Ok(result) => {
            let value: Value = serde_json::from_str(result.get()).unwrap_or(Value::Null);
            println!("{}", serde_json::to_string_pretty(&value).expect("JSON serializes"));
            if value.get("isError") == Some(&Value::Bool(true)) { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }
        Err(error) => {
            eprintln!("error: {}", error.to_json());
            ExitCode::from(1)
        }
    }
}

fn unknown_tool(snapshot: &crate::live::Snapshot, args: &CallArgs) -> ExitCode {
    let down: Vec<String> = snapshot
        .upstreams
        .values()
        .filter(|u| u.status().state != UpstreamState::Up)
        .map(|u| {
            format!("{} ({})", u.name(), u.status().error.clone().unwrap_or_else(|| u.status().state.as_str().into()))
        })
        .collect();
    report_missing(&snapshot.table, &snapshot.model, args, "tool");
    if !down.is_empty() {
        eprintln!("note: these upstreams are not connected: {}", down.join(", "));
    }
    ExitCode::from(1)
}

/// Says why `args.tool` is not in the virtual server's catalog: withheld by its pin, or not
/// there at all (with the nearest name, and the virtual servers that do have it).
fn report_missing(table: &RoutingTable, model: &Model, args: &CallArgs, what: &str) {
    let (server, tool) = (&args.server, &args.tool);
    let withheld = table.drift.iter().filter(|d| d.blocked).find(|d| {
        model.upstream(&d.upstream).and_then(|u| u.published_as(ListKind::Tools, &d.tool, &model.separator)).as_deref()
            == Some(tool.as_str())
    });
    if let Some(d) = withheld {
        eprintln!(
            "error: \"{tool}\" is withheld: upstream \"{}\" changed the tool's definition since it was pinned, \
             and its shape says `on_change: block`",
            d.upstream
        );
        eprintln!("  note: pinned {}, now {}", d.pinned, d.actual);
        eprintln!("  help: review the change with `mcpgw check --live`, then accept it with `mcpgw pin`");
        return;
    }
    eprintln!("error: virtual server \"{server}\" has no {what} named \"{tool}\"");
    let listed: Vec<&str> = table
        .catalog(server)
        .map(|c| c.list(ItemKind::Tool).iter().map(|p| p.public_key.as_str()).collect())
        .unwrap_or_default();
    if let Some(nearest) = did_you_mean(tool, listed.iter().copied()) {
        eprintln!("  help: did you mean \"{nearest}\"?");
    }
    let elsewhere = table
        .virtual_servers()
        .filter(|s| s != server && table.catalog(s).is_some_and(|c| c.find(ItemKind::Tool, tool).is_some()))
        .min();
    if let Some(other) = elsewhere {
        eprintln!("  note: virtual server \"{other}\" has it: pass --server {other}");
    }
}

/// Routes the name with the same table serving builds, from the REST APIs' declared tools alone.
fn dry_run(args: &CallArgs, arguments: &Map<String, Value>) -> ExitCode {
    let prepared = match reload::prepare(&args.config, &ProcessEnv) {
        Ok(p) => p,
        Err(diagnostics) => {
            eprint!("{}", render_text(&args.config, &diagnostics, false));
            return ExitCode::from(1);
        }
    };
    let model: &Model = &prepared.model;
    let mut items: HashMap<String, Arc<ItemSet>> = HashMap::new();
    let mut apis = HashMap::new();
    for upstream in &model.upstreams {
        if let Transport::Rest(api) = &upstream.transport {
            let tools = rest::Api::compile(api).expect("validated APIs compile");
            let set = ItemSet {
                tools: tools.iter().filter_map(|t| Item::from_json(ItemKind::Tool, t.listing.clone())).collect(),
                ..ItemSet::default()
            };
            items.insert(upstream.name.clone(), Arc::new(set));
            apis.insert(upstream.name.clone(), api.clone());
        }
    }
    let table = routing::build(0, model, &items);
    let Some(published) = table.catalog(&args.server).and_then(|c| c.find(ItemKind::Tool, &args.tool)) else {
        report_missing(&table, model, args, "REST tool");
        eprintln!("  note: --dry-run shows the HTTP requests of REST tools");
        return ExitCode::from(1);
    };
    let api = &apis[&published.route.upstream];
    let compiled = rest::Api::compile(api).expect("validated APIs compile");
    let tool = compiled.iter().find(|t| t.spec.name == published.route.upstream_key).expect("listed tools exist");
    match tool.plan(api, arguments) {
        Ok(planned) => {
            print!("{}", planned.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", e.0);
            ExitCode::from(1)
        }
    }
}
