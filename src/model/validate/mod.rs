//! `validate`: raw config → `Model`, with every problem found in one pass.

mod access;
mod auth;
mod forwarding;
mod rest;
mod serving;
mod upstream;

use std::path::Path;
use std::time::Duration;

use crate::config::env::{Env, ExpandError, expand};
use crate::config::{Diagnostic, Imported, Loaded, Positions, Syntax};

use super::auth::{Auth, KeyChecks};
use super::{DEFAULT_SERVER, ListKind, Model, Pattern, RestChecks, Secret, Transport, VirtualServer, parse_duration};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Checks and resolves a loaded file, REST tools for structure only (none compiled, no host
/// refused): for tests of what comes after validation. Serving validates with `validate_with`.
#[cfg(test)]
pub(crate) fn validate(loaded: &Loaded, env: &dyn Env, base_dir: &Path) -> (Option<Model>, Vec<Diagnostic>) {
    validate_with(loaded, env, base_dir, &Structural, &Structural)
}

/// Checks and resolves a loaded file. `base_dir` is the config file's directory (relative `cwd`s
/// are taken from there); `checks` compiles REST tools and judges their hosts (`rest::Checks`).
/// Returns the model only when there is no error; warnings come either way.
pub(crate) fn validate_with(
    loaded: &Loaded,
    env: &dyn Env,
    base_dir: &Path,
    checks: &dyn RestChecks,
    keys: &dyn KeyChecks,
) -> (Option<Model>, Vec<Diagnostic>) {
    let mut v = Validator {
        positions: &loaded.positions,
        env,
        imported: &loaded.imported,
        files: &loaded.files,
        checks,
        keys,
        syntax: loaded.syntax,
        out: Vec::new(),
    };
    let raw = &loaded.raw;

    let listen = v.listen(raw.listen.as_deref());
    let separator = raw.naming.as_ref().and_then(|n| n.separator.clone()).unwrap_or_else(|| "_".into());
    if separator.chars().any(char::is_whitespace) {
        v.error("naming.separator", format!("separator {separator:?} contains whitespace"), "use `_`, `.` or `-`");
    }

    let mut upstreams = Vec::new();
    let mut prefixes = Vec::new();
    // A file without `upstreams` is refused rather than read as "none": editors and deploy tools
    // truncate files before writing them, and a reload of such a file would stop every upstream.
    match &raw.upstreams {
        None if loaded.positions.get("upstreams").is_some() => v.error(
            "upstreams",
            "`upstreams` has no value",
            &format!("list the upstreams under it, or write {} to run with none", v.syntax.assign("upstreams", "{}")),
        ),
        None => v.error(
            "upstreams",
            "required key is missing",
            &format!(
                "declare the upstreams {}, or write {} to run with none \
                 (a file without the key may have been cut short while it was written)",
                v.syntax.entries_of("upstreams"),
                v.syntax.assign("upstreams", "{}")
            ),
        ),
        Some(declared) if declared.is_empty() => v.warning(
            "upstreams",
            "no upstreams are declared; every catalog is empty",
            &format!("add an upstream {}", v.syntax.entries_of("upstreams")),
        ),
        Some(_) => {}
    }
    for (name, up) in raw.upstreams() {
        prefixes.push((name.clone(), up.prefix.clone().unwrap_or_else(|| name.clone())));
        if let Some(u) = v.upstream(name, up, base_dir) {
            upstreams.push(u);
        }
    }
    v.prefixes(&prefixes, &separator);

    let virtual_servers = match &raw.virtual_servers {
        None => vec![VirtualServer {
            name: DEFAULT_SERVER.into(),
            tools: vec![Pattern::new("*")],
            resources: vec![Pattern::new("*")],
            prompts: vec![Pattern::new("*")],
            auth: None,
            access: Vec::new(),
        }],
        Some(servers) => {
            let mut out = Vec::new();
            for (name, s) in servers {
                let path = format!("virtual_servers.{name}");
                v.check_name(&path, name, "virtual server");
                let mut patterns = |kind: &str, list: &Option<Vec<String>>| -> Vec<Pattern> {
                    list.iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, p)| {
                            if p.is_empty() {
                                v.error(&format!("{path}.{kind}[{i}]"), "empty pattern", "write a name or `*`");
                            }
                            Pattern::new(p)
                        })
                        .collect()
                };
                let tools = patterns("tools", &s.tools);
                let resources = patterns("resources", &s.resources);
                let prompts = patterns("prompts", &s.prompts);
                let auth = s.auth.as_ref().map(|a| v.auth(&format!("{path}.auth"), Some(a)));
                let access = v.access(&format!("{path}.access"), s.access.as_deref());
                let vs = VirtualServer { name: name.clone(), tools, resources, prompts, auth, access };
                v.literal_names_have_an_owner(&path, &vs, &prefixes, &separator);
                out.push(vs);
            }
            if !servers.contains_key(DEFAULT_SERVER) {
                let add = match v.syntax {
                    Syntax::Yaml => "`default:`".to_string(),
                    Syntax::Toml => "`[virtual_servers.default]`".to_string(),
                };
                v.warning(
                    "virtual_servers",
                    "no virtual server is named `default`, so `/mcp` serves nothing",
                    &format!("add {add} or point clients at /servers/<name>/mcp"),
                );
            }
            out
        }
    };

    let access = v.access("access", raw.access.as_deref());
    // REST tools are known now: a literal name no API publishes is most likely a typo.
    let offered = |name: &str, kind: ListKind| -> Option<Vec<super::Offered>> {
        let up = upstreams.iter().find(|u| u.name == name)?;
        let Transport::Rest(api) = &up.transport else { return None };
        // An API with a broken tool does not know all its names yet.
        let own = format!("upstreams.{name}.");
        if v.out.iter().any(|d| d.is_error() && d.path.starts_with(&own)) {
            return None;
        }
        Some(match kind {
            ListKind::Tools => {
                api.tools.iter().map(|t| (t.name.clone(), up.published_as(kind, &t.name, &separator))).collect()
            }
            ListKind::Resources | ListKind::Prompts => Vec::new(),
        })
    };
    let unprovided = super::unprovided(&virtual_servers, &access, &prefixes, &separator, &offered);
    for u in unprovided {
        v.warning(&u.path, u.message, &u.help);
    }

    let serving = v.serving(raw.serving.as_ref());
    let auth = v.auth("auth", raw.auth.as_ref());
    v.auth_exposure(listen, &auth, "auth");
    for vs in &virtual_servers {
        if let Some(own) = &vs.auth {
            v.auth_exposure(listen, own, &format!("virtual_servers.{}.auth", vs.name));
        }
    }
    let auths: Vec<(String, &Auth)> = std::iter::once(("auth".to_string(), &auth))
        .chain(
            virtual_servers
                .iter()
                .filter_map(|vs| Some((format!("virtual_servers.{}.auth", vs.name), vs.auth.as_ref()?))),
        )
        .collect();
    v.mtls_fits_listener(&auths, serving.tls.is_some());
    // Each rule is judged against the authentication of every virtual server it applies to, once.
    let mut judged = std::collections::HashSet::new();
    for vs in &virtual_servers {
        let (own, at) = match &vs.auth {
            Some(own) => (own, format!("virtual_servers.{}.auth", vs.name)),
            None => (&auth, "auth".to_string()),
        };
        let rules: Vec<_> =
            access.iter().chain(&vs.access).filter(|r| judged.insert((r.at.clone(), at.clone()))).cloned().collect();
        v.access_fits_auth(&rules, own, &at);
    }
    // What reading the file already reported (an unknown key, a value of the wrong type) is not
    // reported again as its consequence: a section left without its kind, a key gone missing.
    v.out.retain(|d| !is_consequence(&d.path, &loaded.left_out));
    v.out.sort_by_key(|d| (d.line, d.column));
    let errors = v.out.iter().chain(&loaded.findings).any(Diagnostic::is_error);
    let model = (!errors).then_some(Model { listen, auth, access, separator, upstreams, virtual_servers, serving });
    (model, v.out)
}

struct Validator<'a> {
    positions: &'a Positions,
    env: &'a dyn Env,
    imported: &'a std::collections::HashMap<String, Imported>,
    /// Files the config names (htpasswd, PEM keys), as `reload::prepare` read them.
    files: &'a std::collections::HashMap<String, Result<String, String>>,
    checks: &'a dyn RestChecks,
    keys: &'a dyn KeyChecks,
    /// How the file spells keys, for help lines.
    syntax: Syntax,
    out: Vec<Diagnostic>,
}

/// Whether a finding at `path` follows from a problem already reported at one of `left_out`:
/// it is about that very key, something inside it, or the section holding it.
fn is_consequence(path: &str, left_out: &[String]) -> bool {
    left_out.iter().any(|f| {
        f == path
            || crate::config::de::parent(f) == Some(path)
            || path.strip_prefix(f.as_str()).is_some_and(|rest| rest.starts_with(['.', '[']))
    })
}

/// REST tools checked for structure only.
#[cfg(test)]
struct Structural;

#[cfg(test)]
impl KeyChecks for Structural {
    fn public_key(&self, _: &str) -> Result<Vec<&'static str>, String> {
        Ok(super::auth::ALGORITHMS.to_vec())
    }

    fn tls(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }

    fn client_ca(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
impl RestChecks for Structural {
    fn refused_host(&self, _: &url::Host<&str>) -> Option<String> {
        None
    }

    fn compile(&self, _: &super::RestTool) -> Result<(), Vec<super::rest::Problem>> {
        Ok(())
    }
}

impl Validator<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>, help: &str) {
        self.out.push(Diagnostic::error(self.positions.of(path), path, message).with_help(help));
    }

    fn warning(&mut self, path: &str, message: impl Into<String>, help: &str) {
        self.out.push(Diagnostic::warning(self.positions.of(path), path, message).with_help(help));
    }

    /// Expands `${VAR}` in a value; on failure reports it (by reference only) and returns `None`.
    fn expand(&mut self, path: &str, text: &str) -> Option<String> {
        match expand(text, self.env) {
            Ok(v) => Some(v),
            Err(ExpandError::Unset(var)) => {
                self.error(
                    path,
                    format!("environment variable {var} is not set"),
                    &format!("set {var}, or give a default: ${{{var}:-value}}"),
                );
                None
            }
            Err(ExpandError::Malformed(what)) => {
                self.error(
                    path,
                    format!("malformed variable reference {what}"),
                    "write ${NAME} or ${NAME:-default}; $$ is a literal $",
                );
                None
            }
        }
    }

    /// A positive duration such as `500ms` or `30s`; `default` when absent or (reported) unreadable.
    fn duration(&mut self, path: &str, text: Option<&str>, default: Duration) -> Duration {
        let Some(t) = text else { return default };
        match parse_duration(t) {
            Some(d) if !d.is_zero() => d,
            Some(_) => {
                self.error(path, format!("\"{t}\" is zero; this wait must last"), "write e.g. 500ms, 30s or 2m");
                default
            }
            None => {
                self.error(path, format!("\"{t}\" is not a duration"), "write e.g. 500ms, 30s or 2m");
                default
            }
        }
    }

    /// A limit that `0s` turns off (`None`); `default_secs` when not given or not a duration.
    fn duration_or_none(&mut self, path: &str, text: Option<&str>, default_secs: u64) -> Option<Duration> {
        let default = Some(Duration::from_secs(default_secs));
        let Some(t) = text else { return default };
        match parse_duration(t) {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => {
                self.error(
                    path,
                    format!("\"{t}\" is not a duration"),
                    &format!("write e.g. {default_secs}s, or 0s for none"),
                );
                default
            }
        }
    }

    fn secret(&mut self, path: &str, text: &str) -> Option<Secret> {
        self.expand(path, text).map(|v| Secret::new(v, text.to_string()))
    }

    /// A secret that belongs in the environment: written literally, it is taken with a warning.
    fn secret_from_env(&mut self, path: &str, text: &str) -> Option<Secret> {
        if !text.contains("${") {
            self.warning(path, "the secret is written in the file", "write it as ${VARIABLE} and set the variable");
        }
        self.secret(path, text)
    }

    fn check_name(&mut self, path: &str, name: &str, what: &str) {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            self.error(
                path,
                format!("{what} name \"{name}\" has characters other than letters, digits, `_` and `-`"),
                "rename it; the name appears in URLs and item names",
            );
        }
    }

    /// Two upstreams with one prefix would publish colliding names, so that is an error;
    /// prefixes that nest (`a` and `a_b`) or are empty only may collide, so they are warnings.
    fn prefixes(&mut self, upstreams: &[(String, String)], separator: &str) {
        struct Named<'a> {
            name: &'a str,
            prefix: &'a str,
        }
        let upstreams: Vec<Named<'_>> = upstreams.iter().map(|(n, p)| Named { name: n, prefix: p }).collect();
        for (i, a) in upstreams.iter().enumerate() {
            for b in &upstreams[..i] {
                let path = format!("upstreams.{}.prefix", a.name);
                if a.prefix == b.prefix && !a.prefix.is_empty() {
                    self.error(
                        &path,
                        format!("upstreams \"{}\" and \"{}\" both use the prefix \"{}\"", b.name, a.name, a.prefix),
                        &format!("give one of them another {}", self.syntax.key("prefix")),
                    );
                } else if a.prefix.is_empty() && b.prefix.is_empty() {
                    self.warning(
                        &path,
                        format!(
                            "upstreams \"{}\" and \"{}\" are both unprefixed, so their item names may collide",
                            b.name, a.name
                        ),
                        &format!(
                            "on a collision the upstream listed first wins; set a {} to avoid it",
                            self.syntax.key("prefix")
                        ),
                    );
                } else if !a.prefix.is_empty() && !b.prefix.is_empty() {
                    let (short, long) = if a.prefix.len() < b.prefix.len() { (a, b) } else { (b, a) };
                    if long.prefix.starts_with(&format!("{}{separator}", short.prefix)) && long.prefix != short.prefix {
                        self.warning(&path, format!("prefix \"{}\" of \"{}\" starts with prefix \"{}\" of \"{}\", so their item names may collide", long.prefix, long.name, short.prefix, short.name), "on a collision the upstream listed first wins; pick prefixes that do not nest");
                    }
                }
            }
        }
    }

    /// A literal tool or prompt name in a virtual server must start with some upstream's prefix.
    /// `prefixes` are every declared upstream's (name, prefix), valid or not, so an upstream with
    /// its own errors does not also make the names it provides look unowned.
    fn literal_names_have_an_owner(
        &mut self,
        path: &str,
        vs: &VirtualServer,
        prefixes: &[(String, String)],
        sep: &str,
    ) {
        if prefixes.iter().any(|(_, prefix)| prefix.is_empty()) {
            return;
        }
        for (kind, list) in [("tools", &vs.tools), ("prompts", &vs.prompts)] {
            for (i, p) in list.iter().enumerate() {
                let name = p.as_str();
                let owned = prefixes.iter().any(|(_, prefix)| name.starts_with(&format!("{prefix}{sep}")));
                if p.is_literal() && !name.is_empty() && !owned {
                    let listed: Vec<String> = prefixes.iter().map(|(_, prefix)| format!("{prefix}{sep}")).collect();
                    let help = match near_miss(name, prefixes, sep) {
                        Some(fixed) => format!("did you mean \"{fixed}\"? public names are <prefix>{sep}<name>"),
                        None if listed.is_empty() => "no upstream is declared".to_string(),
                        None => format!("public names are <prefix>{sep}<name>; prefixes here: {}", listed.join(", ")),
                    };
                    self.error(&format!("{path}.{kind}[{i}]"), format!("no upstream provides \"{name}\""), &help);
                }
            }
        }
    }
}

/// `jira.create_issue` when the prefix is `jira` and the separator `_`: the name with the right separator.
fn near_miss(name: &str, prefixes: &[(String, String)], sep: &str) -> Option<String> {
    prefixes.iter().find_map(|(_, prefix)| {
        let rest = name.strip_prefix(prefix.as_str())?;
        let mut chars = rest.chars();
        let punct = chars.next().filter(|c| matches!(c, '.' | '-' | ':' | '/' | '_'))?;
        (!sep.starts_with(punct) && !chars.as_str().is_empty()).then(|| format!("{prefix}{sep}{}", chars.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config;
    use crate::model::Era;

    fn check(yaml: &str) -> (Option<Model>, Vec<String>) {
        let loaded = config::parse(Path::new("g.yaml"), yaml).unwrap_or_else(|d| panic!("{d:?}"));
        let env: HashMap<String, String> = [("TOKEN".to_string(), "s3cret".to_string())].into();
        let (model, ds) = validate(&loaded, &env, Path::new("/etc/mcpgw"));
        (model, ds.iter().map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message)).collect())
    }

    #[test]
    fn old_era_spellings_still_work_with_a_warning() {
        let (model, ds) = check(
            "upstreams:\n  a: { url: 'http://h/mcp', era: modern }\n  b: { url: 'http://h/mcp', era: session }\n",
        );
        assert_eq!(model.unwrap().upstreams[0].era, Era::Stateless);
        assert_eq!(ds, ["2:34 upstreams.a.era: `era: modern` is the old spelling of `era: stateless`"]);
    }

    #[test]
    fn a_minimal_file_gets_defaults() {
        let (model, ds) = check("upstreams:\n  time: { stdio: { command: uvx, cwd: sub } }\n");
        assert!(ds.is_empty(), "{ds:?}");
        let m = model.unwrap();
        assert_eq!(m.listen.to_string(), "127.0.0.1:4444");
        assert_eq!(m.upstreams[0].prefix, "time");
        assert_eq!(m.virtual_servers[0].name, "default");
        let Transport::Stdio(cmd) = &m.upstreams[0].transport else { panic!() };
        assert_eq!(cmd.cwd, Path::new("/etc/mcpgw/sub"));
    }

    #[test]
    fn secrets_expand_but_print_by_reference() {
        let (model, _) = check("upstreams:\n  d: { url: 'http://h/mcp', headers: { A: 'Bearer ${TOKEN}' } }\n");
        let Transport::StreamableHttp { headers, .. } = &model.unwrap().upstreams[0].transport else { panic!() };
        assert_eq!(headers[0].1.expose(), "Bearer s3cret");
        assert_eq!(format!("{:?}", headers[0].1), "\"Bearer ${TOKEN}\"");
    }

    #[test]
    fn unset_variables_are_errors_naming_the_variable() {
        let (model, ds) = check("upstreams:\n  d:\n    url: 'http://h/mcp'\n    headers: { A: '${NOPE}' }\n");
        assert!(model.is_none());
        assert_eq!(ds, ["4:19 upstreams.d.headers.A: environment variable NOPE is not set"]);
    }

    #[test]
    fn every_problem_is_reported_in_one_pass() {
        let (_, ds) = check(
            "listen: nowhere\nupstreams:\n  a: { url: 'ftp://x' }\n  b: {}\n  c: { url: 'http://h', prefix: a }\n\
             virtual_servers:\n  default: { tools: [jira_x] }\n",
        );
        assert_eq!(
            ds,
            [
                "1:9 listen: \"nowhere\" is not an address to listen on",
                "3:13 upstreams.a.url: \"ftp://x\" is not an http(s) URL",
                "4:3 upstreams.b: no kind of upstream is given",
                "5:33 upstreams.c.prefix: upstreams \"a\" and \"c\" both use the prefix \"a\"",
                "7:22 virtual_servers.default.tools[0]: no upstream provides \"jira_x\"",
            ]
        );
    }

    /// What `check` reports for `yaml`: reading's findings and validation's, in file order.
    fn check_all(yaml: &str) -> Vec<String> {
        let loaded = config::parse(Path::new("g.yaml"), yaml).unwrap_or_else(|d| panic!("{d:?}"));
        let (model, ds) = validate(&loaded, &HashMap::<String, String>::new(), Path::new("."));
        let mut all: Vec<&Diagnostic> = loaded.findings.iter().chain(&ds).collect();
        all.sort_by_key(|d| (d.line, d.column));
        assert!(model.is_none() || all.iter().all(|d| !d.is_error()), "errors leave no model");
        all.iter().map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message)).collect()
    }

    /// An upstream with an error is still an owner: the names it provides are not also "unowned".
    #[test]
    fn an_unset_variable_is_reported_once_even_when_a_virtual_server_names_its_tools() {
        let ds = check_all(
            "upstreams:\n  docs:\n    url: https://docs.example.com/mcp\n    headers: { A: 'Bearer ${DOCS_TOKEN}' }\n\
             virtual_servers:\n  default: { tools: ['*'] }\n  ops: { tools: [docs_search, docs_find] }\n",
        );
        assert_eq!(ds, ["4:19 upstreams.docs.headers.A: environment variable DOCS_TOKEN is not set"]);
    }

    /// A misspelt key and a wrong value elsewhere are both reported, each once.
    #[test]
    fn a_misspelt_key_does_not_hide_a_wrong_value_elsewhere() {
        let ds = check_all(
            "upstreams:\n  time:\n    stdio: { command: uvx }\n    timout: 30s\n  docs:\n    url: ftp://docs.example.com/mcp\n  \
             local:\n    stdo: { command: uvx }\n  bad:\n    stdio: { command: uvx, args: mcp-server-time }\n    timeout: soon\n",
        );
        assert_eq!(
            ds,
            [
                "4:5 upstreams.time.timout: unknown key \"timout\"",
                "6:10 upstreams.docs.url: \"ftp://docs.example.com/mcp\" is not an http(s) URL",
                // Not also "no kind of upstream is given": `stdo` is what went wrong.
                "8:5 upstreams.local.stdo: unknown key \"stdo\"",
                "10:34 upstreams.bad.stdio.args: expected a list, found a string",
                "11:14 upstreams.bad.timeout: \"soon\" is not a duration",
            ]
        );
    }

    #[test]
    fn reconnect_takes_a_zero_grace_but_no_zero_delay() {
        let (model, ds) = check("upstreams:\n  a: { url: 'http://h', reconnect: { grace: 0s, max_delay: 5s } }\n");
        let reconnect = model.unwrap().upstreams[0].reconnect;
        assert_eq!((reconnect.grace, reconnect.max_delay), (Duration::ZERO, Duration::from_secs(5)), "{ds:?}");
        let ds = check_all("upstreams:\n  a: { url: 'http://h', reconnect: { grace: soon, max_delay: 0s } }\n");
        assert_eq!(
            ds,
            [
                "2:45 upstreams.a.reconnect.grace: \"soon\" is not a duration",
                "2:62 upstreams.a.reconnect.max_delay: \"0s\" is zero; this wait must last",
            ]
        );
    }

    #[test]
    fn nested_prefixes_warn() {
        let (model, ds) = check("upstreams:\n  a: { url: 'http://h' }\n  a_b: { url: 'http://h' }\n");
        assert!(model.is_some());
        assert_eq!(ds.len(), 1);
        assert!(ds[0].contains("may collide"), "{ds:?}");
    }

    use crate::model::RestTool;
    use crate::model::rest::Problem;

    /// Stands in for `rest::Checks`: refuses the host `private.example`, fails tools whose path is `/broken`.
    struct Fake;

    impl RestChecks for Fake {
        fn refused_host(&self, host: &url::Host<&str>) -> Option<String> {
            (host.to_string() == "private.example").then(|| "it is private".into())
        }

        fn compile(&self, tool: &RestTool) -> Result<(), Vec<Problem>> {
            let broken = Problem::error("path", "broken", "mend it");
            if tool.path == "/broken" { Err(vec![broken]) } else { Ok(()) }
        }
    }

    #[test]
    fn rest_checks_report_at_the_keys_and_a_failing_tool_is_left_out() {
        let yaml = "upstreams:\n  api:\n    rest:\n      base_url: https://private.example\n      \
                    tools: { t: { path: /broken } }\n    tools: { shape: { t: { title: T } } }\n";
        let loaded = config::parse(Path::new("g.yaml"), yaml).unwrap();
        let (model, ds) = validate_with(&loaded, &HashMap::<String, String>::new(), Path::new("."), &Fake, &Structural);
        let ds: Vec<String> = ds.iter().map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message)).collect();
        assert!(model.is_none());
        assert_eq!(
            ds,
            [
                "4:17 upstreams.api.rest.base_url: requests to https://private.example/ are refused: it is private",
                "5:27 upstreams.api.rest.tools.t.path: broken",
                "6:23 upstreams.api.tools.shape.t: the API declares no tool \"t\"",
            ]
        );
        assert!(check(yaml).1.is_empty(), "without the checks only the structure is checked");
    }

    #[test]
    fn allowed_hosts_are_only_what_the_file_says() {
        let (model, _) = check("listen: 0.0.0.0:80\nupstreams: {}\n");
        assert_eq!(model.unwrap().serving.allowed_hosts, None);
        let (model, _) = check("serving: { allowed_hosts: [a.example] }\nupstreams: {}\n");
        assert_eq!(model.unwrap().serving.allowed_hosts, Some(vec!["a.example".to_string()]));
    }
}
