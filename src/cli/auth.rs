//! `mcpgw auth`: the credentials side of the file. `hash-key` makes a new API key and prints the
//! entry to paste (only the key's hash is ever stored); `token` mints a short-lived HS256 token
//! from an issuer's `secret`, for local testing and the README's examples; `may` and `who`
//! answer the `access` rules for a review (`cli::access`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::config::env::ProcessEnv;
use crate::model::auth::{Auth, KeySource, hash_line};
use crate::reload::prepare;

#[derive(clap::Subcommand, Debug)]
pub enum AuthCommand {
    /// Make a new API key and print the `api_keys` entry to paste (its hash; the key itself is
    /// printed once, for its holder, and stored nowhere):
    ///   mcpgw auth hash-key --subject ci-bot
    ///   printf %s "$EXISTING_KEY" | mcpgw auth hash-key --subject ci-bot --stdin
    #[command(verbatim_doc_comment)]
    HashKey {
        /// Who holds the key: the caller's subject in logs and rules.
        #[arg(long, default_value = "someone")]
        subject: String,
        /// Hash the key read from standard input instead of making one.
        #[arg(long)]
        stdin: bool,
    },
    /// Mint a short-lived HS256 token signed with the `secret` of an issuer in the file (its
    /// variable must be set), for local testing:
    ///   curl -H "Authorization: Bearer $(mcpgw auth token --subject alice --scope tools:read)" …
    #[command(verbatim_doc_comment)]
    Token {
        /// The config file.
        #[arg(short, long, env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
        config: PathBuf,
        /// The token's `sub`.
        #[arg(long)]
        subject: String,
        /// A scope to grant (repeatable).
        #[arg(long)]
        scope: Vec<String>,
        /// A group to put in the `groups` claim (repeatable).
        #[arg(long)]
        group: Vec<String>,
        /// How long the token holds, e.g. `15m`.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The issuer to sign as (when the file has several with a secret).
        #[arg(long)]
        issuer: Option<String>,
        /// The `aud` to put in the token; default the issuer's first audience.
        #[arg(long)]
        audience: Option<String>,
    },
    /// Say what a caller may use, item by item, on each virtual server (connects to the
    /// upstreams to learn their items), deciding exactly as serving does:
    ///   mcpgw auth may --token "$TOKEN"
    ///   mcpgw auth may --api-key "$KEY" --server ops
    ///   mcpgw auth may --subject alice --group devs --scope files.read --claim org.team=infra
    #[command(verbatim_doc_comment)]
    May {
        /// The config file.
        #[arg(short, long, env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
        config: PathBuf,
        /// Only this virtual server.
        #[arg(long)]
        server: Option<String>,
        /// A bearer token, verified as serving verifies it.
        #[arg(long)]
        token: Option<String>,
        /// An API key, checked against the file's hashes.
        #[arg(long)]
        api_key: Option<String>,
        /// A caller described instead: its subject.
        #[arg(long)]
        subject: Option<String>,
        /// A group of the described caller (repeatable).
        #[arg(long)]
        group: Vec<String>,
        /// A scope of the described caller (repeatable).
        #[arg(long)]
        scope: Vec<String>,
        /// A claim of the described caller, `path=value` (repeatable).
        #[arg(long)]
        claim: Vec<String>,
    },
    /// Say who may use an item: the rules that hide it, allow it or require scopes for it, per
    /// virtual server (read from the file alone):
    ///   mcpgw auth who --tool github_create_issue
    #[command(verbatim_doc_comment)]
    Who {
        /// The config file.
        #[arg(short, long, env = "MCPGW_CONFIG", default_value = "gateway.yaml")]
        config: PathBuf,
        /// Only this virtual server.
        #[arg(long)]
        server: Option<String>,
        /// A tool's public name.
        #[arg(long, group = "item")]
        tool: Option<String>,
        /// A resource's URI.
        #[arg(long, group = "item")]
        resource: Option<String>,
        /// A prompt's public name.
        #[arg(long, group = "item")]
        prompt: Option<String>,
    },
}

pub(super) fn run(command: AuthCommand) -> ExitCode {
    let result = match command {
        AuthCommand::HashKey { subject, stdin } => hash_key(&subject, stdin),
        AuthCommand::Token { config, subject, scope, group, ttl, issuer, audience } => {
            token(&config, &subject, &scope, &group, &ttl, issuer.as_deref(), audience.as_deref())
        }
        AuthCommand::May { config, server, token, api_key, subject, group, scope, claim } => {
            let who = super::access::Who { token, api_key, subject, groups: group, scopes: scope, claims: claim };
            return super::access::may(&config, server.as_deref(), who);
        }
        AuthCommand::Who { config, server, tool, resource, prompt } => {
            let (kind, name) = match (tool, resource, prompt) {
                (Some(t), _, _) => (crate::protocol::ItemKind::Tool, t),
                (_, Some(r), _) => (crate::protocol::ItemKind::Resource, r),
                (_, _, Some(p)) => (crate::protocol::ItemKind::Prompt, p),
                _ => {
                    eprintln!("error: name the item with --tool, --resource or --prompt");
                    return ExitCode::from(2);
                }
            };
            return super::access::who(&config, server.as_deref(), kind, &name);
        }
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::from(1)
        }
    }
}

/// The prefix of keys made here, so a leaked one is recognisable in a secret scanner.
const KEY_PREFIX: &str = "mcpgw_";

fn hash_key(subject: &str, stdin: bool) -> Result<String, String> {
    let (key, made) = if stdin {
        let mut key = String::new();
        std::io::stdin().read_to_string(&mut key).map_err(|e| format!("reading the key: {e}"))?;
        let key = key.trim_end_matches(['\r', '\n']).to_string();
        if key.len() < 16 {
            return Err("the key is shorter than 16 characters; a key that short can be guessed".into());
        }
        (key, false)
    } else {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
        (format!("{KEY_PREFIX}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()), true)
    };
    let mut out = String::new();
    if made {
        out.push_str(&format!("# The key, for its holder only (it is stored nowhere): {key}\n"));
    }
    out.push_str(&format!("- hash: {}\n  subject: {}\n", hash_line(&key), yaml_scalar(subject)));
    Ok(out)
}

/// A YAML scalar that reads back as `text`.
fn yaml_scalar(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if plain { text.to_string() } else { serde_json::to_string(text).expect("strings serialize") }
}

fn token(
    config: &std::path::Path,
    subject: &str,
    scopes: &[String],
    groups: &[String],
    ttl: &str,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, String> {
    let ttl = crate::model::parse_duration(ttl)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("\"{ttl}\" is not a duration; write e.g. 15m"))?;
    if ttl > Duration::from_secs(24 * 3600) {
        return Err("development tokens hold for a day at most".into());
    }
    let prepared = prepare(config, &ProcessEnv).map_err(|diagnostics| {
        let first = diagnostics.iter().find(|d| d.is_error()).map(|d| d.message.clone()).unwrap_or_default();
        format!("{} is not valid ({first}); run `mcpgw check`", config.display())
    })?;
    let model = prepared.model;
    let with_secret: Vec<_> = std::iter::once(&model.auth)
        .chain(model.virtual_servers.iter().filter_map(|vs| vs.auth.as_ref()))
        .filter_map(|auth| match auth {
            Auth::Required(methods) => methods.jwt.as_ref(),
            _ => None,
        })
        .flat_map(|jwt| jwt.issuers.iter())
        .filter_map(|i| match &i.keys {
            KeySource::Secret(secret) => Some((i, secret)),
            _ => None,
        })
        .filter(|(i, _)| issuer.is_none_or(|wanted| wanted == i.issuer))
        .collect();
    let (chosen, secret) = match &with_secret[..] {
        [] if issuer.is_some() => {
            return Err(format!("no issuer {:?} with a `secret` in {}", issuer.unwrap_or_default(), config.display()));
        }
        [] => {
            return Err(format!(
                "no issuer in {} has a `secret`; tokens of other issuers come from them",
                config.display()
            ));
        }
        [one, ..] => *one,
    };
    if issuer.is_none() && with_secret.iter().any(|(i, _)| i.issuer != chosen.issuer) {
        return Err("several issuers have a secret; name one with --issuer".into());
    }
    let audience = audience.or(chosen.audiences.first().map(String::as_str)).ok_or("the issuer lists no audience")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness: {e}"))?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(chosen.issuer));
    claims.insert("aud".into(), json!(audience));
    claims.insert("sub".into(), json!(subject));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + ttl.as_secs()));
    claims.insert("jti".into(), json!(id.iter().map(|b| format!("{b:02x}")).collect::<String>()));
    if !scopes.is_empty() {
        claims.insert("scope".into(), json!(scopes.join(" ")));
    }
    if !groups.is_empty() {
        claims.insert("groups".into(), json!(groups));
    }
    let key =
        jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()).map_err(|e| format!("the secret: {e}"))?;
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let token = jsonwebtoken::encode(&header, &Value::Object(claims), &key).map_err(|e| format!("signing: {e}"))?;
    Ok(format!("{token}\n"))
}
