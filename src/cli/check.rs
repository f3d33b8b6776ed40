//! `mcpgw check`: the start-up load path, with its diagnostics printed instead of served. With
//! `--live`, also connects to every upstream and reports what only they can tell: upstreams that
//! are down, names in virtual servers that no upstream provides, and pinned tools whose
//! definition changed.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::diagnostic::{render_json, render_text};
use crate::config::env::ProcessEnv;
use crate::config::{self, Diagnostic};
use crate::protocol::ItemKind;
use crate::reload::{Reloader, prepare};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Longest wait for upstreams to connect in `--live` mode.
const LIVE_WAIT: Duration = Duration::from_secs(15);

pub(super) fn run(path: &Path, format: OutputFormat, deny_warnings: bool, live: bool) -> ExitCode {
    let (mut diagnostics, valid) = match prepare(path, &ProcessEnv) {
        Ok(p) => (p.diagnostics, true),
        Err(d) => (d, false),
    };
    if valid && live {
        match super::live::with_upstreams(path, LIVE_WAIT, async |r: &Reloader| live_findings(r)) {
            Ok(found) => {
                // A virtual-server name validation already judged (a REST tool) is not reported twice.
                let judged =
                    |key: &str| key.starts_with("virtual_servers.") && diagnostics.iter().any(|d| d.path == key);
                let found = found.into_iter().filter(|(_, key, ..)| !judged(key));
                diagnostics.extend(positioned(path, found.collect()))
            }
            Err(code) => return code,
        }
    }
    let errors = diagnostics.iter().any(Diagnostic::is_error);
    let ok = valid && !errors && (!deny_warnings || diagnostics.is_empty());
    match format {
        OutputFormat::Json => println!("{}", render_json(&diagnostics)),
        OutputFormat::Text => eprint!("{}", render_text(path, &diagnostics, valid)),
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// A finding before it has a position: (error?, key path, message, help).
type Finding = (bool, String, String, String);

fn live_findings(reloader: &Reloader) -> Vec<Finding> {
    let snapshot = reloader.live.snapshot();
    let mut found = Vec::new();
    for upstream in &snapshot.model.upstreams {
        let Some(handle) = snapshot.upstream(&upstream.name) else { continue };
        let status = handle.status();
        if status.state != crate::upstream::UpstreamState::Up {
            let why = status.error.clone().unwrap_or_else(|| status.state.as_str().to_string());
            found.push((
                false,
                format!("upstreams.{}", upstream.name),
                format!("not connected: {why}"),
                "check its command, URL and credentials; `mcpgw serve` keeps retrying it".into(),
            ));
            continue;
        }
        let items = handle.items();
        for shape in &upstream.shapes {
            if !items.of(ItemKind::Tool).iter().any(|t| t.key == shape.tool) {
                found.push((
                    false,
                    format!("upstreams.{}.tools.shape.{}", upstream.name, shape.tool),
                    format!("the upstream offers no tool \"{}\"", shape.tool),
                    "shapes name tools as the upstream does, before prefix and rename".into(),
                ));
            }
        }
    }
    // A withheld tool's name is explained by its drift below, not as a name nobody provides.
    let withheld: Vec<String> = snapshot
        .table
        .drift
        .iter()
        .filter(|d| d.blocked)
        .filter_map(|d| {
            let upstream = snapshot.model.upstream(&d.upstream)?;
            upstream.published_as(crate::model::ListKind::Tools, &d.tool, &snapshot.model.separator)
        })
        .collect();
    for u in crate::reload::live_unprovided(&snapshot.model, &snapshot.upstreams) {
        if !withheld.contains(&u.name) {
            found.push((false, u.path, u.message, u.help));
        }
    }
    for d in &snapshot.table.drift {
        let withheld = if d.blocked { "; the tool is withheld (on_change: block)" } else { "" };
        found.push((
            true,
            format!("upstreams.{}.tools.shape.{}.pin", d.upstream, d.tool),
            format!(
                "the upstream's definition of \"{}\" changed: pinned {}, now {}{withheld}",
                d.tool, d.pinned, d.actual
            ),
            "review the tool's new definition, then accept it with `mcpgw pin`".into(),
        ));
    }
    found
}

fn positioned(path: &Path, found: Vec<Finding>) -> Vec<Diagnostic> {
    let positions = config::load(path).map(|l| l.positions).unwrap_or_default();
    let mut out: Vec<Diagnostic> = found
        .into_iter()
        .map(|(error, key, message, help)| {
            let pos = positions.of(&key);
            let d = if error { Diagnostic::error(pos, key, message) } else { Diagnostic::warning(pos, key, message) };
            d.with_help(help).in_file(path)
        })
        .collect();
    out.sort_by_key(|d| (d.line, d.column));
    out
}
