//! `mcpgw pin`: writes the current definition hash of each upstream tool into the config file
//! (`tools.shape.<tool>.pin`), editing the text in place so comments and layout survive. Every
//! edit is verified by parsing the result; a file it cannot edit safely is left untouched.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{self, edit};
use crate::model::Pattern;
use crate::protocol::ItemKind;
use crate::reload::Reloader;
use crate::routing::shape::definition_hash;

#[derive(clap::Args, Debug)]
pub struct PinArgs {
    /// The config file.
    #[arg(short, long, env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
    pub config: PathBuf,
    /// Only tools of this upstream (repeatable).
    #[arg(long)]
    pub upstream: Vec<String>,
    /// Only tools whose upstream-side name matches, `*` and `?` allowed (repeatable).
    #[arg(long)]
    pub tool: Vec<String>,
    /// Print the pins that would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Longest wait for upstreams to connect.
const WAIT: Duration = Duration::from_secs(15);

struct Current {
    upstream: String,
    tool: String,
    hash: String,
}

pub(super) fn run(args: PinArgs) -> ExitCode {
    let tools: Vec<Pattern> = args.tool.iter().map(|t| Pattern::new(t)).collect();
    let collected = super::live::with_upstreams(&args.config, WAIT, async |r: &Reloader| {
        let snapshot = r.live.snapshot();
        let mut current = Vec::new();
        let mut down = Vec::new();
        for upstream in &snapshot.model.upstreams {
            if !args.upstream.is_empty() && !args.upstream.contains(&upstream.name) {
                continue;
            }
            let Some(handle) = snapshot.upstream(&upstream.name) else { continue };
            if handle.status().state != crate::upstream::UpstreamState::Up {
                down.push(upstream.name.clone());
                continue;
            }
            for item in handle.items().of(ItemKind::Tool) {
                let selected = tools.is_empty() || tools.iter().any(|p| p.matches(&item.key));
                if selected && upstream.tools.apply(&item.key).is_some() {
                    current.push(Current {
                        upstream: upstream.name.clone(),
                        tool: item.key.clone(),
                        hash: definition_hash(&item.json),
                    });
                }
            }
        }
        (current, down)
    });
    let (current, down) = match collected {
        Ok(c) => c,
        Err(code) => return code,
    };
    for name in &down {
        eprintln!("warning: upstream \"{name}\" is not connected; its tools are not pinned");
    }
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.config.display());
            return ExitCode::from(1);
        }
    };
    let toml = config::Syntax::of(&args.config) == config::Syntax::Toml;
    let mut edited = text.clone();
    let (mut added, mut updated, mut unchanged) = (0, 0, 0);
    let mut by_hand = Vec::new();
    for c in &current {
        let loaded = match config::parse(&args.config, &edited) {
            Ok(l) => l,
            Err(_) => unreachable!("every edit is verified to parse"),
        };
        let pinned = pin_of(&loaded, &c.upstream, &c.tool);
        if pinned.as_deref() == Some(c.hash.as_str()) {
            unchanged += 1;
            continue;
        }
        // Up to four steps: tools, shape, the tool, its pin.
        let mut next = None;
        if !(toml && pinned.is_none()) {
            let mut draft = edited.clone();
            for _ in 0..4 {
                let Ok(loaded) = config::parse(&args.config, &draft) else { break };
                if pin_of(&loaded, &c.upstream, &c.tool).as_deref() == Some(c.hash.as_str()) {
                    break;
                }
                match place(&draft, &loaded, c, toml) {
                    Some(d) => draft = d,
                    None => break,
                }
            }
            next = Some(draft);
        }
        match next.filter(|n| {
            config::parse(&args.config, n).ok().and_then(|l| pin_of(&l, &c.upstream, &c.tool)).as_deref()
                == Some(c.hash.as_str())
        }) {
            Some(n) => {
                if args.dry_run {
                    println!(
                        "{} {}/{}: {}",
                        if pinned.is_some() { "update" } else { "add" },
                        c.upstream,
                        c.tool,
                        c.hash
                    );
                }
                if pinned.is_some() {
                    updated += 1
                } else {
                    added += 1
                }
                edited = n;
            }
            None => by_hand.push(c),
        }
    }
    for c in &by_hand {
        eprintln!("note: add by hand under upstreams.{}.tools.shape.{}: pin = \"{}\"", c.upstream, c.tool, c.hash);
    }
    if edited != text
        && !args.dry_run
        && let Err(e) = write_atomically(&args.config, &edited)
    {
        eprintln!("error: cannot write {}: {e}", args.config.display());
        return ExitCode::from(1);
    }
    let verb = if args.dry_run { "would pin" } else { "pinned" };
    eprintln!(
        "{}: {verb} {} tools ({added} added, {updated} updated, {unchanged} unchanged)",
        args.config.display(),
        added + updated + unchanged
    );
    if by_hand.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn pin_of(loaded: &config::Loaded, upstream: &str, tool: &str) -> Option<String> {
    loaded.raw.upstream(upstream)?.tools.as_ref()?.shape.as_ref()?.get(tool)?.pin.clone()
}

/// One step towards the pin of `c`: replace it, or add the next missing level under the deepest
/// one that exists. In a block mapping each level gets its own line; in a flow mapping the rest
/// is written in one piece.
fn place(text: &str, loaded: &config::Loaded, c: &Current, toml: bool) -> Option<String> {
    let up = format!("upstreams.{}", c.upstream);
    let levels =
        [up.clone(), format!("{up}.tools"), format!("{up}.tools.shape"), format!("{up}.tools.shape.{}", c.tool)];
    let pin = format!("{}.pin", levels[3]);
    if loaded.positions.get(&pin).is_some() {
        let value = if toml { format!("\"{}\"", c.hash) } else { c.hash.clone() };
        return edit::replace_value(text, loaded, &pin, &value);
    }
    let keys = ["tools".to_string(), "shape".to_string(), c.tool.clone(), "pin".to_string()];
    let deepest = levels.iter().rposition(|l| loaded.positions.get(l).is_some())?;
    let missing = &keys[deepest..];
    if edit::is_flow(text, loaded, &levels[deepest]) {
        // `{ shape: { tool: { pin: hash } } }`, from the innermost level out.
        let mut value = c.hash.clone();
        for key in missing[1..].iter().rev() {
            value = format!("{{ {}: {value} }}", edit::yaml_scalar(key));
        }
        return edit::insert_entry(text, loaded, &levels[deepest], &missing[0], &value);
    }
    let value = if missing.len() == 1 { c.hash.as_str() } else { "" };
    edit::insert_entry(text, loaded, &levels[deepest], &missing[0], value)
}

/// Writes through a temporary file in the same directory and a rename, so a watching gateway
/// never reads half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("gateway.yaml");
    let temp = dir.join(format!(".{name}.pin-{}", std::process::id()));
    std::fs::write(&temp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&temp, meta.permissions());
    }
    std::fs::rename(&temp, path)
}
