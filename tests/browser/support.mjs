// What the browser journeys share: a real `protus central` child process, a tiny partner on
// 127.0.0.1 (redirect URI and webhook receiver), headless Debian chromium through playwright-core,
// screenshots under target/screenshots/, and the accessibility check of every page with axe-core.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "../..");
export const screenshots = join(repo, "target", "screenshots");
const START_TIMEOUT_MS = 30_000;

/** The protus binary: PROTUS_BIN, else the debug build. */
function binary() {
  return process.env.PROTUS_BIN || join(repo, "target", "debug", "protus");
}

/** The browser: CHROMIUM_PATH, else Debian's chromium. */
function chromiumPath() {
  return process.env.CHROMIUM_PATH || "/usr/bin/chromium";
}

/** Starts `protus central` on a free loopback port; resolves to {base, stop}. */
export async function startCentral() {
  const dataDir = mkdtempSync(join(tmpdir(), "protus-browser-"));
  const child = spawn(
    binary(),
    ["central", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--enable-test-provider",
      "--allow-private-webhooks", "--log-format", "json"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const log = [];
  const base = await new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => reject(new Error(`central did not start:\n${log.join("\n")}`)), START_TIMEOUT_MS);
    let buffered = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        log.push(line);
        if (log.length > 300) log.shift();
        try {
          const event = JSON.parse(line);
          if (event.message === "central listening") {
            clearTimeout(timer);
            resolveBase(`http://${event.address}`);
          }
        } catch {
          // not a JSON line
        }
      }
    });
    child.on("exit", (code) => reject(new Error(`central exited with ${code}:\n${log.join("\n")}`)));
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once("exit", () => done());
      child.kill("SIGTERM");
    });
  return { base, stop, log };
}

/** A partner's server: `/callback` records OAuth redirects, `/hooks` answers webhooks 200. */
export async function startPartner() {
  const callbacks = [];
  const hooks = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      if (url.pathname === "/callback") {
        callbacks.push(Object.fromEntries(url.searchParams));
        response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        response.end("<!doctype html><html lang=en><title>Partner</title><main><h1>Signed in</h1></main></html>");
      } else if (url.pathname === "/hooks") {
        hooks.push(JSON.parse(body || "{}"));
        response.writeHead(200);
        response.end();
      } else {
        response.writeHead(404);
        response.end();
      }
    });
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    callbacks,
    hooks,
    close: () => new Promise((done) => server.close(done)),
  };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ["--no-sandbox"] });
}

/** A browser context: a desktop by default, `phone` for a small touch screen. axe needs the CSP bypassed. */
export async function newContext(browser, { lang = "en", phone = false } = {}) {
  const viewport = phone ? { width: 390, height: 844 } : { width: 1280, height: 900 };
  return browser.newContext({
    viewport,
    isMobile: phone,
    hasTouch: phone,
    bypassCSP: true,
    locale: lang === "ru" ? "ru-RU" : "en-US",
    extraHTTPHeaders: { "accept-language": lang === "ru" ? "ru-RU,ru;q=0.9" : "en-US,en;q=0.9" },
  });
}

const axeSource = require.resolve("axe-core/axe.min.js");
export const checkedPages = [];

/**
 * The accessibility check of the page as it is now: zero axe violations of serious or critical
 * impact, exactly one h1, a main landmark, and a label for every visible form control.
 */
export async function checkAccessibility(page, name) {
  await page.addScriptTag({ path: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const axeResult = await axe.run(document, { resultTypes: ["violations"] });
    const unlabelled = [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      .map((el) => el.outerHTML);
    return {
      violations: axeResult.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html).slice(0, 3) })),
      h1: document.querySelectorAll("h1").length,
      main: document.querySelectorAll("main").length,
      unlabelled,
    };
  });
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(serious, [], `${name}: serious or critical accessibility violations`);
  assert.equal(result.h1, 1, `${name}: exactly one h1`);
  assert.equal(result.main, 1, `${name}: one main landmark`);
  assert.deepEqual(result.unlabelled, [], `${name}: every input has a label`);
  checkedPages.push(name);
}

/** Saves a full-page screenshot as target/screenshots/<name>.png. */
export async function shot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** Checks the page and saves its screenshot. */
export async function visit(page, name) {
  await checkAccessibility(page, name);
  await shot(page, name);
}

/** A PKCE verifier and its S256 challenge. */
export function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}
