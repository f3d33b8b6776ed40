//! The listener: its address and the `serving:` settings.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::config::raw::RawServing;

use super::super::{DEFAULT_LISTEN, Serving, parse_duration};
use super::Validator;

impl Validator<'_> {
    pub(super) fn listen(&mut self, text: Option<&str>) -> SocketAddr {
        let fallback: SocketAddr = DEFAULT_LISTEN.parse().expect("default listen address parses");
        let Some(text) = text else { return fallback };
        let Some(expanded) = self.expand("listen", text) else {
            return fallback;
        };
        if let Ok(addr) = expanded.parse() {
            return addr;
        }
        // Names such as `localhost:4444` resolve through the hosts file, not the network.
        if let Some(("localhost", port)) = expanded.rsplit_once(':')
            && let Ok(Some(addr)) = format!("127.0.0.1:{port}").to_socket_addrs().map(|mut a| a.next())
        {
            return addr;
        }
        self.error(
            "listen",
            format!("\"{text}\" is not an address to listen on"),
            "write host:port, e.g. 127.0.0.1:4444 or 0.0.0.0:4444",
        );
        fallback
    }

    pub(super) fn serving(&mut self, raw: Option<&RawServing>) -> Serving {
        let default = RawServing::default();
        let raw = raw.unwrap_or(&default);
        let idle = match &raw.session_idle_timeout {
            None => Duration::from_secs(3600),
            Some(t) => parse_duration(t).unwrap_or_else(|| {
                self.error(
                    "serving.session_idle_timeout",
                    format!("\"{t}\" is not a duration"),
                    "write e.g. 30m or 1h",
                );
                Duration::from_secs(3600)
            }),
        };
        let page_size = raw.page_size.unwrap_or(500) as usize;
        if page_size == 0 {
            self.error(
                "serving.page_size",
                "page size 0 would never finish a listing",
                "use a positive number, e.g. 500",
            );
        }
        let request_state_key =
            raw.request_state_key.as_ref().and_then(|k| self.secret("serving.request_state_key", k));
        if request_state_key.as_ref().is_some_and(|k| k.expose().len() < 16) {
            self.error(
                "serving.request_state_key",
                "the request state key is shorter than 16 characters",
                "use a long random secret, e.g. from `openssl rand -hex 32`, through ${VAR}",
            );
        }
        let resume_window = match raw.resume_window.as_deref() {
            None => Duration::from_secs(10),
            Some(t) => parse_duration(t).unwrap_or_else(|| {
                self.error(
                    "serving.resume_window",
                    format!("\"{t}\" is not a duration"),
                    "write e.g. 10s, or 0s for none",
                );
                Duration::from_secs(10)
            }),
        };
        let header_timeout = self.duration_or_none("serving.header_timeout", raw.header_timeout.as_deref(), 30);
        let idle_timeout = self.duration_or_none("serving.idle_timeout", raw.idle_timeout.as_deref(), 120);
        let public_url = raw.public_url.as_deref().and_then(|text| {
            let expanded = self.expand("serving.public_url", text)?;
            match url::Url::parse(&expanded) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
                _ => {
                    self.error(
                        "serving.public_url",
                        format!("\"{expanded}\" is not an http(s) URL"),
                        "write the URL clients reach the gateway at, e.g. https://mcp.example.com",
                    );
                    None
                }
            }
        });
        let tls = raw.tls.as_ref().and_then(|t| self.tls(t));
        let body_timeout = self.duration("serving.body_timeout", raw.body_timeout.as_deref(), Duration::from_secs(30));
        let max_connections = raw.max_connections.unwrap_or(10_000) as usize;
        if max_connections == 0 {
            self.error("serving.max_connections", "no connection could be served", "allow at least 1");
        }
        Serving {
            tls,
            body_timeout,
            max_connections: max_connections.max(1),
            max_connections_per_client: raw.max_connections_per_client.unwrap_or(1000) as usize,
            public_url,
            request_state_key,
            resume_window,
            header_timeout,
            idle_timeout,
            allowed_origins: raw.allowed_origins.clone().unwrap_or_default(),
            allowed_hosts: raw.allowed_hosts.clone(),
            max_body_bytes: raw.max_body_bytes.unwrap_or(4 * 1024 * 1024) as usize,
            page_size: page_size.max(1),
            session_idle_timeout: idle,
            max_sessions: raw.max_sessions.unwrap_or(10_000) as usize,
        }
    }
}
