//! Upstream definitions: the kind of upstream and its transport, timeouts, sessions, era,
//! filters, tool shapes and reconnect settings.

use std::path::Path;

use crate::config::raw::{RawEra, RawFilter, RawOnChange, RawResendLost, RawSessions, RawStdio, RawUpstream};

use super::super::{
    ArgumentShape, Era, ItemFilter, OnChange, Pattern, Reconnect, Secret, Sessions, StdioCommand, ToolShape, Transport,
    Upstream, parse_duration,
};
use super::{DEFAULT_TIMEOUT, Validator};

impl Validator<'_> {
    pub(super) fn upstream(&mut self, name: &str, up: &RawUpstream, base_dir: &Path) -> Option<Upstream> {
        let path = format!("upstreams.{name}");
        self.check_name(&path, name, "upstream");
        let kinds: Vec<&str> = [
            ("stdio", up.stdio.is_some()),
            ("url", up.url.is_some()),
            ("sse", up.sse.is_some()),
            ("websocket", up.websocket.is_some()),
            ("rest", up.rest.is_some()),
            ("openapi", up.openapi.is_some()),
        ]
        .iter()
        .filter(|(_, given)| *given)
        .map(|(k, _)| *k)
        .collect();
        let timeout = self.duration(&format!("{path}.timeout"), up.timeout.as_deref(), DEFAULT_TIMEOUT);
        let transport = match kinds.as_slice() {
            ["stdio"] => {
                let stdio = up.stdio.as_ref().expect("stdio is given");
                if up.headers.is_some() {
                    self.error(
                        &format!("{path}.headers"),
                        "`headers` applies to url, sse and websocket upstreams only",
                        "remove it, or pass values through `stdio.env`",
                    );
                }
                self.stdio(&format!("{path}.stdio"), stdio, base_dir)
            }
            [kind @ ("rest" | "openapi")] => {
                if up.headers.is_some() {
                    self.error(
                        &format!("{path}.headers"),
                        format!("a REST API takes its headers under `{kind}.headers`"),
                        &format!("move them to {kind}.headers"),
                    );
                }
                if up.sessions.is_some() {
                    self.error(
                        &format!("{path}.sessions"),
                        "`sessions` applies to MCP upstreams; REST calls hold no session",
                        "remove it",
                    );
                }
                match &up.rest {
                    Some(rest) => self.rest(&format!("{path}.rest"), rest, timeout),
                    None => self.openapi(
                        &format!("{path}.openapi"),
                        name,
                        up.openapi.as_ref().expect("openapi is given"),
                        timeout,
                    ),
                }
            }
            [kind] => {
                let (text, schemes, example) = match *kind {
                    "url" => (up.url.as_ref(), ["http", "https"], "https://example.com/mcp"),
                    "sse" => (up.sse.as_ref(), ["http", "https"], "https://example.com/sse"),
                    _ => (up.websocket.as_ref(), ["ws", "wss"], "wss://example.com/ws"),
                };
                let text = text.expect("the kind is given");
                let p = format!("{path}.{kind}");
                let parsed = self.expand(&p, text).and_then(|u| match url::Url::parse(&u) {
                    Ok(parsed) if schemes.contains(&parsed.scheme()) && parsed.has_host() => Some(parsed),
                    _ => {
                        self.error(
                            &p,
                            format!(
                                "\"{text}\" is not {} URL",
                                if schemes[0] == "ws" { "a ws(s)" } else { "an http(s)" }
                            ),
                            &format!("write the endpoint, e.g. {example}"),
                        );
                        None
                    }
                });
                let headers: Vec<Option<(String, Secret)>> = up
                    .headers
                    .iter()
                    .flatten()
                    .map(|(k, val)| self.secret(&format!("{path}.headers.{k}"), val).map(|s| (k.clone(), s)))
                    .collect();
                let (url, headers) = (parsed?, headers.into_iter().collect::<Option<_>>()?);
                Some(match *kind {
                    "url" => Transport::StreamableHttp { url, headers },
                    "sse" => Transport::Sse { url, headers },
                    _ => Transport::WebSocket { url, headers },
                })
            }
            [] => {
                self.error(
                    &path,
                    "no kind of upstream is given",
                    "give exactly one of stdio, url, sse, websocket, rest, openapi",
                );
                None
            }
            several => {
                self.error(
                    &path,
                    format!("several kinds of upstream are given: {}", several.join(", ")),
                    "give exactly one of stdio, url, sse, websocket, rest, openapi",
                );
                None
            }
        };
        let prefix = up.prefix.clone().unwrap_or_else(|| name.to_string());
        // A defaulted prefix is the name, whose characters were checked above.
        if up.prefix.is_some() && prefix.chars().any(char::is_whitespace) {
            self.error(
                &format!("{path}.prefix"),
                format!("prefix {prefix:?} contains whitespace"),
                "use letters, digits, `_` or `-`",
            );
        }
        let tools = self.filter(&format!("{path}.tools"), up.tools.as_ref(), true);
        let resources = self.filter(&format!("{path}.resources"), up.resources.as_ref(), false);
        let prompts = self.filter(&format!("{path}.prompts"), up.prompts.as_ref(), true);
        let shapes = self.shapes(&format!("{path}.tools.shape"), up.tools.as_ref(), &tools);
        for (kind, filter) in [("resources", &up.resources), ("prompts", &up.prompts)] {
            if filter.as_ref().is_some_and(|f| f.shape.is_some()) {
                self.error(&format!("{path}.{kind}.shape"), "`shape` applies to tools only", "remove it");
            }
        }
        if let Some(Transport::Rest(api)) = &transport {
            for shape in &shapes {
                if !api.tools.iter().any(|t| t.name == shape.tool) {
                    let help = match crate::config::diagnostic::did_you_mean(
                        &shape.tool,
                        api.tools.iter().map(|t| t.name.as_str()),
                    ) {
                        Some(m) => format!("did you mean \"{m}\"? shapes name tools as the API declares them"),
                        None => "shapes name tools as the API declares them, before prefix and rename".into(),
                    };
                    self.error(
                        &format!("{path}.tools.shape.{}", shape.tool),
                        format!("the API declares no tool \"{}\"", shape.tool),
                        &help,
                    );
                }
            }
        }
        let sessions = match up.sessions {
            None | Some(RawSessions::Auto) => Sessions::Auto,
            Some(RawSessions::PerClient) => Sessions::PerClient,
            Some(RawSessions::Shared) => Sessions::Shared,
        };
        let era = match up.era {
            None | Some(RawEra::Auto) => Era::Auto,
            Some(RawEra::Session) => Era::Session,
            Some(RawEra::Stateless) => Era::Stateless,
            Some(old @ (RawEra::Legacy | RawEra::Modern)) => {
                let (was, now) = if old == RawEra::Legacy { ("legacy", "session") } else { ("modern", "stateless") };
                let (was, now) = (self.syntax.assign_str("era", was), self.syntax.assign_str("era", now));
                self.warning(
                    &format!("{path}.era"),
                    format!("{was} is the old spelling of {now}"),
                    &format!("write {now}"),
                );
                if old == RawEra::Legacy { Era::Session } else { Era::Stateless }
            }
        };
        if era != Era::Auto && (up.sse.is_some() || up.websocket.is_some() || up.rest.is_some() || up.openapi.is_some())
        {
            self.error(
                &format!("{path}.era"),
                "`era` applies to stdio and `url` upstreams; the others have one era",
                "remove it",
            );
        }
        let forwarding = self.forwarding(&path, up, transport.as_ref());
        let reconnect = self.reconnect(&path, up);
        Some(Upstream {
            name: name.to_string(),
            prefix,
            forwarding,
            transport: transport?,
            tools,
            resources,
            prompts,
            timeout,
            sessions,
            era,
            shapes,
            reconnect,
        })
    }

    /// `reconnect:`; a grace of zero is allowed (items withdrawn at once), a delay of zero is not.
    fn reconnect(&mut self, path: &str, up: &RawUpstream) -> Reconnect {
        let defaults = Reconnect::default();
        let Some(raw) = &up.reconnect else { return defaults };
        let grace = match raw.grace.as_deref() {
            None => defaults.grace,
            Some(t) => parse_duration(t).unwrap_or_else(|| {
                self.error(
                    &format!("{path}.reconnect.grace"),
                    format!("\"{t}\" is not a duration"),
                    "write e.g. 0s, 30s or 2m",
                );
                defaults.grace
            }),
        };
        let max_delay =
            self.duration(&format!("{path}.reconnect.max_delay"), raw.max_delay.as_deref(), defaults.max_delay);
        if up.rest.is_some() || up.openapi.is_some() {
            self.warning(
                &format!("{path}.reconnect"),
                "a REST API holds no connection to lose, so `reconnect` does nothing here",
                "remove it",
            );
        }
        let resend_idempotent = raw.resend_lost != Some(RawResendLost::Never);
        Reconnect { grace, max_delay, resend_idempotent }
    }

    fn stdio(&mut self, p: &str, stdio: &RawStdio, base_dir: &Path) -> Option<Transport> {
        let command = self.expand(&format!("{p}.command"), &stdio.command);
        if stdio.command.trim().is_empty() {
            self.error(
                &format!("{p}.command"),
                "the command is empty",
                "name the program to run, e.g. `uvx` or `node`",
            );
        }
        let args: Vec<Option<String>> =
            stdio.args.iter().enumerate().map(|(i, a)| self.expand(&format!("{p}.args[{i}]"), a)).collect();
        let env: Vec<Option<(String, Secret)>> = stdio
            .env
            .iter()
            .flatten()
            .map(|(k, val)| self.secret(&format!("{p}.env.{k}"), val).map(|s| (k.clone(), s)))
            .collect();
        let cwd = match &stdio.cwd {
            Some(c) => self.expand(&format!("{p}.cwd"), c).map(|c| base_dir.join(c)),
            None => Some(base_dir.to_path_buf()),
        };
        Some(Transport::Stdio(StdioCommand {
            command: command?,
            args: args.into_iter().collect::<Option<_>>()?,
            env: env.into_iter().collect::<Option<_>>()?,
            cwd: cwd?,
        }))
    }

    fn filter(&mut self, path: &str, raw: Option<&RawFilter>, renamable: bool) -> ItemFilter {
        let Some(raw) = raw else {
            return ItemFilter::default();
        };
        let patterns = |list: &Option<Vec<String>>| list.iter().flatten().map(|p| Pattern::new(p)).collect();
        let mut rename: Vec<(String, String)> = Vec::new();
        if let Some(map) = &raw.rename {
            if !renamable {
                self.error(
                    &format!("{path}.rename"),
                    "resources keep their URIs and cannot be renamed",
                    "remove `rename` here",
                );
            }
            for (from, to) in map {
                if let Some((other, _)) = rename.iter().find(|(_, t)| t == to) {
                    self.error(
                        &format!("{path}.rename.{from}"),
                        format!("\"{from}\" and \"{other}\" are both renamed to \"{to}\""),
                        "give each a different name",
                    );
                }
                if to.is_empty() {
                    self.error(&format!("{path}.rename.{from}"), "the new name is empty", "give a name");
                }
                rename.push((from.clone(), to.clone()));
            }
        }
        ItemFilter { include: patterns(&raw.include), exclude: patterns(&raw.exclude), rename }
    }

    fn shapes(&mut self, path: &str, raw: Option<&RawFilter>, filter: &ItemFilter) -> Vec<ToolShape> {
        let mut out = Vec::new();
        for (tool, raw) in raw.and_then(|f| f.shape.as_ref()).into_iter().flatten() {
            let tp = format!("{path}.{tool}");
            if filter.apply(tool).is_none() {
                self.warning(
                    &tp,
                    format!("the upstream's filter hides \"{tool}\", so this shape is never used"),
                    "shapes name tools before rename; check include and exclude",
                );
            }
            let annotations = match &raw.annotations {
                None => serde_json::Map::new(),
                Some(serde_json::Value::Object(map)) => map.clone(),
                Some(_) => {
                    self.error(
                        &format!("{tp}.annotations"),
                        "annotations must be a mapping",
                        &format!("e.g. {}", self.syntax.inline("readOnlyHint", "true")),
                    );
                    serde_json::Map::new()
                }
            };
            let mut arguments = Vec::new();
            for (name, arg) in raw.arguments.iter().flatten() {
                let ap = format!("{tp}.arguments.{name}");
                let shape = match (&arg.value, &arg.default, arg.hide) {
                    (Some(v), None, None | Some(false)) => ArgumentShape::Fixed(v.clone()),
                    (None, Some(d), None | Some(false)) => ArgumentShape::Default(d.clone()),
                    (None, None, Some(true)) => ArgumentShape::Hidden,
                    _ => {
                        self.error(
                            &ap,
                            format!("give exactly one of `value`, `default` or {}", self.syntax.assign("hide", "true")),
                            "`value` is hidden and always sent; `default` is shown and filled in; `hide` is dropped",
                        );
                        continue;
                    }
                };
                arguments.push((name.clone(), shape));
            }
            let pin = raw.pin.as_ref().and_then(|pin| {
                let ok = pin
                    .strip_prefix("sha256:")
                    .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
                if !ok {
                    self.error(
                        &format!("{tp}.pin"),
                        format!("\"{pin}\" is not a pin"),
                        "write sha256:<64 hex digits>, or let `mcpgw pin` write it",
                    );
                }
                ok.then(|| pin.to_ascii_lowercase())
            });
            let on_change = match raw.on_change {
                Some(RawOnChange::Block) => OnChange::Block,
                _ => OnChange::Warn,
            };
            if raw.on_change.is_some() && pin.is_none() && raw.pin.is_none() {
                self.warning(
                    &format!("{tp}.on_change"),
                    "`on_change` has no effect without a `pin`",
                    "run `mcpgw pin` to pin the tool",
                );
            }
            out.push(ToolShape {
                tool: tool.clone(),
                title: raw.title.clone(),
                description: raw.description.clone(),
                annotations,
                arguments,
                pin,
                on_change,
            });
        }
        out
    }
}
