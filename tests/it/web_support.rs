//! A browser for the web pages' tests: keeps cookies like a browser, reads CSRF tokens out of
//! forms, and posts forms without following redirects.

use reqwest::StatusCode;
use serde_json::json;

use crate::oauth_support::{consent, exchange, partner};
use crate::support::TestCentral;

/// One page as the browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The `csrf_token` of the form that posts to `action`.
    pub fn csrf(&self, action: &str) -> String {
        let form = self
            .body
            .find(&format!("action=\"{action}\""))
            .unwrap_or_else(|| panic!("no form to {action}: {}", self.body));
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body[form..].find(marker).expect("a csrf field") + form + marker.len();
        self.body[start..].split('"').next().expect("value").to_owned()
    }

    /// The one `<h1>` of the page, asserting there is exactly one.
    #[track_caller]
    pub fn h1(&self) -> String {
        assert_eq!(self.body.matches("<h1").count(), 1, "one h1: {}", self.body);
        let start = self.body.find("<h1").expect("h1");
        let open_end = self.body[start..].find('>').expect(">") + start + 1;
        let end = self.body[open_end..].find("</h1>").expect("</h1>") + open_end;
        self.body[open_end..end].to_owned()
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) {
        assert!(self.body.contains(text), "page lacks {text:?}: {}", self.body);
    }
}

/// A browser: its language and its cookies.
pub struct Browser<'a> {
    pub central: &'a TestCentral,
    pub lang: &'static str,
    pub cookies: Vec<(String, String)>,
    client: reqwest::Client,
}

impl<'a> Browser<'a> {
    pub fn new(central: &'a TestCentral, lang: &'static str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { central, lang, cookies: Vec::new(), client }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn remember(&mut self, headers: &reqwest::header::HeaderMap) {
        for value in headers.get_all("set-cookie") {
            let text = value.to_str().expect("ascii cookie");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            self.cookies.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.central.base))
            .header("accept", "text/html")
            .header("accept-language", self.lang)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("page");
        self.answer(response).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter().copied()).finish();
        let response = self
            .client
            .post(format!("{}{path}", self.central.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept-language", self.lang)
            .header("cookie", self.cookie_header())
            .body(body)
            .send()
            .await
            .expect("post");
        self.answer(response).await
    }

    async fn answer(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        self.remember(&headers);
        Page { status, headers, body: response.text().await.expect("body") }
    }

    /// Fetches the page with the form posting to `action`, then posts `fields` with its token.
    pub async fn submit(&mut self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        let csrf = page.csrf(action);
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Registers a person through the form (signed in afterwards).
    pub async fn register_person(&mut self, email: &str) {
        let fields = [("kind", "person"), ("email", email), ("username", "anna"), ("password", "correct horse")];
        let done = self.submit("/register", "/register", &fields).await;
        assert_eq!((done.status.as_u16(), done.location()), (303, "/wallet"), "{}", done.body);
    }

    /// Tops up through the wallet's form and waits until the top-up is completed.
    pub async fn top_up(&mut self, amount: &str, key: &str) {
        let started = self.submit("/wallet", "/wallet/top-ups", &[("amount", amount), ("idempotency_key", key)]).await;
        assert_eq!(started.status, 303, "{}", started.body);
        let location = started.location().to_owned();
        for _ in 0..200 {
            if self.get(&location).await.body.contains("<strong>completed</strong>") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the top-up did not complete");
    }

    /// Registers a company through the form (signed in afterwards); its client id and secret.
    pub async fn register_company(&mut self, name: &str, email: &str) -> (String, String) {
        let fields = [("kind", "company"), ("name", name), ("email", email), ("password", "company pass")];
        let done = self.submit("/register?kind=company", "/register", &fields).await;
        assert_eq!(done.status, 201, "{}", done.body);
        let secrets: Vec<String> = done
            .body
            .split("<code class=\"secret\">")
            .skip(1)
            .map(|s| s.split('<').next().expect("text").to_owned())
            .collect();
        (secrets[0].clone(), secrets[1].clone())
    }
}

/// A partner with a service priced 12.50, and `email` (a registered customer with password
/// "correct horse") signed in to it through consent and charged once: (company session token,
/// service id, invoice number).
pub async fn charged_customer(central: &TestCentral, email: &str) -> (String, String, String) {
    let (client_id, client_secret, company_token) = partner(central, "Messages").await;
    let service = central
        .post("/api/v1/company/services", Some(&company_token), json!({"name": "SMS campaign", "price": "12.50"}))
        .await;
    assert_eq!(service.status, 201, "{}", service.body);
    let code = consent(central, &client_id, email, &["check", "charge"], "").await;
    let (status, token) = exchange(central, (&client_id, &client_secret), &code).await;
    assert_eq!(status, 200, "{token}");
    let access = token["access_token"].as_str().expect("token");
    let service_id = service.body["id"].as_str().expect("id").to_owned();
    let charge = central
        .call(
            reqwest::Method::POST,
            "/api/v1/billing/charges",
            Some(access),
            Some(json!({"service_id": service_id})),
            &[("idempotency-key", "web-charge-1")],
        )
        .await;
    assert_eq!(charge.status, 201, "{}", charge.body);
    (company_token, service_id, charge.body["invoice_number"].as_str().expect("invoice").to_owned())
}
