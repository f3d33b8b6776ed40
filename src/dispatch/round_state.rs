//! The `requestState` mcpgw hands a stateless client when a session-based upstream asks it for
//! input mid-call: the answers given so far, bound to the request (method, target, arguments) and
//! signed with HMAC-SHA256, so any replica holding the same key can resume the call and no
//! client can alter the answers or move them to another call.

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

/// What the state is bound to: the method, the target's name or URI, and the arguments.
pub(super) fn binding(method: &str, params: &serde_json::Map<String, Value>) -> String {
    let target = params.get("name").or(params.get("uri")).and_then(Value::as_str).unwrap_or("");
    let mut arguments = String::new();
    crate::routing::shape::canonical(params.get("arguments").unwrap_or(&Value::Null), &mut arguments);
    hex(&Sha256::digest(format!("{method}\n{target}\n{arguments}").as_bytes()))
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
        return Err("the request state belongs to another request");
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
        let binding = binding("tools/call", params.as_object().unwrap());
        let state = sign(&key, &binding, &[json!({"action": "accept"})]);
        assert_eq!(open(&key, &binding, &state).unwrap(), [json!({"action": "accept"})]);
        // The same arguments in another order are the same call.
        let reordered = json!({"name": "book", "arguments": {"a": 1, "b": 2}});
        assert_eq!(binding, super::binding("tools/call", reordered.as_object().unwrap()));

        let mut tampered = state.clone();
        tampered.insert(PREFIX.len() + 3, 'x');
        assert!(open(&key, &binding, &tampered).is_err());
        assert!(open(b"another-key", &binding, &state).is_err());
        let other = super::binding("tools/call", json!({"name": "book", "arguments": {"a": 9}}).as_object().unwrap());
        assert_eq!(open(&key, &other, &state), Err("the request state belongs to another request"));
    }
}
