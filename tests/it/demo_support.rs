//! The demo partner driven as a browser drives it (cookies kept by hand, no automatic
//! redirects), for the tests of `protus demo` and `protus demo partner`.

use serde_json::{Value, json};

use crate::oauth_support::hidden;

/// One browser: no automatic redirects, and the partner's cookies kept by hand.
pub struct Browser {
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { http, cookies: Vec::new() }
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let response = request.header("cookie", cookie.join("; ")).send().await.expect("the page answers");
        for set in response.headers().get_all("set-cookie") {
            let text = set.to_str().expect("ascii cookie");
            let (name, value) = text.split(';').next().and_then(|p| p.split_once('=')).expect("name=value");
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|v| v.to_str().expect("ascii").to_owned());
        Page { status, location: location.unwrap_or_default(), body: response.text().await.expect("body") }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let request = self.http.get(url).header("accept-language", "en");
        self.send(request).await
    }

    pub async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter().copied()).finish();
        let request = self.http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body);
        self.send(request).await
    }

    /// "Sign in with PROTUS" at the partner, the consent form posted as a browser posts it,
    /// and the redirect back; answers the partner's page after sign-in.
    pub async fn sign_in(&mut self, central: &str, partner: &str, email: &str, scopes: &[&str]) -> Page {
        let start = self.get(&format!("{}/login", partner)).await;
        assert_eq!(start.status, 303, "{}", start.body);
        assert!(start.location.starts_with(&format!("{}/oauth/authorize?", central)), "{}", start.location);
        assert!(start.location.contains("code_challenge_method=S256"), "{}", start.location);
        let consent = self.get(&start.location).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let (request_id, csrf) = (hidden(&consent.body, "request_id"), hidden(&consent.body, "csrf_token"));
        let mut fields = vec![
            ("request_id", request_id.as_str()),
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", "demo-password"),
        ];
        fields.extend(scopes.iter().map(|s| ("granted_scope", *s)));
        fields.extend([("spending_cap", ""), ("decision", "allow")]);
        let allowed = self.post(&format!("{}/oauth/authorize", central), &fields).await;
        assert_eq!(allowed.status, 302, "{}", allowed.body);
        assert!(allowed.location.starts_with(&format!("{}/callback?", partner)), "{}", allowed.location);
        let back = self.get(&allowed.location).await;
        assert_eq!((back.status, back.location.as_str()), (303, "/"), "{}", back.body);
        self.get(&format!("{}/", partner)).await
    }

    /// Submits one of the partner's billed forms with the key the page carries.
    pub async fn act(&mut self, partner: &str, path: &str, field: (&str, &str)) -> Page {
        let page = self.get(&format!("{}/", partner)).await;
        let key = hidden(&page.body, "key");
        self.post(&format!("{}{path}", partner), &[("key", key.as_str()), field]).await
    }
}

/// A session token of a seeded demo account (`kind` is `customer` or `company`).
pub async fn demo_session(http: &reqwest::Client, central: &str, kind: &str, email: &str) -> String {
    let body = json!({"kind": kind, "email": email, "password": "demo-password"});
    let session: Value = http
        .post(format!("{central}/api/v1/sessions"))
        .json(&body)
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("json");
    session["token"].as_str().expect("a session token").to_owned()
}

pub async fn revoke_all_grants(central: &str, email: &str) {
    let http = reqwest::Client::new();
    let token = &demo_session(&http, central, "customer", email).await;
    let grants: Value = http
        .get(format!("{central}/api/v1/me/grants"))
        .bearer_auth(token)
        .send()
        .await
        .expect("grants")
        .json()
        .await
        .expect("json");
    for grant in grants["items"].as_array().expect("items") {
        if grant["status"] == "active" {
            let id = grant["id"].as_str().expect("id");
            let revoked = http
                .delete(format!("{central}/api/v1/me/grants/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("revoke");
            assert!(revoked.status().is_success(), "{}", revoked.status());
        }
    }
}
