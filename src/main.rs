//! The `mcpgw` binary.
fn main() {}
