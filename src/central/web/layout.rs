//! What every page of the site shares: the header with its navigation for who is signed in, the
//! language switch, the sign-out form, a notice line — and turning a page into a response.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::central::web::browser::{Browser, Signed, WebSession};
use crate::central::web::html::page;
use crate::central::web::i18n::Lang;
use crate::central::web::ui::Ui;

/// Where the sign-out form posts.
pub const SIGN_OUT: &str = "/signout";

/// One link of the header's navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The parts of the layout (`templates/site/base.html`) every page fills.
#[derive(Debug)]
pub struct Chrome {
    pub lang: &'static str,
    pub t: &'static Ui,
    pub title: String,
    pub nav: Vec<NavLink>,
    /// The signed-in customer's email or company's name; empty when nobody is signed in.
    pub signed_in: String,
    pub sign_out_csrf: String,
    /// The other language: its code, its own name, and the switch's link back to this page.
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub lang_href: String,
    /// A line shown above the page (what the last form did).
    pub notice: String,
}

impl Chrome {
    /// The layout of a page titled `title`, with `current` (an href) marked in the navigation.
    pub fn new(browser: &Browser, title: &str, current: &str) -> Chrome {
        let t = browser.t();
        let links: Vec<(&'static str, &'static str)> = match &browser.session {
            None => vec![("/", t.nav_home), ("/signin", t.nav_sign_in), ("/register", t.nav_register)],
            Some(WebSession { who: Signed::Customer(_), .. }) => vec![
                ("/wallet", t.nav_wallet),
                ("/accounts", t.nav_accounts),
                ("/statement", t.nav_statement),
                ("/connected", t.nav_connected),
            ],
            Some(WebSession { who: Signed::Company(_), .. }) => vec![
                ("/company", t.nav_overview),
                ("/company/secrets", t.nav_secrets),
                ("/company/services", t.nav_services),
                ("/company/accounts", t.nav_users),
                ("/company/invoices", t.nav_invoices),
                ("/company/webhooks", t.nav_webhooks),
            ],
        };
        let nav = links.into_iter().map(|(href, label)| NavLink { href, label, current: href == current }).collect();
        let signed_in = match &browser.session {
            Some(WebSession { who: Signed::Customer(c), .. }) => c.email.as_str().to_owned(),
            Some(WebSession { who: Signed::Company(c), .. }) => c.name.as_str().to_owned(),
            None => String::new(),
        };
        let (other_lang, other_lang_name) = match browser.lang {
            Lang::En => ("ru", "Русский"),
            Lang::Ru => ("en", "English"),
        };
        let back = form_urlencoded::byte_serialize(browser.here.as_bytes()).collect::<String>();
        Chrome {
            lang: browser.lang.code(),
            t,
            title: title.to_owned(),
            nav,
            signed_in,
            sign_out_csrf: browser.csrf(SIGN_OUT),
            other_lang,
            other_lang_name,
            lang_href: format!("/lang?to={other_lang}&back={back}"),
            notice: String::new(),
        }
    }

    pub fn with_notice(mut self, notice: &str) -> Chrome {
        self.notice = notice.to_owned();
        self
    }
}

/// A rendered page as a response, with the browser cookie when this browser had none.
pub fn render(browser: &Browser, status: StatusCode, template: &impl Template) -> Response {
    let mut response = page(status, template.render());
    if let Some(cookie) = &browser.new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// `303 See Other` to a path of the site (after a form, so a reload does not post it again).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A path of this site to go back to, or `fallback`: never another origin (`//evil`, `https:`).
pub fn local_path<'a>(candidate: &'a str, fallback: &'a str) -> &'a str {
    let ok = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.contains('\\')
        && candidate.chars().all(|c| !c.is_control());
    if ok { candidate } else { fallback }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_back() {
        // Proves the language switch and sign-in cannot be turned into an open redirect.
        assert_eq!(local_path("/wallet?x=1", "/"), "/wallet?x=1");
        assert_eq!(local_path("//evil.example/", "/"), "/");
        assert_eq!(local_path("https://evil.example/", "/"), "/");
        assert_eq!(local_path("/\\evil.example", "/"), "/");
        assert_eq!(local_path("/a\r\nSet-Cookie: x", "/"), "/");
        assert_eq!(local_path("", "/home"), "/home");
    }
}
