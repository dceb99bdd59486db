"""A real `protus central` process for the third-party client tests, and what a partner and a
person do around the OAuth flow: register, set a redirect URI, sign in on the consent page.

The binary comes from the environment: PROTUS_BIN=target/debug/protus (`.ci/run` passes the one
`cargo test` built). Run locally with

    cargo build --locked && PROTUS_BIN=target/debug/protus python3 -m pytest -q tests/python
"""

import collections
import dataclasses
import html.parser
import json
import os
import signal
import subprocess
import threading
import urllib.parse
import uuid

import pytest
import requests

# Registered as the partners' redirect URI. Nothing listens there: the test reads the 302's
# Location instead of following it, as the partner's callback would receive it.
REDIRECT_URI = "http://127.0.0.1:9/callback"
PASSWORD = "correct horse battery staple"
TIMEOUT = 10  # seconds, for every HTTP request
START_TIMEOUT = 30  # seconds until central logs "central listening"
STOP_TIMEOUT = 15  # seconds for a clean exit after SIGTERM


@dataclasses.dataclass
class Partner:
    """A registered company: its OAuth client credentials and a dashboard session."""

    name: str
    client_id: str
    client_secret: str
    session_token: str
    webhook_secret: str


@dataclasses.dataclass
class Customer:
    email: str
    password: str


class Central:
    """The running `protus central`: its base URL (= the issuer) and its recent log lines."""

    def __init__(self, process, base, log):
        self.process = process
        self.base = base
        self.log = log

    def log_tail(self, lines=60):
        return "\n".join(list(self.log)[-lines:])

    def url(self, path):
        return self.base + path

    def api(self, method, path, token=None, body=None):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url(path), json=body, headers=headers, timeout=TIMEOUT)

    def api_ok(self, method, path, token=None, body=None, status=None):
        response = self.api(method, path, token, body)
        expected = status or (200, 201)
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert response.status_code in expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def new_partner(self):
        """Registers a company and registers REDIRECT_URI for it."""
        tag = uuid.uuid4().hex[:10]
        name, email = f"Partner {tag}", f"ops-{tag}@partner-{tag}.io"
        company = self.api_ok("POST", "/api/v1/companies", body={"name": name, "email": email, "password": PASSWORD})
        session = self.api_ok(
            "POST", "/api/v1/sessions", body={"kind": "company", "email": email, "password": PASSWORD}
        )
        updated = self.api_ok(
            "PATCH", "/api/v1/company", token=session["token"], body={"redirect_uris": [REDIRECT_URI]}
        )
        assert updated["redirect_uris"] == [REDIRECT_URI], updated
        return Partner(name, company["client_id"], company["client_secret"], session["token"], company["webhook_secret"])

    def new_customer(self):
        tag = uuid.uuid4().hex[:10]
        email = f"person-{tag}@mail-{tag}.io"
        body = {"email": email, "username": f"person_{tag}", "password": PASSWORD}
        self.api_ok("POST", "/api/v1/customers", body=body)
        return Customer(email, PASSWORD)

    def customer_session(self, customer):
        body = {"kind": "customer", "email": customer.email, "password": customer.password}
        return self.api_ok("POST", "/api/v1/sessions", body=body)["token"]


def _protus_binary():
    binary = os.environ.get("PROTUS_BIN")
    if not binary:
        pytest.fail(
            "PROTUS_BIN is not set: point it at the protus binary, e.g. "
            "`cargo build --locked && PROTUS_BIN=target/debug/protus python3 -m pytest -q tests/python`",
            pytrace=False,
        )
    binary = os.path.abspath(binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(
            f"PROTUS_BIN={binary} is not an executable file (build it with `cargo build --locked`)", pytrace=False
        )
    return binary


@pytest.fixture(scope="session")
def central(tmp_path_factory):
    """`protus central` on an OS-chosen loopback port with a fresh data directory; SIGTERM at the end."""
    binary = _protus_binary()
    data_dir = tmp_path_factory.mktemp("central-data")
    command = [
        binary,
        "central",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        str(data_dir),
        "--enable-test-provider",
        "--allow-private-webhooks",
        "--log-format",
        "json",
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    log = collections.deque(maxlen=500)
    listening = {}
    ready = threading.Event()

    def drain():
        # Reads stderr to its end so the child never blocks on a full pipe.
        for line in process.stderr:
            log.append(line.rstrip("\n"))
            if ready.is_set():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("message") == "central listening":
                listening.update(event)
                ready.set()
        ready.set()  # end of stderr: the process has gone

    reader = threading.Thread(target=drain, name="central-stderr", daemon=True)
    reader.start()
    if not ready.wait(START_TIMEOUT) or not listening:
        process.kill()
        process.wait(STOP_TIMEOUT)
        reader.join(STOP_TIMEOUT)
        process.stderr.close()
        tail = "\n".join(log)
        pytest.fail(
            f"`{' '.join(command)}` did not log 'central listening' within {START_TIMEOUT} s "
            f"(exit code {process.returncode}); its log:\n{tail}",
            pytrace=False,
        )
    base = f"http://{listening['address']}"
    assert listening.get("public_url") == base, listening
    server = Central(process, base, log)
    yield server

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)
        pytest.fail(
            f"central did not stop within {STOP_TIMEOUT} s of SIGTERM; log:\n{server.log_tail()}", pytrace=False
        )
    reader.join(STOP_TIMEOUT)
    process.stderr.close()
    if code != 0:
        pytest.fail(f"central exited with {code} after SIGTERM; log:\n{server.log_tail()}", pytrace=False)


@pytest.fixture(scope="session")
def metadata(central):
    """The RFC 8414 authorization server metadata, as a partner discovers the endpoints."""
    response = requests.get(central.url("/.well-known/oauth-authorization-server"), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    return response.json()


# ---- the browser on the consent page -----------------------------------------------------------


@dataclasses.dataclass
class Field:
    tag: str
    type: str
    name: str
    value: str
    checked: bool


class FormParser(html.parser.HTMLParser):
    """The first <form> of a page: its method, action and fields (inputs and buttons)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.method = None
        self.action = None
        self.fields = []
        self._inside = False
        self._done = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and not self._done:
            self._inside = True
            self.method = (attributes.get("method") or "get").lower()
            self.action = attributes.get("action") or ""
        elif self._inside and tag in ("input", "button") and attributes.get("name"):
            default_type = "submit" if tag == "button" else "text"
            self.fields.append(
                Field(
                    tag=tag,
                    type=(attributes.get("type") or default_type).lower(),
                    name=attributes["name"],
                    value=attributes.get("value") or "",
                    checked="checked" in attributes,
                )
            )

    def handle_endtag(self, tag):
        if tag == "form" and self._inside:
            self._inside = False
            self._done = True


def consent(authorization_url, customer, grant=None, spending_cap="", decision="allow"):
    """Plays the person's browser: opens the authorization URL, signs in on the consent page,
    leaves checked only the scopes in `grant` (all of them, as offered, when None), fills in the
    spending cap and presses the `decision` button. Returns the redirect's Location."""
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"
    page = browser.get(authorization_url, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, f"consent page: {page.status_code} {page.text}"
    assert page.headers["Content-Type"].startswith("text/html"), page.headers
    form = FormParser()
    form.feed(page.text)
    assert form.method == "post" and form.action, f"no consent form in: {page.text}"
    offered = [f for f in form.fields if f.type == "checkbox" and f.name == "granted_scope"]
    assert offered and all(f.checked for f in offered), "every requested scope is offered, checked"
    fields = []
    for field in form.fields:
        if field.type == "hidden":
            fields.append((field.name, field.value))
        elif field.type == "email":
            fields.append((field.name, customer.email))
        elif field.type == "password":
            fields.append((field.name, customer.password))
        elif field.type == "checkbox":
            keep = field.checked if grant is None else field.value in grant
            if keep:
                fields.append((field.name, field.value))
        elif field.type == "text" and field.name == "spending_cap":
            fields.append((field.name, spending_cap))
    buttons = [f for f in form.fields if f.type == "submit" and f.value == decision]
    assert len(buttons) == 1, f"one {decision} button: {form.fields}"
    fields.append((buttons[0].name, buttons[0].value))
    target = urllib.parse.urljoin(page.url, form.action)
    answer = browser.post(target, data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code in (302, 303), f"consent answer: {answer.status_code} {answer.text}"
    return answer.headers["Location"]
