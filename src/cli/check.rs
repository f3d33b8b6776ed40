//! `mcpgw check`: the start-up load path, with its diagnostics printed instead of served.

use std::path::Path;
use std::process::ExitCode;

use crate::config::diagnostic::{render_json, render_text};
use crate::config::env::ProcessEnv;
use crate::reload::prepare;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

pub(super) fn run(path: &Path, format: OutputFormat, deny_warnings: bool) -> ExitCode {
    let (diagnostics, loaded) = match prepare(path, &ProcessEnv) {
        Ok(p) => {
            let ok = !deny_warnings || p.diagnostics.is_empty();
            (p.diagnostics, ok)
        }
        Err(d) => (d, false),
    };
    match format {
        OutputFormat::Json => println!("{}", render_json(&diagnostics)),
        OutputFormat::Text => eprint!("{}", render_text(path, &diagnostics, loaded)),
    }
    if loaded { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
