//! mcpgw: a declarative MCP gateway. Data flows one way:
//! `config` → `model` → `routing` → `live` snapshot, read by `dispatch`;
//! clients → `transport` → `session` → `dispatch` → `upstream`.
//! ARCHITECTURE.md has the map of these modules and their invariants.

pub(crate) mod admin;
pub mod cli;
pub(crate) mod config;
pub(crate) mod dispatch;
pub(crate) mod error;
pub(crate) mod live;
pub(crate) mod model;
pub(crate) mod openapi;
pub(crate) mod policy;
pub(crate) mod protocol;
pub(crate) mod reload;
pub(crate) mod rest;
pub(crate) mod routing;
pub(crate) mod server;
pub(crate) mod session;
pub(crate) mod telemetry;
pub(crate) mod transport;
pub(crate) mod upstream;
pub(crate) mod workers;

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
