//! Literal names in virtual servers, and item patterns in access rules, that no upstream
//! publishes. Judged only where the names are known: REST tools while validating, every
//! connected upstream's items in `check --live` and on reload. A name some unknown upstream could
//! publish is never reported.

use crate::config::diagnostic::did_you_mean;

use super::access::Rule;
use super::{ListKind, Pattern, VirtualServer};

/// One literal name of a virtual server that no upstream publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unprovided {
    /// Key path of the name (`virtual_servers.ops.tools[1]`).
    pub path: String,
    pub name: String,
    pub message: String,
    /// The nearest published name, and what the upstreams that could publish it do publish.
    pub help: String,
}

/// Most published names a help line lists.
const LISTED: usize = 8;

/// One item an upstream offers: its own name (or URI), and its public name unless its filter
/// hides it.
pub(crate) type Offered = (String, Option<String>);

/// Every literal name in `servers` that none of the upstreams able to publish it does, and every
/// item pattern of the access rules (`rules`, the file's, and the servers' own) that matches
/// nothing they publish. `owners` is every declared upstream's (name, prefix) in file order;
/// `offered` gives what an upstream offers in one list, or `None` when that is not known.
pub(crate) fn unprovided(
    servers: &[VirtualServer],
    rules: &[Rule],
    owners: &[(String, String)],
    separator: &str,
    offered: &dyn Fn(&str, ListKind) -> Option<Vec<Offered>>,
) -> Vec<Unprovided> {
    let mut out = Vec::new();
    let all_rules = rules.iter().chain(servers.iter().flat_map(|s| &s.access));
    unmatched_rule_patterns(all_rules, owners, separator, offered, &mut out);
    for server in servers {
        for kind in ListKind::ALL {
            for (i, pattern) in server.patterns(kind).iter().enumerate() {
                let name = pattern.as_str();
                if !pattern.is_literal() || name.is_empty() {
                    continue;
                }
                // Resources keep their URIs, so any upstream may publish one.
                let candidates: Vec<(&str, &str)> = owners
                    .iter()
                    .filter(|(_, prefix)| {
                        kind == ListKind::Resources
                            || prefix.is_empty()
                            || name.starts_with(&format!("{prefix}{separator}"))
                    })
                    .map(|(upstream, prefix)| (upstream.as_str(), prefix.as_str()))
                    .collect();
                // No candidate at all is validation's error ("no upstream provides", by prefix).
                let Some(known) = candidates
                    .iter()
                    .map(|&(u, prefix)| offered(u, kind).map(|items| (u, prefix, items)))
                    .collect::<Option<Vec<(&str, &str, Vec<Offered>)>>>()
                    .filter(|known| !known.is_empty())
                else {
                    continue;
                };
                let published =
                    |items: &[Offered]| -> Vec<String> { items.iter().filter_map(|(_, p)| p.clone()).collect() };
                if known.iter().any(|(_, _, items)| items.iter().any(|(_, p)| p.as_deref() == Some(name))) {
                    continue;
                }
                let help = match why_not(name, kind, separator, &known) {
                    Some(why) => why,
                    None => {
                        let all: Vec<String> = known.iter().flat_map(|(_, _, items)| published(items)).collect();
                        let nearest = did_you_mean(name, all.iter().map(String::as_str));
                        let what: Vec<String> = known
                            .iter()
                            .map(|(upstream, _, items)| {
                                let names = published(items);
                                match names.len() {
                                    0 => format!("upstream \"{upstream}\" publishes no {}", kind.key()),
                                    n if n > LISTED => format!(
                                        "upstream \"{upstream}\" publishes {} and {} more",
                                        names[..LISTED].join(", "),
                                        n - LISTED
                                    ),
                                    _ => format!("upstream \"{upstream}\" publishes {}", names.join(", ")),
                                }
                            })
                            .collect();
                        let nearest = nearest.map(|m| format!("did you mean \"{m}\"? ")).unwrap_or_default();
                        format!("{nearest}{}", what.join("; "))
                    }
                };
                out.push(Unprovided {
                    path: format!("virtual_servers.{}.{}[{i}]", server.name, kind.key()),
                    name: name.to_string(),
                    message: format!("no upstream provides \"{name}\""),
                    help,
                });
            }
        }
    }
    out
}

/// Item patterns of rules that match nothing the upstreams able to publish a match publish.
fn unmatched_rule_patterns<'r>(
    rules: impl Iterator<Item = &'r Rule>,
    owners: &[(String, String)],
    separator: &str,
    offered: &dyn Fn(&str, ListKind) -> Option<Vec<Offered>>,
    out: &mut Vec<Unprovided>,
) {
    for rule in rules {
        let lists: [(ListKind, &[Pattern], &str); 3] = [
            (ListKind::Tools, &rule.tools, "tool"),
            (ListKind::Resources, &rule.resources, "resource"),
            (ListKind::Prompts, &rule.prompts, "prompt"),
        ];
        for (kind, patterns, noun) in lists {
            for (i, pattern) in patterns.iter().enumerate() {
                let text = pattern.as_str();
                // A literal prefixed name can only come from the upstreams with that prefix; a
                // pattern (or a URI) from any of them.
                let by_prefix = pattern.is_literal() && kind != ListKind::Resources;
                let candidates = owners.iter().filter(|(_, prefix)| {
                    !by_prefix || prefix.is_empty() || text.starts_with(&format!("{prefix}{separator}"))
                });
                let Some(known) = candidates
                    .map(|(u, prefix)| offered(u, kind).map(|items| (u.as_str(), prefix.as_str(), items)))
                    .collect::<Option<Vec<(&str, &str, Vec<Offered>)>>>()
                    .filter(|known| !known.is_empty())
                else {
                    continue;
                };
                let published: Vec<&str> =
                    known.iter().flat_map(|(_, _, items)| items.iter().filter_map(|(_, p)| p.as_deref())).collect();
                if published.iter().any(|name| pattern.matches(name)) {
                    continue;
                }
                let help = if pattern.is_literal() {
                    why_not(text, kind, separator, &known).or_else(|| {
                        did_you_mean(text, published.iter().copied()).map(|m| format!("did you mean \"{m}\"?"))
                    })
                } else {
                    None
                };
                let help = help.unwrap_or_else(|| match published.len() {
                    0 => format!("no upstream here publishes a {noun}"),
                    n if n > LISTED => format!("published: {} and {} more", published[..LISTED].join(", "), n - LISTED),
                    _ => format!("published: {}", published.join(", ")),
                });
                out.push(Unprovided {
                    path: format!("{}.{}[{i}]", rule.at, kind.key()),
                    name: text.to_string(),
                    message: format!(
                        "\"{text}\" matches no {noun} an upstream publishes, so this rule never applies to one"
                    ),
                    help,
                });
            }
        }
    }
}

/// When `name` is an item's own name with the prefix (the name before a rename, or an item the
/// filter hides): what happened to it.
fn why_not(name: &str, kind: ListKind, separator: &str, known: &[(&str, &str, Vec<Offered>)]) -> Option<String> {
    known.iter().find_map(|(upstream, prefix, items)| {
        let own = match kind {
            ListKind::Resources => name,
            _ if prefix.is_empty() => name,
            _ => name.strip_prefix(prefix)?.strip_prefix(separator)?,
        };
        let (key, public) = items.iter().find(|(key, _)| key == own)?;
        Some(match public {
            Some(public) => format!("did you mean \"{public}\"? upstream \"{upstream}\" renames \"{key}\" to it"),
            None => format!("upstream \"{upstream}\" offers \"{key}\", but its `{}` filter hides it", kind.key()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pattern;

    fn server(tools: &[&str], resources: &[&str]) -> VirtualServer {
        VirtualServer {
            name: "ops".into(),
            tools: tools.iter().map(|t| Pattern::new(t)).collect(),
            resources: resources.iter().map(|r| Pattern::new(r)).collect(),
            prompts: vec![],
            auth: None,
            access: Vec::new(),
        }
    }

    /// `inv` (prefix inv) offers three tools: one published, one renamed, one filtered out;
    /// `mcp` (prefix mcp) has unknown names.
    fn check(tools: &[&str], resources: &[&str]) -> Vec<String> {
        let owners = [("inv".to_string(), "inv".to_string()), ("mcp".to_string(), "mcp".to_string())];
        let offered = |upstream: &str, kind: ListKind| match (upstream, kind) {
            ("inv", ListKind::Tools) => Some(vec![
                ("list_items".to_string(), Some("inv_list_items".to_string())),
                ("get_item".to_string(), Some("inv_item".to_string())),
                ("drop_all".to_string(), None),
            ]),
            ("inv", _) => Some(vec![]),
            _ => None,
        };
        unprovided(&[server(tools, resources)], &[], &owners, "_", &offered)
            .into_iter()
            .map(|u| format!("{}: {} | {}", u.path, u.message, u.help))
            .collect()
    }

    #[test]
    fn names_are_judged_only_where_every_possible_owner_is_known() {
        assert!(check(&["inv_list_items", "inv_*", "*", "mcp_anything", "nobody_x"], &[]).is_empty());
        assert_eq!(
            check(&["inv_list_itemz", "inv_get_item", "inv_drop_all"], &[]),
            [
                "virtual_servers.ops.tools[0]: no upstream provides \"inv_list_itemz\" | did you mean \"inv_list_items\"? \
                 upstream \"inv\" publishes inv_list_items, inv_item",
                "virtual_servers.ops.tools[1]: no upstream provides \"inv_get_item\" | did you mean \"inv_item\"? \
                 upstream \"inv\" renames \"get_item\" to it",
                "virtual_servers.ops.tools[2]: no upstream provides \"inv_drop_all\" | \
                 upstream \"inv\" offers \"drop_all\", but its `tools` filter hides it",
            ]
        );
        // Any upstream may publish a resource URI, and `mcp`'s are unknown.
        assert!(check(&[], &["file:///a"]).is_empty());
    }
}
