//! Reading and setting cookies. The session cookie is `HttpOnly`, `SameSite=Lax`, and `Secure`
//! when central is served over https.

use axum::http::{HeaderMap, HeaderValue, header};

pub const SESSION_COOKIE: &str = "protus_session";

/// The value of cookie `name`, if the request carries it.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

/// `Set-Cookie` for the session token.
pub fn session(token: &str, max_age_s: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("protus_session=; Max-Age=0"))
}

/// `Set-Cookie` for the browser id that anonymous forms' CSRF tokens are bound to.
pub fn browser(id: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let text = format!("{}={id}; Path=/; HttpOnly; SameSite=Lax{secure}", crate::central::web::browser::BROWSER_COOKIE);
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("protus_browser=; Max-Age=0"))
}

/// `Set-Cookie` that ends the session in this browser.
pub fn clear_session(https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("protus_session=; Max-Age=0"))
}

/// `Set-Cookie` that remembers the chosen language for a year.
pub fn lang(code: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let max_age = crate::vocab::limits::lang_cookie_max_age_s;
    let text = format!("lang={code}; Path=/; Max-Age={max_age}; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("lang=en"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_http_only_lax_and_secure_over_https() {
        // Proves the cookie attributes issue 3 requires.
        let plain = session("pts_x", 60, false);
        let plain = plain.to_str().expect("ascii");
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax") && !plain.contains("Secure"));
        assert!(session("pts_x", 60, true).to_str().expect("ascii").ends_with("; Secure"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; protus_session=pts_abc; lang=ru"));
        assert_eq!(get(&headers, SESSION_COOKIE).as_deref(), Some("pts_abc"));
        assert_eq!(get(&headers, "lang").as_deref(), Some("ru"));
        assert_eq!(get(&headers, "missing"), None);
    }
}
