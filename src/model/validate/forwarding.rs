//! Checking what an upstream receives of its callers: header names that may be passed on
//! (never credentials or the gateway's own), `forward_authorization` (warned about: the MCP
//! authorization specification forbids passing tokens through), and `token_exchange` (an https
//! token endpoint, the client secret from `${VAR}`).

use super::Validator;
use crate::config::raw::RawUpstream;
use crate::model::forwarding::{Forwarding, NEVER_FORWARDED, TokenExchange};
use crate::model::{Secret, Transport};

impl Validator<'_> {
    /// What the upstream at `path` receives of its callers.
    pub(super) fn forwarding(&mut self, path: &str, raw: &RawUpstream, transport: Option<&Transport>) -> Forwarding {
        let asked =
            raw.forward_headers.is_some() || raw.forward_authorization.is_some() || raw.token_exchange.is_some();
        if !asked {
            return Forwarding::default();
        }
        if raw.url.is_none() {
            let key = [
                ("forward_headers", raw.forward_headers.is_some()),
                ("forward_authorization", raw.forward_authorization.is_some()),
                ("token_exchange", raw.token_exchange.is_some()),
            ]
            .into_iter()
            .find_map(|(key, given)| given.then_some(key))
            .unwrap_or("forward_headers");
            self.error(
                &format!("{path}.{key}"),
                format!("`{key}` applies to `url` upstreams (streamable HTTP), whose every call is its own request"),
                "remove it, or reach this server over its streamable HTTP endpoint",
            );
            return Forwarding::default();
        }
        let mut headers = Vec::new();
        for (i, name) in raw.forward_headers.iter().flatten().enumerate() {
            let at = format!("{path}.forward_headers[{i}]");
            let lower = name.trim().to_ascii_lowercase();
            // A header name is an RFC 9110 token.
            let token =
                !lower.is_empty() && lower.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
            if !token {
                self.error(&at, format!("{name:?} is not a header name"), "write a name such as X-Request-Id");
            } else if lower == "authorization" {
                self.error(
                    &at,
                    "the client's `Authorization` is never passed on by name",
                    "give the upstream a token of its own with `token_exchange` (or, against the specification's advice, `forward_authorization: true`)",
                );
            } else if NEVER_FORWARDED.contains(&lower.as_str()) || lower.starts_with("mcp-param-") {
                self.error(
                    &at,
                    format!("`{name}` is a credential or a header the gateway sets itself, so it is never passed on"),
                    "remove it; per-upstream values go in `headers`",
                );
            } else if !headers.contains(&lower) {
                headers.push(lower);
            }
        }
        let authorization = raw.forward_authorization == Some(true);
        if authorization && raw.token_exchange.is_some() {
            self.error(
                &format!("{path}.forward_authorization"),
                "`forward_authorization` and `token_exchange` both set the upstream's `Authorization`",
                "keep one (`token_exchange` is what the MCP authorization specification expects)",
            );
        } else if authorization {
            self.warning(
                &format!("{path}.forward_authorization"),
                "the client's token is passed through to this upstream, which the MCP authorization specification forbids: the token was issued for this gateway",
                "use `token_exchange` to get a token meant for the upstream, or give it a credential of its own in `headers`",
            );
        }
        let statically = raw.headers.iter().flatten().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if statically && (authorization || raw.token_exchange.is_some()) {
            self.error(
                &format!("{path}.headers"),
                "`headers` sets `Authorization`, and so do the caller's forwarded or exchanged token",
                "remove `Authorization` from `headers`, or the per-caller setting",
            );
        }
        let exchange = raw
            .token_exchange
            .as_ref()
            .and_then(|t| self.token_exchange(&format!("{path}.token_exchange"), t, transport));
        Forwarding { headers, authorization, exchange }
    }

    fn token_exchange(
        &mut self,
        path: &str,
        raw: &crate::config::raw::RawTokenExchange,
        transport: Option<&Transport>,
    ) -> Option<TokenExchange> {
        let endpoint = self.fetch_url(&format!("{path}.token_endpoint"), &raw.token_endpoint)?;
        if raw.client_id.trim().is_empty() {
            self.error(&format!("{path}.client_id"), "the client id is empty", "give the gateway's client id there");
        }
        let client_secret: Option<Secret> = match &raw.client_secret {
            None => None,
            Some(text) => Some(self.secret_from_env(&format!("{path}.client_secret"), text)?),
        };
        let resource = raw.resource.clone().or_else(|| match transport {
            Some(Transport::StreamableHttp { url, .. }) => Some(url.to_string()),
            _ => None,
        });
        let mut scopes = Vec::new();
        for (i, scope) in raw.scopes.iter().flatten().enumerate() {
            if scope.is_empty() || scope.contains(char::is_whitespace) {
                self.error(&format!("{path}.scopes[{i}]"), format!("{scope:?} is not a scope"), "one scope per entry");
            } else {
                scopes.push(scope.clone());
            }
        }
        Some(TokenExchange {
            endpoint,
            client_id: raw.client_id.clone(),
            client_secret,
            audience: raw.audience.clone(),
            resource,
            scopes,
        })
    }
}
