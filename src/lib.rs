//! mcpgw: a declarative MCP gateway. See ARCHITECTURE.md for the map of these modules.
pub mod config;
pub mod model;
pub mod protocol;
pub mod routing;
pub mod upstream;
