//! mcpgw: a declarative MCP gateway. Data flows one way:
//! `config` → `model` → `routing` → `live` snapshot, read by `dispatch`;
//! clients → `transport` → `session` → `dispatch` → `upstream`.
//! ARCHITECTURE.md has the map of these modules and their invariants.

pub mod admin;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod live;
pub mod model;
pub mod openapi;
pub mod policy;
pub mod protocol;
pub mod reload;
pub mod rest;
pub mod routing;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod transport;
pub mod upstream;
pub mod workers;

#[cfg(test)]
mod tests {
    /// Every source file says what it owns in a `//!` comment on its first line.
    #[test]
    fn every_source_file_opens_with_a_module_comment() {
        fn walk(dir: &std::path::Path, missing: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, missing);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // Test-only files (`tests.rs`) are documented by the module that declares them.
                    if !text.starts_with("//!") && path.file_name().is_some_and(|n| n != "tests.rs") {
                        missing.push(path.display().to_string());
                    }
                }
            }
        }
        let mut missing = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut missing);
        assert!(missing.is_empty(), "files without a //! module comment: {missing:?}");
    }
}
