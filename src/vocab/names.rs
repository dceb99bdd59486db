//! Validated texts: emails, usernames, passwords, names, URLs and idempotency keys.

use std::fmt;

use crate::vocab::limits::*;
use crate::vocab::secret::Secret;

/// Why a text was refused; shown to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub &'static str);

/// An email address, trimmed and lowercased, so uniqueness is case-insensitive.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let email = text.trim().to_lowercase();
        if email.is_empty() {
            return Err(NameError("must not be empty"));
        }
        if email.len() > email_len_max {
            return Err(NameError("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(NameError("must be an email address like name@example.com"));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@');
        if !domain_ok || !local_ok {
            return Err(NameError("must be an email address like name@example.com"));
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer's display name: letters, digits, `_`, `-` and `.`, 3–32 characters.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let name = text.trim();
        let len = name.chars().count();
        if !(username_len_min..=username_len_max).contains(&len) {
            return Err(NameError("must be 3 to 32 characters long"));
        }
        if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err(NameError("may contain only letters, digits, '_', '-' and '.' (no spaces)"));
        }
        Ok(Username(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed: 8–128 characters, not only spaces. Kept in a `Secret`.
#[derive(Debug, Clone)]
pub struct Password(Secret);

impl Password {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let len = text.chars().count();
        if len < password_len_min {
            return Err(NameError("must be at least 8 characters long"));
        }
        if len > password_len_max {
            return Err(NameError("must be at most 128 characters long"));
        }
        if text.trim().is_empty() {
            return Err(NameError("must not be only spaces"));
        }
        Ok(Password(Secret::new(text.to_owned())))
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

/// A company or service display name: trimmed, 1..=`max` characters, no control characters.
/// Its `key` is the case-folded form used for uniqueness.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse_company(text: &str) -> Result<Self, NameError> {
        Self::parse(text, company_name_len_max, "must be 1 to 100 characters long")
    }

    pub fn parse_service(text: &str) -> Result<Self, NameError> {
        Self::parse(text, service_name_len_max, "must be 1 to 100 characters long")
    }

    fn parse(text: &str, max: usize, length_message: &'static str) -> Result<Self, NameError> {
        let name = text.trim();
        let len = name.chars().count();
        if len == 0 || len > max {
            return Err(NameError(length_message));
        }
        if name.chars().any(char::is_control) {
            return Err(NameError("must not contain control characters"));
        }
        Ok(DisplayName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form compared for uniqueness: case-folded, inner whitespace collapsed.
    pub fn key(&self) -> String {
        self.0.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }
}

/// An absolute `http` or `https` URL (webhook URL, redirect URI).
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if text.len() > url_len_max {
            return Err(NameError("must be at most 2048 characters long"));
        }
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or(NameError("must be an absolute http:// or https:// URL"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NameError("must be an absolute http:// or https:// URL"));
        }
        if text.contains('#') {
            return Err(NameError("must not contain a fragment"));
        }
        Ok(HttpUrl(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The value of an `Idempotency-Key` header: 1–255 printable ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if text.is_empty() || text.len() > idempotency_key_len_max {
            return Err(NameError("Idempotency-Key must be 1 to 255 characters long"));
        }
        if !text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(NameError("Idempotency-Key must be printable ASCII"));
        }
        Ok(IdempotencyKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        // Proves case-insensitive normalisation and refusal of malformed addresses.
        assert_eq!(Email::parse("  Ann@Example.COM ").map(|e| e.as_str().to_owned()), Ok("ann@example.com".into()));
        for bad in
            ["", "ann", "ann@", "@example.com", "ann@example", "a nn@example.com", "ann@exa mple.com", "ann@.com"]
        {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_passwords_and_urls_are_checked() {
        // Proves the 422 rules for usernames, passwords and URLs.
        assert!(Username::parse("ann_1").is_ok());
        assert!(Username::parse("an").is_err());
        assert!(Username::parse("ann smith").is_err());
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("        ").is_err());
        assert!(Password::parse("long enough").is_ok());
        assert!(HttpUrl::parse("https://partner.example/hook").is_ok());
        assert!(HttpUrl::parse("ftp://partner.example").is_err());
        assert!(HttpUrl::parse("/api/webhook/").is_err());
        assert!(HttpUrl::parse("https:///x").is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("key\u{7}").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert_eq!(DisplayName::parse_company(" Big   Co ").map(|n| n.key()), Ok("big co".into()));
    }
}
