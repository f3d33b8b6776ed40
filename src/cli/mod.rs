//! The commands (`serve`, `check`, `schema`) and every line they print.

mod access;
mod auth;
mod bridge;
mod call;
mod check;
mod config_doc;
mod import;
mod live;
mod pin;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::reload::Source;
use crate::telemetry::LogFormat;

pub use check::OutputFormat;

/// mcpgw: one MCP endpoint in front of many MCP servers, configured by one file.
#[derive(Parser, Debug)]
#[command(name = "mcpgw", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the gateway on a config file and serve until stopped; reloads when the file changes or on SIGHUP.
    #[command(alias = "run")]
    Serve {
        /// The config file (YAML, or TOML when it ends in .toml).
        #[arg(short, long, env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
        config: PathBuf,
        /// Listen on this address instead of the file's `listen`, e.g. 127.0.0.1:0 for any free port.
        #[arg(long, env = "MCPGW_LISTEN")]
        listen: Option<String>,
        /// Log as text or JSON lines (to stderr).
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Serving threads, each running its own connections start to finish; default one per core.
        /// `1` suits a sidecar.
        #[arg(long, env = "MCPGW_THREADS")]
        threads: Option<usize>,
    },
    /// Serve one virtual server to one client over stdin/stdout (for desktop clients that launch a
    /// command). Logs go to stderr.
    Stdio {
        /// The config file.
        #[arg(short, long, env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
        config: PathBuf,
        /// The virtual server to serve.
        #[arg(long, default_value = "default")]
        server: String,
        /// Log as text or JSON lines (to stderr).
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// A gateway without a config file, in front of one upstream exposed unprefixed.
    ///
    /// Serves a stdio server over every HTTP transport, or puts a local stdio endpoint in front of a
    /// remote server, with the same serving code as `serve`:
    ///   mcpgw bridge --stdio "uvx mcp-server-time" --listen 127.0.0.1:8000
    ///   mcpgw bridge --url https://gw.example.com/servers/ops/mcp --header "Authorization: Bearer $T" --to stdio
    #[command(verbatim_doc_comment)]
    Bridge(bridge::BridgeArgs),
    /// Check a config file exactly as `serve` would load it, without binding or connecting anything.
    /// Exits 0 when valid, 1 when invalid, 2 on usage errors.
    Check {
        /// The config file.
        #[arg(env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
        config: PathBuf,
        /// Print diagnostics as text or as a JSON array.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Also connect to every upstream: report those that are down, and pinned tools whose
        /// definition changed (drift).
        #[arg(long)]
        live: bool,
    },
    /// Connect to the upstreams and write the current hash of each tool's definition into the
    /// file as `tools.shape.<tool>.pin`, keeping comments and layout. Review the drift first with
    /// `mcpgw check --live`.
    Pin(pin::PinArgs),
    /// Call one tool through the config's routing, without starting a server, and print the result.
    ///
    /// Exits 0 on success, 1 when the call fails or the tool reports an error, 2 on usage errors:
    ///   mcpgw call weather_forecast --args '{"lat": 52.5, "lon": 13.4}'
    ///   mcpgw call weather_forecast --args '{"lat": 52.5, "lon": 13.4}' --dry-run
    #[command(verbatim_doc_comment)]
    Call(call::CallArgs),
    /// Convert an API description into config to paste into gateway.yaml:
    ///   mcpgw import openapi petstore.yaml --include-tag pet >> upstreams.yaml
    #[command(subcommand, verbatim_doc_comment)]
    Import(import::ImportKind),
    /// API keys and development tokens for the file's `auth`.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Print the JSON Schema of the config file (`schema/gateway.schema.json`), or with
    /// `--markdown` the config reference (`docs/config.md`).
    Schema {
        /// The reference as Markdown: every key, its type and meaning.
        #[arg(long)]
        markdown: bool,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config, listen, log_format, threads } => {
            serve::run(Source::File(config), listen.as_deref(), log_format, threads)
        }
        Command::Stdio { config, server, log_format } => serve::run_stdio(Source::File(config), &server, log_format),
        Command::Bridge(args) => bridge::run(args),
        Command::Call(args) => {
            crate::telemetry::init_with_default(LogFormat::Text, "warn");
            call::run(args)
        }
        Command::Import(kind) => import::run(kind),
        Command::Check { config, format, deny_warnings, live } => {
            if live {
                crate::telemetry::init_with_default(LogFormat::Text, "error");
            }
            check::run(&config, format, deny_warnings, live)
        }
        Command::Pin(args) => {
            crate::telemetry::init_with_default(LogFormat::Text, "error");
            pin::run(args)
        }
        Command::Auth(command) => auth::run(command),
        Command::Schema { markdown } => {
            if markdown {
                let schema: serde_json::Value = serde_json::from_str(&schema_json()).expect("the schema is JSON");
                print!("{}", config_doc::markdown(&schema));
            } else {
                println!("{}", schema_json());
            }
            ExitCode::SUCCESS
        }
    }
}

/// The JSON Schema of gateway.yaml, as committed in `schema/gateway.schema.json`.
pub fn schema_json() -> String {
    let mut schema = schemars::schema_for!(crate::config::Raw);
    schema.insert("title".into(), "mcpgw gateway.yaml".into());
    serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n"
}
