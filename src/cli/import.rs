//! `mcpgw import openapi`: prints a `rest:` upstream converted from an OpenAPI 3.x document, to
//! paste under `upstreams:` and commit. The output passes `mcpgw check` once its `${VAR}`s are
//! set (and, for a server on a loopback or private address, its `allow_private` uncommented).

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Map, Value, json};

use crate::model::Pattern;
use crate::openapi;

#[derive(clap::Subcommand, Debug)]
pub enum ImportKind {
    /// An OpenAPI 3.x document (JSON or YAML) → a `rest:` upstream block on stdout.
    Openapi(OpenApiArgs),
}

#[derive(clap::Args, Debug)]
pub struct OpenApiArgs {
    /// The document.
    pub spec: PathBuf,
    /// The upstream's name (its tools' prefix). Default: the file's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Only operations with this tag (repeatable).
    #[arg(long = "include-tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only this operation id, `*` and `?` allowed (repeatable).
    #[arg(long = "include-operation", value_name = "ID")]
    pub operations: Vec<String>,
    /// Where requests go. Default: the document's first server URL.
    #[arg(long)]
    pub base_url: Option<String>,
}

pub(super) fn run(kind: ImportKind) -> ExitCode {
    let ImportKind::Openapi(args) = kind;
    let text = match std::fs::read_to_string(&args.spec) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.spec.display());
            return ExitCode::from(1);
        }
    };
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.spec));
    let selection = openapi::Selection {
        tags: args.tags.clone(),
        operations: args.operations.iter().map(|p| Pattern::new(p)).collect(),
    };
    let converted =
        match openapi::parse(&text).and_then(|doc| openapi::convert(&doc, &selection, &name).map(|c| (doc, c))) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {}: {e}", args.spec.display());
                return ExitCode::from(1);
            }
        };
    let (doc, converted) = converted;
    if converted.tools.is_empty() {
        eprintln!("error: {}: no operation is selected", args.spec.display());
        return ExitCode::from(1);
    }
    let title = doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("the API");
    let version = doc.pointer("/info/version").and_then(Value::as_str).unwrap_or("");
    let base_url = args
        .base_url
        .clone()
        .or(converted.base_url)
        .unwrap_or_else(|| format!("${{{}_BASE_URL}}", name.to_ascii_uppercase().replace('-', "_")));
    let mut rest = Map::new();
    if let Some(auth) = converted.auth {
        rest.insert("auth".into(), auth);
    }
    rest.insert("tools".into(), Value::Object(converted.tools.into_iter().collect()));
    println!("# {title} {version}, imported by `{}`.", command_line(&args));
    println!("# Paste under `upstreams:` in gateway.yaml.");
    // The upstream down to its base URL, then the hint (a comment), then the rest of the block.
    print!("{}", openapi::to_yaml(&json!({ name.clone(): { "rest": { "base_url": base_url } } }), 2));
    if let Some(why) = refused(&base_url) {
        println!("      # {base_url} is {why}, which mcpgw refuses unless the API allows it:");
        println!("      # uncomment the next line if the API really runs there (or import with another --base-url).");
        println!("      # allow_private: true");
    }
    print!("{}", openapi::to_yaml(&Value::Object(rest), 6));
    for skipped in &converted.skipped {
        println!("  # left out: {skipped}");
    }
    ExitCode::SUCCESS
}

/// The command as run, flags included, quoted for a POSIX shell, so the header says how to
/// import the document again.
fn command_line(args: &OpenApiArgs) -> String {
    let mut words = vec!["mcpgw".to_string(), "import".into(), "openapi".into(), args.spec.display().to_string()];
    let flags = args.name.iter().map(|n| ("--name", n)).chain(args.tags.iter().map(|t| ("--include-tag", t)));
    let flags = flags.chain(args.operations.iter().map(|o| ("--include-operation", o)));
    for (flag, value) in flags.chain(args.base_url.iter().map(|u| ("--base-url", u))) {
        words.push(flag.into());
        words.push(value.clone());
    }
    words.iter().map(|w| shell_quoted(w)).collect::<Vec<_>>().join(" ")
}

fn shell_quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '=' | ',' | '+'));
    if plain { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// Why requests to `base_url` would be refused (a loopback or private address), if they would.
fn refused(base_url: &str) -> Option<String> {
    use crate::model::RestChecks;
    let url = url::Url::parse(base_url).ok()?;
    crate::rest::Checks.refused_host(&url.host()?).map(|why| match why.split_once(" is ") {
        // "127.0.0.1 is a private or loopback address" → "a private or loopback address"
        Some((_, what)) => what.to_string(),
        None => why,
    })
}

/// `specs/petstore.v3.yaml` → `petstore`.
fn default_name(spec: &std::path::Path) -> String {
    let stem = spec.file_name().and_then(|s| s.to_str()).unwrap_or("api");
    let stem = stem.split('.').next().unwrap_or(stem);
    let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if name.is_empty() { "api".into() } else { name }
}
