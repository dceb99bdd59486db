//! The demo partner's HTML: a small layout and one function per page, every value escaped.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// The original demo's 426 message (DESIGN's predecessor, messages_app), kept word for word.
pub const NOT_ALLOWED_ORIGINAL: &str =
    "Вы запретили взимать плату за услуги сервиса. Войдите с PROTUS, разрешив списание средств за услуги.";

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Messages</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}\
         .box{{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}}\
         .warn{{border-color:#c33;background:#fff4f4}} button,.button{{padding:.4rem .9rem}}</style></head>\
         <body><header><strong>Messages</strong> — SMS campaigns, paid with PROTUS</header>\
         <h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    response.headers_mut().insert("cache-control", axum::http::HeaderValue::from_static("no-store"));
    response.headers_mut().insert("x-frame-options", axum::http::HeaderValue::from_static("DENY"));
    response
}

pub fn signed_out() -> Response {
    layout(
        StatusCode::OK,
        "Welcome",
        "<p>Messages sends SMS campaigns to your customers. Adding a customer costs 2.00 and \
         launching a campaign 10.00, paid from your PROTUS wallet.</p>\
         <p><a class=\"button\" href=\"/login\">Sign in with PROTUS</a></p>",
    )
}

/// What the signed-in page shows.
#[derive(Debug)]
pub struct Dashboard<'a> {
    pub account_id: &'a str,
    pub scope: &'a str,
    pub balance: Option<String>,
    pub customers: &'a [String],
    pub campaigns: &'a [String],
    pub events: &'a [String],
    pub notice: Option<&'a str>,
    pub form_key: &'a str,
}

fn list(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        return format!("<p><em>{}</em></p>", escape(empty));
    }
    let rows: String = items.iter().rev().map(|i| format!("<li>{}</li>", escape(i))).collect();
    format!("<ul>{rows}</ul>")
}

pub fn dashboard(d: &Dashboard<'_>) -> Response {
    let notice = d.notice.map(|n| format!("<div class=\"box\">{}</div>", escape(n))).unwrap_or_default();
    let balance = d.balance.as_deref().unwrap_or("not shared (you did not allow the check scope)");
    let key = escape(d.form_key);
    let body = format!(
        "{notice}<div class=\"box\">Signed in with PROTUS as account <code id=\"account\">{account}</code>; \
         allowed: <code id=\"scope\">{scope}</code>; wallet balance: <span id=\"balance\">{balance}</span>. \
         <form method=\"post\" action=\"/logout\" style=\"display:inline\"><button>Sign out</button></form></div>\
         <h2>Customers</h2>{customers}\
         <form method=\"post\" action=\"/customers\"><input type=\"hidden\" name=\"key\" value=\"{key}\">\
         <input name=\"phone\" placeholder=\"+7 900 000-00-00\" required> <button>Add a customer — 2.00</button></form>\
         <h2>Campaigns</h2>{campaigns}\
         <form method=\"post\" action=\"/campaigns\"><input type=\"hidden\" name=\"key\" value=\"{key}\">\
         <input name=\"text\" placeholder=\"Spring sale: -20% today\" required> <button>Launch a campaign — 10.00</button></form>\
         <h2>Webhooks received</h2>{events}",
        account = escape(d.account_id),
        scope = escape(d.scope),
        balance = escape(balance),
        customers = list(d.customers, "No customers yet."),
        campaigns = list(d.campaigns, "No campaigns yet."),
        events = list(d.events, "None yet: PROTUS sends charge.settled here once it books a charge."),
    );
    layout(StatusCode::OK, "Your campaigns", &body)
}

/// The original's 426: the person unticked `charge` on the consent page.
pub fn not_allowed() -> Response {
    let body = format!(
        "<div class=\"box warn\" id=\"not-allowed\"><p>You did not allow Messages to charge for its \
         services. Sign in with PROTUS again and allow charges.</p><p lang=\"ru\">{}</p></div>\
         <p><a class=\"button\" href=\"/login\">Sign in with PROTUS again</a> <a href=\"/\">Back</a></p>",
        escape(NOT_ALLOWED_ORIGINAL)
    );
    layout(StatusCode::UPGRADE_REQUIRED, "Charges not allowed", &body)
}

pub fn insufficient_funds(what: &str, price: &str) -> Response {
    let body = format!(
        "<div class=\"box warn\" id=\"insufficient-funds\"><p>Your PROTUS wallet cannot pay {price} for \
         “{what}” (or it would pass the spending cap you set). Nothing was charged and nothing was done.</p>\
         <p>Top up your wallet at PROTUS, then try again.</p></div><p><a href=\"/\">Back</a></p>",
        what = escape(what),
        price = escape(price)
    );
    layout(StatusCode::PAYMENT_REQUIRED, "Insufficient funds", &body)
}

pub fn revoked() -> Response {
    layout(
        StatusCode::UNAUTHORIZED,
        "Access revoked",
        "<div class=\"box warn\" id=\"revoked\"><p>Your PROTUS access for Messages was revoked or has \
         expired, so Messages can no longer act for you. Nothing was charged.</p></div>\
         <p><a class=\"button\" href=\"/login\">Sign in with PROTUS again</a></p>",
    )
}

pub fn declined() -> Response {
    layout(
        StatusCode::OK,
        "Sign-in cancelled",
        "<div class=\"box\" id=\"declined\"><p>You declined to connect Messages to your PROTUS wallet.</p></div>\
         <p><a href=\"/\">Back</a></p>",
    )
}

pub fn unavailable() -> Response {
    layout(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "<div class=\"box warn\" id=\"unavailable\"><p>PROTUS cannot be reached right now. Nothing was \
         charged; try again in a moment.</p></div><p><a href=\"/\">Back</a></p>",
    )
}

pub fn error(status: StatusCode, message: &str) -> Response {
    let body =
        format!("<div class=\"box warn\" id=\"error\"><p>{}</p></div><p><a href=\"/\">Back</a></p>", escape(message));
    layout(status, "Something went wrong", &body)
}
