//! `mcpgw import openapi`: prints a `rest:` upstream converted from an OpenAPI 3.x document, to
//! paste under `upstreams:` and commit. The output passes `mcpgw check` once its `${VAR}`s are set.

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
    rest.insert("base_url".into(), Value::String(base_url));
    if let Some(auth) = converted.auth {
        rest.insert("auth".into(), auth);
    }
    rest.insert("tools".into(), Value::Object(converted.tools.into_iter().collect()));
    let block = json!({ name.clone(): { "rest": rest } });
    println!("# {title} {version}, imported by `mcpgw import openapi {}`.", args.spec.display());
    println!("# Paste under `upstreams:` in gateway.yaml.");
    print!("{}", openapi::to_yaml(&block, 2));
    for skipped in &converted.skipped {
        println!("  # left out: {skipped}");
    }
    ExitCode::SUCCESS
}

/// `specs/petstore.v3.yaml` → `petstore`.
fn default_name(spec: &std::path::Path) -> String {
    let stem = spec.file_name().and_then(|s| s.to_str()).unwrap_or("api");
    let stem = stem.split('.').next().unwrap_or(stem);
    let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if name.is_empty() { "api".into() } else { name }
}
