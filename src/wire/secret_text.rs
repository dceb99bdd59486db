//! A credential inside a wire type (password in, secret or token out): redacted in `Debug`, so
//! logging a request or response value can never print it.

use serde::{Deserialize, Serialize};

/// Deliberately not `PartialEq`: a credential is compared only in constant time, after parsing.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, format = Password)]
pub struct SecretText(pub String);

impl SecretText {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        // Proves a wire credential is redacted in Debug output while serialising as its value.
        let secret = SecretText("hunter2-secret".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&secret).expect("json"), "\"hunter2-secret\"");
    }
}
