//! mcpgw: a declarative MCP gateway. Data flows one way:
//! `config` → `model` → `routing` → `live` snapshot, read by `dispatch`;
//! clients → `transport` → `session` → `dispatch` → `upstream`.
//! ARCHITECTURE.md has the map of these modules and their invariants.

pub(crate) mod admin;
pub(crate) mod auth;
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
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// The modules each module may use: ARCHITECTURE.md's "Dependencies between modules" table.
    /// Data flows one way: serving never reaches the consuming side, a request never climbs back.
    const MAY_USE: &[(&str, &[&str])] = &[
        ("cli", &["*"]),
        ("server", &["admin", "transport", "live", "model", "protocol"]),
        ("admin", &["transport", "live", "protocol"]),
        ("transport", &["dispatch", "session", "live", "model", "protocol", "error", "auth"]),
        ("dispatch", &["live", "routing", "upstream", "policy", "session", "model", "protocol", "error"]),
        ("reload", &["config", "model", "openapi", "rest", "routing", "upstream", "live", "session", "auth"]),
        ("live", &["model", "routing", "upstream", "policy", "session", "protocol", "auth"]),
        ("auth", &["model", "session", "error"]),
        ("policy", &["model", "routing", "session", "protocol", "error"]),
        ("upstream", &["model", "protocol", "rest", "session", "workers"]),
        ("routing", &["model", "protocol"]),
        ("rest", &["model", "config"]),
        ("openapi", &["config"]),
        ("model", &["config", "protocol"]),
        ("session", &["protocol"]),
        ("error", &["protocol"]),
        ("config", &[]),
        ("protocol", &[]),
        ("telemetry", &[]),
        ("workers", &[]),
    ];

    /// The top-level modules each module's code (tests left out) names through `crate::`.
    fn module_uses() -> BTreeMap<String, BTreeSet<String>> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let module = relative.iter().next().unwrap().to_str().unwrap().trim_end_matches(".rs").to_string();
            if ["lib", "main"].contains(&module.as_str()) || relative.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            // Test code may build fixtures from anywhere; the rules are about the product.
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let used = uses.entry(module.clone()).or_default();
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    // `use crate::{a, b::c}`: the first segment of each item.
                    Some(group) => group[..group.find('}').unwrap_or(0)].split(',').map(|i| i.trim()).collect(),
                    None => vec![rest],
                };
                for name in names {
                    let first: String = name.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !first.is_empty() && first != module {
                        used.insert(first);
                    }
                }
            }
        }
        uses
    }

    /// ARCHITECTURE.md's dependency rules hold: no module uses one it may not, so no import circle
    /// joins two modules.
    #[test]
    fn modules_use_only_what_the_architecture_allows() {
        let allowed: BTreeMap<&str, &[&str]> = MAY_USE.iter().copied().collect();
        let mut forbidden = Vec::new();
        for (module, used) in module_uses() {
            let Some(may) = allowed.get(module.as_str()) else {
                forbidden.push(format!("{module} is not in the table: add it (and to ARCHITECTURE.md)"));
                continue;
            };
            for target in used {
                if !may.contains(&"*") && !may.contains(&target.as_str()) {
                    forbidden.push(format!("{module} -> {target}"));
                }
            }
        }
        assert!(forbidden.is_empty(), "edges ARCHITECTURE.md forbids: {forbidden:?}");
        // The table itself has no circle: every module can be placed below all it may use.
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        while placed.len() < MAY_USE.len() {
            let next = MAY_USE.iter().find(|(m, may)| {
                !placed.contains(m)
                    && (may.contains(&"*") && placed.len() == MAY_USE.len() - 1
                        || may.iter().all(|u| placed.contains(u)))
            });
            let Some((module, _)) = next else {
                panic!("the dependency table has a circle among {placed:?}'s complement")
            };
            placed.insert(module);
        }
    }

    /// `model` is the checked config: no file, clock or network.
    #[test]
    fn the_model_performs_no_io() {
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&model).unwrap().chain(std::fs::read_dir(model.join("validate")).unwrap()) {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for io in ["std::fs", "tokio::", "std::net::TcpStream", "reqwest", "hyper", "SystemTime", "Instant::now"] {
                if code.contains(io) {
                    found.push(format!("{}: {io}", path.display()));
                }
            }
        }
        assert!(found.is_empty(), "I/O in the model: {found:?}");
    }

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
