// End-to-end journeys through central's web interface in headless chromium, against a real
// `protus central` child process. Every page visited is checked for accessibility and saved as a
// screenshot under target/screenshots/. Run by .ci/run: `node --test tests/browser/`.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import {
  checkAccessibility, checkedPages, launchBrowser, newContext, pkce, shot, startCentral, startPartner, visit,
} from "./support.mjs";

const PASSWORD = "correct horse battery staple";
const run = Date.now().toString(36);
const company = { name: `Messages ${run}`, email: `ops-${run}@messages.example`, clientId: "", clientSecret: "", serviceId: "" };
const person = { email: `anna-${run}@example.com`, username: `anna${run}`.slice(0, 30), accessToken: "" };

let central;
let partner;
let browser;
let companyPage;
let personPage;

before(async () => {
  central = await startCentral();
  partner = await startPartner();
  browser = await launchBrowser();
  companyPage = await (await newContext(browser)).newPage();
  personPage = await (await newContext(browser)).newPage();
});

after(async () => {
  await browser?.close();
  await partner?.close();
  await central?.stop();
  console.log(`accessibility-checked pages: ${checkedPages.length}: ${checkedPages.join(", ")}`);
});

test("public pages: home in both languages, sign-in, the 404 page", async () => {
  // Proves the public pages render, switch language with a remembered cookie, and pass the accessibility check — the claim page of a dead link and the OAuth error page too.
  const context = await newContext(browser);
  const page = await context.newPage();
  await page.goto(`${central.base}/`);
  await assert.doesNotReject(page.getByRole("heading", { level: 1, name: "Welcome to PROTUS" }).waitFor());
  await visit(page, "public-home-en");
  await page.getByRole("link", { name: "Русский" }).click();
  await page.getByRole("heading", { level: 1, name: "Добро пожаловать в PROTUS" }).waitFor();
  await visit(page, "public-home-ru");
  await page.goto(`${central.base}/signin`);
  assert.equal(await page.locator("h1").textContent(), "Вход", "the language choice is remembered");
  await visit(page, "public-signin-ru");
  await page.getByRole("link", { name: "English" }).click();
  await page.goto(`${central.base}/register?kind=company`);
  await visit(page, "public-register-company");
  const missing = await page.goto(`${central.base}/no/such/page`);
  assert.equal(missing.status(), 404);
  await page.getByRole("heading", { level: 1, name: "Page not found" }).waitFor();
  await visit(page, "public-404");
  const claim = await page.goto(`${central.base}/claim?token=not-a-link-that-was-ever-sent`);
  assert.ok(claim.status() < 500, `the claim page answered ${claim.status()}`);
  await visit(page, "public-claim-dead-link");
  const unknownClient = new URL(`${central.base}/oauth/authorize`);
  for (const [name, value] of Object.entries({
    response_type: "code", client_id: "co_aaaaaaaaaaaaaaaaaaaaaaaaaa", redirect_uri: "http://127.0.0.1:9/cb",
    scope: "check", state: "s", code_challenge: "x".repeat(43), code_challenge_method: "S256",
  })) {
    unknownClient.searchParams.set(name, value);
  }
  const oauthError = await page.goto(unknownClient.toString());
  assert.ok(oauthError.status() >= 400 && oauthError.status() < 500, `the OAuth error page answered ${oauthError.status()}`);
  assert.equal(new URL(page.url()).origin, new URL(central.base).origin, "an unknown client is an error page, never a redirect");
  await visit(page, "public-oauth-error");
  const phone = await (await newContext(browser, { phone: true, lang: "ru" })).newPage();
  await phone.goto(`${central.base}/`);
  await visit(phone, "public-home-phone-ru");
  await context.close();
});

test("a company registers, adds a service and sets its webhook URL and redirect URI", async () => {
  // Proves the company's registration, secrets shown once, a refused form keeping what was typed, and the profile form.
  const page = companyPage;
  await page.goto(`${central.base}/register?kind=company`);
  await page.fill("#f-name", company.name);
  await page.fill("#f-email", company.email);
  await page.fill("#f-password", "short");
  await page.click("button[type=submit]");
  assert.match(await page.locator("#f-password-note").textContent(), /8/, "the password error is next to the field");
  assert.equal(await page.inputValue("#f-email"), company.email, "what was typed is kept");
  await visit(page, "company-register-error");
  await page.fill("#f-password", PASSWORD);
  await page.click("button[type=submit]");
  const secrets = await page.locator("code.secret").allTextContents();
  assert.equal(secrets.length, 3);
  [company.clientId, company.clientSecret] = secrets;
  assert.match(company.clientId, /^co_/);
  assert.match(company.clientSecret, /^cs_/);
  assert.match(secrets[2], /^whsec_/);
  await visit(page, "company-welcome");

  await page.goto(`${central.base}/company/services`);
  await visit(page, "company-services-empty");
  await page.fill("#f-name", "SMS campaign");
  await page.fill("#f-price", "ten");
  await page.click("form[action='/company/services'] button[type=submit]");
  assert.notEqual(await page.locator("#f-price-note").textContent(), "");
  assert.equal(await page.inputValue("#f-price"), "ten");
  await page.fill("#f-price", "12.50");
  await page.click("form[action='/company/services'] button[type=submit]");
  await page.getByRole("heading", { level: 2, name: "SMS campaign" }).waitFor();
  company.serviceId = (await page.locator("section code").first().textContent()).trim();
  assert.match(company.serviceId, /^svc_/);
  await visit(page, "company-services");

  await page.goto(`${central.base}/company`);
  await page.fill("#f-webhook", `${partner.origin}/hooks`);
  await page.fill("#f-redirects", `${partner.origin}/callback`);
  await page.click("form[action='/company/profile'] button[type=submit]");
  await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  assert.equal(await page.locator("#webhook-url").textContent(), `${partner.origin}/hooks`);
  await visit(page, "company-overview");

  await page.goto(`${central.base}/company/secrets`);
  await visit(page, "company-secrets");
  await page.getByRole("button", { name: "Rotate the webhook secret" }).click();
  assert.match(await page.locator("#new-secret").textContent(), /^whsec_/, "the new secret is shown once");
  await visit(page, "company-secrets-rotated");
});

test("a person registers, tops up, consents with one scope unchecked, is charged, and revokes", async () => {
  // Proves the customer's journey: wallet and top-up, consent, account and statement after an API charge, revocation.
  const page = personPage;
  await page.goto(`${central.base}/register`);
  await visit(page, "person-register");
  await page.fill("#f-email", person.email);
  await page.fill("#f-username", person.username);
  await page.fill("#f-password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/wallet$/);
  assert.equal(await page.locator("#available").textContent(), "RUB 0.00");
  await visit(page, "person-wallet-empty");

  await page.fill("#f-amount", "1,000.50");
  await page.click("form[action='/wallet/top-ups'] button[type=submit]");
  assert.notEqual(await page.locator("#f-amount-note").textContent(), "", "a malformed amount is refused next to the field");
  await page.fill("#f-amount", "1000.50");
  await page.click("form[action='/wallet/top-ups'] button[type=submit]");
  await page.waitForURL(/top_up=top_/);
  // The page reads the top-up and the wallet one after the other; the callback's commit can land
  // between the two reads, so wait until the page shows both the credit and the completed status.
  const settled = async () =>
    (await page.locator("#available").textContent()) === "RUB 1,000.50" &&
    /completed/.test(await page.locator("#top-up-status").textContent());
  for (let i = 0; i < 50 && !(await settled()); i++) {
    await new Promise((r) => setTimeout(r, 100));
    await page.reload();
  }
  assert.equal(await page.locator("#available").textContent(), "RUB 1,000.50");
  assert.match(await page.locator("#top-up-status").textContent(), /completed/);
  await visit(page, "person-wallet-topped-up");

  await page.goto(`${central.base}/accounts`);
  await visit(page, "person-accounts-empty");
  await page.goto(`${central.base}/statement`);
  await visit(page, "person-statement-top-up");

  const { verifier, challenge } = pkce();
  const authorize = new URL(`${central.base}/oauth/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id: company.clientId, redirect_uri: `${partner.origin}/callback`,
    scope: "check hold charge", state: "st-1", code_challenge: challenge, code_challenge_method: "S256",
  })) authorize.searchParams.set(k, v);
  await page.goto(authorize.toString());
  await page.getByText(company.name).first().waitFor();
  await visit(page, "person-consent");
  await page.uncheck("input[name=granted_scope][value=hold]");
  await page.click("button[value=allow]");
  await page.waitForURL(`${partner.origin}/callback**`);
  const callback = partner.callbacks.at(-1);
  assert.equal(callback.state, "st-1");
  const token = await fetch(`${central.base}/oauth/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${company.clientId}:${company.clientSecret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "authorization_code", code: callback.code, redirect_uri: `${partner.origin}/callback`, code_verifier: verifier }),
  }).then((r) => r.json());
  assert.equal(token.scope, "check charge", "the unchecked scope was not granted");
  person.accessToken = token.access_token;

  const charge = await fetch(`${central.base}/api/v1/billing/charges`, {
    method: "POST",
    headers: { authorization: `Bearer ${person.accessToken}`, "content-type": "application/json", "idempotency-key": `charge-${run}` },
    body: JSON.stringify({ service_id: company.serviceId }),
  });
  assert.equal(charge.status, 201, await charge.clone().text());
  const invoice = (await charge.json()).invoice_number;

  await page.goto(`${central.base}/accounts`);
  const row = page.getByRole("row").filter({ hasText: company.name });
  assert.match(await row.textContent(), /RUB 12\.50/);
  assert.equal(await page.locator("svg[role=img] rect").count() > 0, true, "the spending chart has a bar");
  await visit(page, "person-accounts");
  await row.getByRole("link").click();
  await page.getByRole("cell", { name: invoice }).waitFor();
  await visit(page, "person-account-details");

  await page.goto(`${central.base}/statement`);
  const line = page.getByRole("row").filter({ hasText: invoice });
  assert.match(await line.textContent(), /SMS campaign/);
  assert.match(await line.textContent(), /RUB 988\.00/, "the balance after the charge");
  await visit(page, "person-statement");

  await page.goto(`${central.base}/connected`);
  await visit(page, "person-connected");
  await page.getByRole("link", { name: /Revoke access/ }).click();
  await visit(page, "person-revoke-confirm");
  await page.getByRole("button", { name: "Yes, revoke access" }).click();
  await page.getByRole("status").filter({ hasText: "Access revoked." }).waitFor();
  await visit(page, "person-connected-revoked");
  const check = await fetch(`${central.base}/api/v1/authorize?scope=charge`, { headers: { authorization: `Bearer ${person.accessToken}` } });
  assert.equal(check.status, 401, "the service's token no longer works");

  await page.getByRole("link", { name: "Русский" }).click();
  await page.goto(`${central.base}/wallet`);
  assert.equal(await page.locator("#available").textContent(), "988,00\u00a0₽");
  await visit(page, "person-wallet-ru");
  const phone = await (await newContext(browser, { phone: true, lang: "ru" })).newPage();
  await phone.context().addCookies(await page.context().cookies());
  await phone.goto(`${central.base}/statement`);
  await visit(phone, "person-statement-phone-ru");
  await phone.context().close();
});

test("the company sees the user's account, the invoice and the webhook deliveries", async () => {
  // Proves the company's lists after the person's journey, the service filter, and a manual webhook retry.
  const page = companyPage;
  await page.goto(`${central.base}/company/accounts`);
  const row = page.getByRole("row").filter({ hasText: person.email });
  assert.match(await row.textContent(), /RUB 12\.50/);
  await visit(page, "company-users");
  await row.getByRole("link").click();
  await page.getByRole("cell", { name: "SMS campaign" }).waitFor();
  await visit(page, "company-user-account");

  await page.goto(`${central.base}/company/invoices`);
  await page.selectOption("#f-service", company.serviceId);
  await page.click("form[action='/company/invoices'] button[type=submit]");
  await page.waitForURL(/service_id=svc_/);
  assert.equal(await page.getByRole("row").filter({ hasText: "SMS campaign" }).count(), 1);
  await visit(page, "company-invoices");

  for (let i = 0; i < 50 && partner.hooks.length < 4; i++) await new Promise((r) => setTimeout(r, 100));
  const types = partner.hooks.map((h) => h.type).sort();
  assert.deepEqual(types, ["account.created", "charge.settled", "grant.created", "grant.revoked"]);
  await page.goto(`${central.base}/company/webhooks`);
  assert.equal(await page.getByRole("row").filter({ hasText: "charge.settled" }).filter({ hasText: "200" }).count(), 1);
  await visit(page, "company-webhooks");
  await page.getByRole("row").filter({ hasText: "charge.settled" }).getByRole("button").click();
  await page.getByRole("status").filter({ hasText: "sent again" }).waitFor();

  await page.goto(`${central.base}/company`);
  assert.ok((await page.locator("svg[role=img]").count()) >= 2, "revenue and active-account charts");
  await visit(page, "company-overview-with-revenue");
  await shot(page, "company-overview-final");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${central.base}/`);
  await page.goto(`${central.base}/company`);
  await page.waitForURL(/\/signin\?kind=company/);
  await checkAccessibility(page, "company-signed-out-redirect");
});
