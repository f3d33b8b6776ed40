//! The wire vocabulary: JSON-RPC 2.0 envelopes, MCP versions, the method table, the stateless
//! revision's keys, headers and codes, item lists, SSE framing.
//! Message bodies stay raw JSON so fields the gateway does not own pass through untouched.

pub(crate) mod items;
pub(crate) mod jsonrpc;
pub(crate) mod lines;
pub(crate) mod mcp;
pub(crate) mod methods;
pub(crate) mod param_headers;
pub(crate) mod sse;
pub(crate) mod stateless;
pub(crate) mod tasks;

pub(crate) use items::{Item, ItemKind, ItemSet};
pub(crate) use jsonrpc::RawJson;
