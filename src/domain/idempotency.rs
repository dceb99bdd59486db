//! Idempotency fingerprints (DESIGN §5): method + path + canonical JSON of the body.

use sha2::{Digest, Sha256};

/// SHA-256 over the method, the path and the body with object keys sorted, so the same
/// request written with its fields in another order is recognised as the same request.
pub fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> String {
    let canonical = serde_json::to_vec(&canonical(body)).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(&canonical);
    hex::encode(hasher.finalize())
}

/// `value` with every object's keys inserted in sorted order, so the encoding is canonical
/// whether or not serde_json keeps insertion order.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_change_the_fingerprint_but_values_do() {
        // Proves canonicalisation: reordered fields match, different values and paths do not.
        let a: serde_json::Value = serde_json::from_str(r#"{"amount":"1.00","note":"x"}"#).expect("json");
        let b: serde_json::Value = serde_json::from_str(r#"{"note":"x","amount":"1.00"}"#).expect("json");
        let c: serde_json::Value = serde_json::from_str(r#"{"note":"x","amount":"2.00"}"#).expect("json");
        assert_eq!(fingerprint("POST", "/a", &a), fingerprint("POST", "/a", &b));
        assert_ne!(fingerprint("POST", "/a", &a), fingerprint("POST", "/a", &c));
        assert_ne!(fingerprint("POST", "/a", &a), fingerprint("POST", "/b", &a));
    }
}
