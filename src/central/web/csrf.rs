//! CSRF tokens for forms: an HMAC, under a node key, of the form's purpose, its object and the
//! browser (what `web::browser::Browser` binds to: its session, or its `protus_browser` cookie),
//! so a token made for one browser is useless in another. Only the claim page, whose object is
//! the secret claim link and which signs nobody in, passes no browser ("anonymous").

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::vocab::secret::Secret;

fn mac(key: &Secret, purpose: &str, object: &str, session: Option<&str>) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes a key of any length");
    for part in [purpose, object, session.unwrap_or("anonymous")] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac
}

pub fn token(key: &Secret, purpose: &str, object: &str, session: Option<&str>) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, purpose, object, session).finalize().into_bytes())
}

/// Constant-time check of a submitted token.
pub fn verify(key: &Secret, purpose: &str, object: &str, session: Option<&str>, submitted: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(submitted) else { return false };
    mac(key, purpose, object, session).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_purpose_object_and_session() {
        // Proves a CSRF token verifies only for the form, object and browser session it was made for.
        let key = Secret::generate("csrf_");
        let t = token(&key, "consent", "req_1", Some("sess_a"));
        assert!(verify(&key, "consent", "req_1", Some("sess_a"), &t));
        assert!(!verify(&key, "consent", "req_1", Some("sess_b"), &t));
        assert!(!verify(&key, "consent", "req_1", None, &t));
        assert!(!verify(&key, "consent", "req_2", Some("sess_a"), &t));
        assert!(!verify(&key, "claim", "req_1", Some("sess_a"), &t));
        assert!(!verify(&Secret::generate("csrf_"), "consent", "req_1", Some("sess_a"), &t));
        assert!(!verify(&key, "consent", "req_1", Some("sess_a"), "garbage!"));
    }
}
