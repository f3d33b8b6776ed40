//! The `requestState` mcpgw hands a stateless client when a session-based upstream asks it for
//! input mid-call: the answers given so far, bound to the request (method, target, arguments)
//! and to the caller, and signed with HMAC-SHA256, so any replica holding the same key can resume
//! the call and no client can alter the answers, move them to another call, or replay another
//! caller's. The same key tags the task ids handed to authenticated stateless callers
//! (`owner_tag`), so only their owner can use them.

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Marks state mcpgw signed (anything else belongs to an upstream and passes through).
pub(super) const PREFIX: &str = "mcpgw.1.";

/// The key: the configured one, or one drawn at start (then only this process can resume).
pub(super) fn key(configured: Option<&str>) -> Vec<u8> {
    static RANDOM: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    match configured {
        Some(k) if !k.is_empty() => k.as_bytes().to_vec(),
        _ => RANDOM
            .get_or_init(|| {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k).expect("the OS provides randomness");
                k
            })
            .to_vec(),
    }
}

/// A short tag only this key can make for `owner` (an `Identity::owner_key`).
pub(super) fn owner_tag(key: &[u8], owner: &str) -> String {
    hex(&hmac(key, format!("task-owner\n{owner}").as_bytes())[..12])
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the state is bound to: the method, the target's name or URI, the arguments, and the
/// caller (its `Identity::owner_key`; none for an anonymous caller).
pub(super) fn binding(method: &str, params: &serde_json::Map<String, Value>, owner: Option<&str>) -> String {
    let target = params.get("name").or(params.get("uri")).and_then(Value::as_str).unwrap_or("");
    let mut arguments = String::new();
    crate::routing::shape::canonical(params.get("arguments").unwrap_or(&Value::Null), &mut arguments);
    let owner = owner.unwrap_or("");
    hex(&Sha256::digest(format!("{method}\n{target}\n{arguments}\n{owner}").as_bytes()))
}

/// Signs the answers of a call bound to `binding`.
pub(super) fn sign(key: &[u8], binding: &str, answers: &[Value]) -> String {
    let payload = json!({ "b": binding, "r": answers }).to_string();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
    let mac = hmac(key, encoded.as_bytes());
    format!("{PREFIX}{encoded}.{}", hex(&mac))
}

/// The answers in `state`, when its signature holds and it belongs to `binding`.
pub(super) fn open(key: &[u8], binding: &str, state: &str) -> Result<Vec<Value>, &'static str> {
    let rest = state.strip_prefix(PREFIX).ok_or("not mcpgw's request state")?;
    let (encoded, mac) = rest.rsplit_once('.').ok_or("malformed request state")?;
    let expected = hex(&hmac(key, encoded.as_bytes()));
    // Compared in full whatever differs, so timing says nothing about the signature.
    let same =
        expected.len() == mac.len() && expected.bytes().zip(mac.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        return Err("the request state failed its integrity check");
    }
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).map_err(|_| "malformed request state")?;
    let payload: Value = serde_json::from_slice(&payload).map_err(|_| "malformed request state")?;
    if payload["b"].as_str() != Some(binding) {
        return Err("the request state belongs to another request or caller");
    }
    Ok(payload["r"].as_array().cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_rejects_tampering_and_reuse() {
        let key = b"replica-shared-key".to_vec();
        let params = json!({"name": "book", "arguments": {"b": 2, "a": 1}});
        let binding = binding("tools/call", params.as_object().unwrap(), Some("jwt\nidp\nann"));
        let state = sign(&key, &binding, &[json!({"action": "accept"})]);
        assert_eq!(open(&key, &binding, &state).unwrap(), [json!({"action": "accept"})]);
        // The same arguments in another order are the same call.
        let reordered = json!({"name": "book", "arguments": {"a": 1, "b": 2}});
        assert_eq!(binding, super::binding("tools/call", reordered.as_object().unwrap(), Some("jwt\nidp\nann")));
        // Another caller's retry of the very same call cannot use it.
        let bob = super::binding("tools/call", params.as_object().unwrap(), Some("jwt\nidp\nbob"));
        assert_eq!(open(&key, &bob, &state), Err("the request state belongs to another request or caller"));
        let anonymous = super::binding("tools/call", params.as_object().unwrap(), None);
        assert!(open(&key, &anonymous, &state).is_err());
        assert_ne!(owner_tag(&key, "jwt\nidp\nann"), owner_tag(&key, "jwt\nidp\nbob"));
        assert_ne!(owner_tag(&key, "jwt\nidp\nann"), owner_tag(b"another-key", "jwt\nidp\nann"));

        let mut tampered = state.clone();
        tampered.insert(PREFIX.len() + 3, 'x');
        assert!(open(&key, &binding, &tampered).is_err());
        assert!(open(b"another-key", &binding, &state).is_err());
        let other =
            super::binding("tools/call", json!({"name": "book", "arguments": {"a": 9}}).as_object().unwrap(), None);
        assert_eq!(open(&key, &other, &state), Err("the request state belongs to another request or caller"));
    }
}
