//! mcpgw: a declarative MCP gateway. Data flows one way:
//! `config` → `model` → `routing` → `live` snapshot, read by `dispatch`;
//! clients → `transport` → `session` → `dispatch` → `upstream`.
//! ARCHITECTURE.md has the map of these modules and their invariants.

pub mod admin;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod live;
pub mod model;
pub mod protocol;
pub mod reload;
pub mod routing;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod transport;
pub mod upstream;
