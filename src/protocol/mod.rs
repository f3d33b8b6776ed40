//! The wire vocabulary: JSON-RPC 2.0 envelopes, MCP versions, the method table, the stateless
//! revision's keys, headers and codes, item lists, SSE framing.
//! Message bodies stay raw JSON so fields the gateway does not own pass through untouched.

pub mod items;
pub mod jsonrpc;
pub mod mcp;
pub mod methods;
pub mod param_headers;
pub mod sse;
pub mod stateless;
pub mod tasks;

pub use items::{Item, ItemKind, ItemSet};
pub use jsonrpc::{Message, RawJson, RpcError};
