//! The web interface over HTTP: every page signed out and signed in, empty and with data, in
//! English and Russian; forms with CSRF, field errors and kept values; cookies; the error pages.

use crate::support::TestCentral;
use crate::web_support::{Browser, charged_customer};

const CUSTOMER_PAGES: &[&str] = &["/wallet", "/accounts", "/statement", "/connected"];
const COMPANY_PAGES: &[&str] = &[
    "/company",
    "/company/secrets",
    "/company/services",
    "/company/accounts",
    "/company/invoices",
    "/company/webhooks",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_render_in_both_languages_and_private_ones_send_to_sign_in() {
    // Proves the public pages for a signed-out visitor in English and Russian, and that every private page redirects to the right sign-in.
    let central = TestCentral::start().await;
    for (lang, home, sign_in, register) in
        [("en", "Welcome to PROTUS", "Sign in", "Register"), ("ru", "Добро пожаловать в PROTUS", "Вход", "Регистрация")]
    {
        let mut browser = Browser::new(&central, lang);
        let page = browser.get("/").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.h1(), home);
        page.assert_contains(&format!("<html lang=\"{lang}\">"));
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .expect("csp")
                .starts_with("default-src 'none'; style-src 'self';")
        );
        assert!(page.headers["set-cookie"].to_str().expect("cookie").contains("HttpOnly; SameSite=Lax"));
        assert_eq!(browser.get("/signin").await.h1(), sign_in);
        assert_eq!(browser.get("/signin?kind=company").await.h1(), sign_in);
        let person = browser.get("/register").await;
        assert_eq!(person.h1(), register);
        person.assert_contains("name=\"username\"");
        let company = browser.get("/register?kind=company").await;
        company.assert_contains("name=\"name\"");
        assert!(!company.body.contains("name=\"username\""), "the switch shows the company's fields");
        for path in CUSTOMER_PAGES {
            let page = browser.get(path).await;
            assert_eq!(page.status, 303, "{path}");
            assert!(page.location().starts_with("/signin?next=%2F"), "{path}: {}", page.location());
        }
        for path in COMPANY_PAGES {
            let page = browser.get(path).await;
            assert!(page.location().starts_with("/signin?kind=company&next="), "{path}: {}", page.location());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stylesheet_the_language_switch_and_the_error_pages() {
    // Proves the stylesheet is served with a cache header, the switch sets a remembered cookie and goes back only locally, and unknown pages are an HTML 404 for browsers but problem+json for the API.
    let central = TestCentral::start().await;
    let mut browser = Browser::new(&central, "en");
    let css = browser.get("/static/protus.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers["cache-control"], "public, max-age=86400");
    assert!(css.body.contains(".chart"));
    let switched = browser.get("/lang?to=ru&back=%2Fsignin").await;
    assert_eq!((switched.status.as_u16(), switched.location()), (303, "/signin"));
    assert!(switched.headers["set-cookie"].to_str().expect("cookie").starts_with("lang=ru; Path=/; Max-Age=31536000"));
    assert_eq!(browser.get("/signin").await.h1(), "Вход", "the choice wins over Accept-Language");
    assert_eq!(browser.get("/lang?to=en&back=%2F%2Fevil.example").await.location(), "/");
    let missing = browser.get("/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.h1(), "Page not found");
    missing.assert_contains("<main id=\"main\">");
    let api = central.get("/api/v1/no-such", None).await;
    api.assert_problem(404, "not_found");
    let mut ru = Browser::new(&central, "ru");
    assert_eq!(ru.get("/accounts/acct_aaaaaaaaaaaaaaaaaaaaaaaaaa").await.status, 303, "private before missing");
    ru.register_person("ru404@example.com").await;
    let other = ru.get("/accounts/acct_aaaaaaaaaaaaaaaaaaaaaaaaaa").await;
    assert_eq!((other.status.as_u16(), other.h1()), (404, "Страница не найдена".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_their_csrf_token_show_errors_by_the_field_and_keep_what_was_typed() {
    // Proves CSRF on the anonymous and signed-in forms, field errors with aria-invalid, kept values (never the password), the session cookie's attributes, and sign-out.
    let central = TestCentral::start().await;
    let mut browser = Browser::new(&central, "en");
    browser.get("/register").await;
    let forged = browser
        .post(
            "/register",
            &[("kind", "person"), ("email", "a@example.com"), ("username", "anna"), ("password", "correct horse")],
        )
        .await;
    assert_eq!(forged.status, 403);
    forged.assert_contains("The form had expired");
    forged.assert_contains("value=\"a@example.com\"");
    let mut stranger = Browser::new(&central, "en");
    let token = browser.get("/register").await.csrf("/register");
    let elsewhere = stranger
        .post(
            "/register",
            &[
                ("csrf_token", &token),
                ("kind", "person"),
                ("email", "b@example.com"),
                ("username", "bob"),
                ("password", "correct horse"),
            ],
        )
        .await;
    assert_eq!(elsewhere.status, 403, "another browser's token is refused");
    let bad = browser
        .submit(
            "/register",
            "/register",
            &[("kind", "person"), ("email", "not-an-email"), ("username", "anna"), ("password", "secret words")],
        )
        .await;
    assert_eq!(bad.status, 200);
    bad.assert_contains("aria-invalid=\"true\"");
    bad.assert_contains("<p class=\"field-error\" id=\"f-email-note\">");
    bad.assert_contains("value=\"not-an-email\"");
    assert!(!bad.body.contains("secret words"), "the password is never echoed");
    let mut ru = Browser::new(&central, "ru");
    let bad_ru = ru
        .submit(
            "/register",
            "/register",
            &[("kind", "person"), ("email", "x"), ("username", "anna"), ("password", "short")],
        )
        .await;
    bad_ru.assert_contains("Введите email вида name@example.com.");
    bad_ru.assert_contains("Пароль должен содержать от 8 до 128 символов.");

    let fields =
        [("kind", "person"), ("email", "anna@example.com"), ("username", "anna"), ("password", "correct horse")];
    let done = browser.submit("/register", "/register", &fields).await;
    assert_eq!(done.location(), "/wallet");
    let cookie = done.headers["set-cookie"].to_str().expect("cookie");
    assert!(cookie.starts_with("protus_session=pts_") && cookie.contains("HttpOnly; SameSite=Lax"), "{cookie}");
    let again = browser.submit("/register", "/register", &fields).await;
    again.assert_contains("A customer with this email already exists");
    let top_up = browser.post("/wallet/top-ups", &[("csrf_token", "forged"), ("amount", "10")]).await;
    assert_eq!(top_up.status, 422);
    top_up.assert_contains("The form had expired");
    let wallet = browser.get("/wallet").await;
    let sign_out = browser.post("/signout", &[("csrf_token", &wallet.csrf("/signout"))]).await;
    assert_eq!(sign_out.location(), "/");
    assert!(sign_out.headers["set-cookie"].to_str().expect("cookie").contains("protus_session=; Path=/; Max-Age=0"));
    assert_eq!(browser.get("/wallet").await.status, 303, "signed out");
    let wrong = browser
        .submit("/signin", "/signin", &[("kind", "customer"), ("email", "anna@example.com"), ("password", "nope nope")])
        .await;
    wrong.assert_contains("Wrong email or password.");
    wrong.assert_contains("value=\"anna@example.com\"");
    let next = browser
        .submit(
            "/signin?next=%2Fstatement",
            "/signin",
            &[
                ("kind", "customer"),
                ("email", "anna@example.com"),
                ("password", "correct horse"),
                ("next", "/statement"),
            ],
        )
        .await;
    assert_eq!(next.location(), "/statement");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_pages_empty_and_with_data_in_both_languages() {
    // Proves the wallet, top-up, accounts with the chart, account details, statement and connected services, before and after a top-up and a charge, in English and Russian.
    let central = TestCentral::start().await;
    let mut en = Browser::new(&central, "en");
    en.register_person("anna@example.com").await;
    let wallet = en.get("/wallet").await;
    assert_eq!(wallet.h1(), "Wallet");
    wallet.assert_contains("<dd id=\"available\">RUB 0.00</dd>");
    wallet.assert_contains("<code>test</code>");
    en.get("/accounts").await.assert_contains("You have no accounts yet.");
    en.get("/accounts").await.assert_contains("Nothing was spent in the last 30 days.");
    en.get("/statement").await.assert_contains("No operations yet.");
    en.get("/connected").await.assert_contains("No services are connected.");

    let bad = en.submit("/wallet", "/wallet/top-ups", &[("amount", "-5"), ("idempotency_key", "k1")]).await;
    assert_eq!(bad.status, 422);
    bad.assert_contains("id=\"f-amount-note\"");
    bad.assert_contains("value=\"-5\"");
    let started = en.submit("/wallet", "/wallet/top-ups", &[("amount", "1000"), ("idempotency_key", "k2")]).await;
    assert!(started.location().starts_with("/wallet?top_up=top_"), "{}", started.location());
    let replay = en.submit("/wallet", "/wallet/top-ups", &[("amount", "1000"), ("idempotency_key", "k2")]).await;
    assert_eq!(replay.location(), started.location(), "posting the same form twice tops up once");
    let mut done = en.get(started.location()).await;
    for _ in 0..100 {
        if done.body.contains("completed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        done = en.get(started.location()).await;
    }
    done.assert_contains("<dd id=\"available\">RUB 1,000.00</dd>");
    done.assert_contains("<strong>completed</strong>");

    let (_, _, invoice) = charged_customer(&central, "anna@example.com").await;
    let accounts = en.get("/accounts").await;
    accounts.assert_contains("Messages");
    accounts.assert_contains("RUB 12.50");
    accounts.assert_contains("role=\"img\"");
    accounts.assert_contains("Messages — SMS campaign");
    let account_id = accounts
        .body
        .split("href=\"/accounts/")
        .nth(1)
        .expect("a details link")
        .split('"')
        .next()
        .expect("id")
        .to_owned();
    let details = en.get(&format!("/accounts/{account_id}")).await;
    assert_eq!(details.h1(), "Account at Messages");
    details.assert_contains(&invoice);
    let statement = en.get("/statement").await;
    statement.assert_contains(&invoice);
    statement.assert_contains("−RUB 12.50");
    statement.assert_contains("RUB 987.50");
    statement.assert_contains("+RUB 1,000.00");
    let connected = en.get("/connected").await;
    connected.assert_contains("See whether your wallet can pay (check)");
    assert!(!connected.body.contains("value=\"hold\""), "only granted scopes can be kept");

    let mut ru = Browser::new(&central, "ru");
    ru.cookies = en.cookies.clone();
    ru.get("/wallet").await.assert_contains("<dd id=\"available\">987,50\u{a0}₽</dd>");
    let ru_statement = ru.get("/statement").await;
    assert_eq!(ru_statement.h1(), "Выписка");
    ru_statement.assert_contains("1\u{a0}000,00\u{a0}₽");
    ru_statement.assert_contains("Списание");
    let ru_accounts = ru.get("/accounts").await;
    ru_accounts.assert_contains("Расходы по дням за 30 дней");
    ru_accounts.assert_contains("12,50\u{a0}₽");
    assert_eq!(ru.get(&format!("/accounts/{account_id}")).await.h1(), "Счёт в Messages");
    ru.get("/connected").await.assert_contains("Подключённые сервисы");

    let mut other = Browser::new(&central, "en");
    other.register_person("other@example.com").await;
    assert_eq!(other.get(&format!("/accounts/{account_id}")).await.status, 404, "another person's account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_services_narrow_cap_and_revoke_after_confirmation() {
    // Proves the grant forms: narrowing, a cap (Russian comma accepted), a refused empty scope, and revocation only through the confirmation step.
    let central = TestCentral::start().await;
    let mut browser = Browser::new(&central, "en");
    browser.register_person("anna@example.com").await;
    browser.top_up("100", "t1").await;
    let (_, _, _) = charged_customer(&central, "anna@example.com").await;
    let page = browser.get("/connected").await;
    let grant =
        page.body.split("action=\"/connected/grt_").nth(1).expect("a grant form").split('"').next().expect("id");
    let grant = format!("grt_{grant}");
    let action = format!("/connected/{grant}");
    let empty = browser.submit("/connected", &action, &[("spending_cap", "")]).await;
    assert_eq!(empty.status, 422);
    empty.assert_contains("You can only take permissions away here");
    let bad_cap = browser.submit("/connected", &action, &[("scope", "check"), ("spending_cap", "lots")]).await;
    bad_cap.assert_contains("value=\"lots\"");
    let mut ru = Browser::new(&central, "ru");
    ru.cookies = browser.cookies.clone();
    let saved = ru.submit("/connected", &action, &[("scope", "check"), ("spending_cap", "1 500,50")]).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    saved.assert_contains("Сохранено.");
    saved.assert_contains("1\u{a0}500,50\u{a0}₽");
    let confirm = browser.get(&format!("/connected/{grant}/revoke")).await;
    assert_eq!(confirm.h1(), "Revoke the access of Messages?");
    let revoked =
        browser.submit(&format!("/connected/{grant}/revoke"), &format!("/connected/{grant}/revoke"), &[]).await;
    assert_eq!(revoked.location(), "/connected?revoked=1");
    let after = browser.get("/connected?revoked=1").await;
    after.assert_contains("Access revoked.");
    after.assert_contains("No services are connected.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_pages_empty_and_with_data_in_both_languages() {
    // Proves the company's overview with its form and charts, secrets shown once, services, users' accounts, invoices with the filter and webhook deliveries, empty and with data, in English and Russian.
    let central = TestCentral::start().await;
    let mut en = Browser::new(&central, "en");
    let (client_id, client_secret) = en.register_company("Acme", "ops@acme.example").await;
    assert!(client_id.starts_with("co_") && client_secret.starts_with("cs_"));
    let overview = en.get("/company").await;
    assert_eq!(overview.h1(), "Acme");
    overview.assert_contains(&client_id);
    overview.assert_contains("No charges in the last 30 days.");
    en.get("/company/services").await.assert_contains("You have not added any services yet.");
    en.get("/company/accounts").await.assert_contains("Your users&#39; accounts will appear here");
    en.get("/company/invoices").await.assert_contains("No invoices yet.");
    en.get("/company/webhooks").await.assert_contains("No deliveries yet.");
    let bad = en
        .submit(
            "/company",
            "/company/profile",
            &[("webhook_url", "ftp://x"), ("redirect_uris", "https://acme.example/cb")],
        )
        .await;
    assert_eq!(bad.status, 422);
    bad.assert_contains("id=\"f-webhook-note\"");
    bad.assert_contains("value=\"ftp://x\"");
    let saved = en
        .submit(
            "/company",
            "/company/profile",
            &[
                ("webhook_url", "http://127.0.0.1:9/hooks"),
                ("redirect_uris", "https://acme.example/cb\nhttps://acme.example/cb2"),
            ],
        )
        .await;
    saved.assert_contains("Saved.");
    saved.assert_contains("<code>https://acme.example/cb2</code>");
    let rotated = en.submit("/company/secrets", "/company/secrets", &[("kind", "client_secret")]).await;
    let secret = rotated.body.split("id=\"new-secret\">").nth(1).expect("new secret").split('<').next().expect("text");
    assert!(secret.starts_with("cs_"), "{secret}");
    assert!(!en.get("/company/secrets").await.body.contains(secret), "shown once");
    let bad_service = en.submit("/company/services", "/company/services", &[("name", ""), ("price", "abc")]).await;
    bad_service.assert_contains("id=\"f-price-note\"");
    bad_service.assert_contains("value=\"abc\"");
    let added = en.submit("/company/services", "/company/services", &[("name", "Campaign"), ("price", "10")]).await;
    added.assert_contains("RUB 10.00");
    let service =
        added.body.split("action=\"/company/services/svc_").nth(1).expect("a service").split('"').next().expect("id");
    let service = format!("svc_{service}");
    let mut ru = Browser::new(&central, "ru");
    ru.cookies = en.cookies.clone();
    let edited = ru
        .submit(
            "/company/services",
            &format!("/company/services/{service}"),
            &[("name", "Рассылка"), ("price", "1 234,5")],
        )
        .await;
    edited.assert_contains("1\u{a0}234,50\u{a0}₽");
    // The secrets page in Russian: the rotated secret is shown once there too.
    let rotated_ru = ru.submit("/company/secrets", "/company/secrets", &[("kind", "webhook_secret")]).await;
    let webhook_secret =
        rotated_ru.body.split("id=\"new-secret\">").nth(1).expect("new secret").split('<').next().expect("text");
    assert!(webhook_secret.starts_with("whsec_"), "{webhook_secret}");
    assert!(rotated_ru.body.contains("lang=\"ru\""), "rendered in Russian");
    let again_ru = ru.get("/company/secrets").await;
    assert!(again_ru.body.contains("lang=\"ru\"") && !again_ru.body.contains(webhook_secret), "shown once");
    let off =
        en.submit("/company/services", &format!("/company/services/{service}/active"), &[("active", "false")]).await;
    off.assert_contains("inactive");

    let mut person = Browser::new(&central, "en");
    person.register_person("anna@example.com").await;
    person.top_up("100", "p1").await;
    let (company_token, _, invoice) = charged_customer(&central, "anna@example.com").await;
    let mut partner = Browser::new(&central, "en");
    let me = central.get("/api/v1/company", Some(&company_token)).await;
    let partner_email = me.body["email"].as_str().expect("email").to_owned();
    let signed = partner
        .submit(
            "/signin?kind=company",
            "/signin",
            &[("kind", "company"), ("email", &partner_email), ("password", "company pass")],
        )
        .await;
    assert_eq!(signed.location(), "/company");
    let users = partner.get("/company/accounts").await;
    users.assert_contains("anna@example.com");
    users.assert_contains("RUB 12.50");
    let account =
        users.body.split("href=\"/company/accounts/").nth(1).expect("link").split('"').next().expect("id").to_owned();
    partner.get(&format!("/company/accounts/{account}")).await.assert_contains(&invoice);
    assert_eq!(en.get(&format!("/company/accounts/{account}")).await.status, 404, "another company's account");
    let invoices = partner.get("/company/invoices").await;
    invoices.assert_contains(&invoice);
    let filtered = partner.get(&format!("/company/invoices?service_id={service}")).await;
    filtered.assert_contains("No invoices yet.");
    let overview = partner.get("/company").await;
    overview.assert_contains("RUB 12.50");
    overview.assert_contains("id=\"active-title\"");
    let mut partner_ru = Browser::new(&central, "ru");
    partner_ru.cookies = partner.cookies.clone();
    partner_ru.get("/company").await.assert_contains("Выручка по дням за 30 дней");
    partner_ru.get("/company/invoices").await.assert_contains("12,50\u{a0}₽");
    partner_ru.get("/company/accounts").await.assert_contains("Счета пользователей");
    let deliveries = partner_ru.get("/company/webhooks").await;
    assert_eq!(deliveries.h1(), "Доставка вебхуков");
    let retry = partner.get("/company/webhooks").await;
    assert!(retry.body.contains("No deliveries yet.") || retry.body.contains("Send again"));
    let wrong_kind = partner.get("/wallet").await;
    assert_eq!(wrong_kind.location(), "/company", "a company session is sent to its own pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_pages_through_older_operations_and_back() {
    // Proves the statement shows 25 operations per page, newest first, with an "Older" link to the rest and a "Newest" link back.
    let central = TestCentral::start().await;
    let mut en = Browser::new(&central, "en");
    en.register_person("paging@example.com").await;
    for n in 1..=27 {
        en.top_up(&format!("{n}"), &format!("page-{n}")).await;
    }
    let first = en.get("/statement").await;
    first.assert_contains("+RUB 27.00");
    first.assert_contains("+RUB 3.00");
    assert!(!first.body.contains("+RUB 2.00") && !first.body.contains("+RUB 1.00"), "the oldest are on page 2");
    let older = first
        .body
        .split("href=\"/statement?cursor=")
        .nth(1)
        .expect("an Older link")
        .split('"')
        .next()
        .expect("cursor")
        .to_owned();
    let second = en.get(&format!("/statement?cursor={older}")).await;
    second.assert_contains("+RUB 2.00");
    second.assert_contains("+RUB 1.00");
    assert!(!second.body.contains("+RUB 3.00"), "no operation is shown twice");
    second.assert_contains("<a href=\"/statement\">Newest</a>");
    assert!(!first.body.contains(">Newest</a>"), "the first page has no link to itself");
    assert!(!second.body.contains("href=\"/statement?cursor="), "page 2 is the last");
}
