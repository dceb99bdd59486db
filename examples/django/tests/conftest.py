"""Real processes for the protus_django tests: `protus central` (test provider, private webhooks
allowed), a company with a redirect URI and a priced service, and a `protus sidecar` enrolled
for it; people with topped-up wallets who signed in with PROTUS through the consent form (as a
browser would) and whose code was exchanged with PKCE. Django is configured from
testproject/settings.py and pointed at the sidecar.

The binary comes from the environment (`.ci/run` passes the one `cargo test` built):

    PROTUS_BIN=target/debug/protus python -m pytest -q examples/django
"""

import base64
import collections
import dataclasses
import hashlib
import html.parser
import json
import os
import secrets
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

REDIRECT_URI = "http://127.0.0.1:9/callback"  # nothing listens: the 302's Location is read
PASSWORD = "correct horse battery staple"
TIMEOUT = 10  # seconds, for every HTTP request
START_TIMEOUT = 30  # seconds until a process logs that it listens
STOP_TIMEOUT = 15  # seconds for a clean exit after SIGTERM
SERVICE_PRICE = "10.00"  # "launch a campaign", as in the original demo


def protus_binary():
    binary = os.environ.get("PROTUS_BIN")
    if not binary:
        pytest.fail("PROTUS_BIN is not set: point it at the protus binary (cargo build)", pytrace=False)
    binary = os.path.abspath(binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"PROTUS_BIN={binary} is not an executable file", pytrace=False)
    return binary


class Process:
    """A `protus` child with JSON logs on stderr; `address` from its "<role> listening" line."""

    def __init__(self, args, listening_message, env=None):
        self.command = [protus_binary(), *args, "--log-format", "json"]
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env={**os.environ, **(env or {})},
        )
        self.log = collections.deque(maxlen=500)
        listening = {}
        ready = threading.Event()

        def drain():
            # Reads stderr to its end so the child never blocks on a full pipe.
            for line in self.process.stderr:
                self.log.append(line.rstrip("\n"))
                if ready.is_set():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("message") == listening_message:
                    listening.update(event)
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        if not ready.wait(START_TIMEOUT) or not listening:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
            pytest.fail(
                f"`{' '.join(self.command)}` did not log {listening_message!r} within {START_TIMEOUT} s "
                f"(exit code {self.process.returncode}); its log:\n{self.log_tail()}",
                pytrace=False,
            )
        self.base = f"http://{listening['address']}"

    def log_tail(self, lines=60):
        return "\n".join(list(self.log)[-lines:])

    def url(self, path):
        return self.base + path

    def stop(self):
        """SIGTERM; fails the test run unless the process exits 0 in time."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
            pytest.fail(f"{self.command[1]} did not stop after SIGTERM; log:\n{self.log_tail()}", pytrace=False)
        self.reader.join(STOP_TIMEOUT)
        self.process.stderr.close()
        if code != 0:
            pytest.fail(f"{self.command[1]} exited with {code}; log:\n{self.log_tail()}", pytrace=False)


def api(base, method, path, token=None, body=None, key=None, auth=None):
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    return requests.request(method, base + path, json=body, headers=headers, auth=auth, timeout=TIMEOUT)


def api_ok(base, method, path, token=None, body=None, key=None, status=(200, 201, 204)):
    response = api(base, method, path, token, body, key)
    assert response.status_code in status, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


@dataclasses.dataclass
class Partner:
    client_id: str
    client_secret: str
    session_token: str
    webhook_secret: str
    service_id: str


@dataclasses.dataclass
class Person:
    email: str
    session_token: str
    access_token: str
    refresh_token: str
    scope: str


@pytest.fixture(scope="session")
def central(tmp_path_factory):
    """`protus central` on an OS-chosen loopback port, fresh data, the test payment provider."""
    data_dir = tmp_path_factory.mktemp("central-data")
    process = Process(
        [
            "central",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            "--enable-test-provider",
            "--allow-private-webhooks",
        ],
        "central listening",
    )
    yield process
    process.stop()


@pytest.fixture(scope="session")
def partner(central):
    """A company with REDIRECT_URI registered and a service priced SERVICE_PRICE."""
    tag = uuid.uuid4().hex[:10]
    email = f"ops-{tag}@messages-{tag}.io"
    company = api_ok(central.base, "POST", "/api/v1/companies", body={"name": f"Messages {tag}", "email": email, "password": PASSWORD})
    session = api_ok(central.base, "POST", "/api/v1/sessions", body={"kind": "company", "email": email, "password": PASSWORD})
    token = session["token"]
    api_ok(central.base, "PATCH", "/api/v1/company", token=token, body={"redirect_uris": [REDIRECT_URI]})
    service = api_ok(
        central.base, "POST", "/api/v1/company/services", token=token, body={"name": "Launch a campaign", "price": SERVICE_PRICE}
    )
    return Partner(company["client_id"], company["client_secret"], token, company["webhook_secret"], service["id"])


@pytest.fixture(scope="session")
def sidecar(central, partner, tmp_path_factory):
    """`protus sidecar` for the partner (created after the service, so its snapshot has it), ready."""
    process = start_sidecar(central.base, partner, tmp_path_factory.mktemp("sidecar-data"))
    deadline = time.monotonic() + 15
    while True:
        try:
            if requests.get(process.url("/readyz"), timeout=TIMEOUT).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.stop()
            pytest.fail(f"the sidecar was not ready within 15 s; log:\n{process.log_tail()}", pytrace=False)
        time.sleep(0.05)
    yield process
    process.stop()


def start_sidecar(central_url, partner, data_dir):
    return Process(
        ["sidecar", "--central", central_url, "--client-id", partner.client_id, "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"],
        "sidecar listening",
        env={"PROTUS_CLIENT_SECRET": partner.client_secret},
    )


@pytest.fixture(autouse=True)
def django_points_at_the_sidecar(request):
    """Every test's Django settings name the sidecar and the company's webhook secret."""
    if "sidecar" not in request.fixturenames and "partner" not in request.fixturenames:
        yield
        return
    sidecar = request.getfixturevalue("sidecar")
    partner = request.getfixturevalue("partner")
    saved = settings.PROTUS_SIDECAR_URL, settings.PROTUS_WEBHOOK_SECRET
    settings.PROTUS_SIDECAR_URL, settings.PROTUS_WEBHOOK_SECRET = sidecar.base, partner.webhook_secret
    yield
    settings.PROTUS_SIDECAR_URL, settings.PROTUS_WEBHOOK_SECRET = saved


@pytest.fixture(scope="session")
def sign_in(central, partner):
    """A factory: a new person, `wallet` topped up, who allows `grant` (scopes) to the partner → Person."""

    def make(grant=("check", "hold", "charge"), wallet="100.00"):
        tag = uuid.uuid4().hex[:10]
        email = f"person-{tag}@mail-{tag}.io"
        api_ok(central.base, "POST", "/api/v1/customers", body={"email": email, "username": f"person_{tag}", "password": PASSWORD})
        session = api_ok(central.base, "POST", "/api/v1/sessions", body={"kind": "customer", "email": email, "password": PASSWORD})["token"]
        if wallet:
            top_up(central.base, session, wallet)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(12)
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": partner.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "check hold charge",
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        location = consent(f"{central.base}/oauth/authorize?{query}", email, PASSWORD, grant)
        returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        assert returned.get("state") == state and "code" in returned, location
        exchanged = requests.post(
            central.url("/oauth/token"),
            data={"grant_type": "authorization_code", "code": returned["code"], "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
            auth=(partner.client_id, partner.client_secret),
            timeout=TIMEOUT,
        )
        assert exchanged.status_code == 200, exchanged.text
        token = exchanged.json()
        return Person(email, session, token["access_token"], token["refresh_token"], token["scope"])

    return make


def top_up(base, session, amount):
    """Tops the wallet up through the test provider and waits until it completed."""
    started = api_ok(base, "POST", "/api/v1/me/top-ups", token=session, body={"amount": amount}, key=str(uuid.uuid4()))
    deadline = time.monotonic() + 10
    while True:
        state = api_ok(base, "GET", f"/api/v1/me/top-ups/{started['id']}", token=session)
        if state["status"] != "pending":
            assert state["status"] == "succeeded", state
            return state
        assert time.monotonic() < deadline, f"top-up stayed pending: {state}"
        time.sleep(0.025)


# ---- the person's browser on the consent page ---------------------------------------------------


@dataclasses.dataclass
class Field:
    type: str
    name: str
    value: str
    checked: bool


class FormParser(html.parser.HTMLParser):
    """The first <form> of a page: its action and fields (inputs and buttons)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.action = None
        self.fields = []
        self._inside = self._done = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and not self._done:
            self._inside = True
            self.action = attributes.get("action") or ""
        elif self._inside and tag in ("input", "button") and attributes.get("name"):
            default = "submit" if tag == "button" else "text"
            self.fields.append(
                Field((attributes.get("type") or default).lower(), attributes["name"], attributes.get("value") or "", "checked" in attributes)
            )

    def handle_endtag(self, tag):
        if tag == "form" and self._inside:
            self._inside, self._done = False, True


def consent(authorization_url, email, password, grant):
    """Opens the consent page, signs in, keeps only the scopes in `grant` checked, allows; → Location."""
    browser = requests.Session()
    page = browser.get(authorization_url, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, f"consent page: {page.status_code} {page.text}"
    form = FormParser()
    form.feed(page.text)
    fields = []
    for field in form.fields:
        if field.type == "hidden":
            fields.append((field.name, field.value))
        elif field.type == "email":
            fields.append((field.name, email))
        elif field.type == "password":
            fields.append((field.name, password))
        elif field.type == "checkbox" and field.name == "granted_scope" and field.value in grant:
            fields.append((field.name, field.value))
        elif field.type == "text" and field.name == "spending_cap":
            fields.append((field.name, ""))
    allow = [f for f in form.fields if f.type == "submit" and f.value == "allow"]
    assert len(allow) == 1, form.fields
    fields.append((allow[0].name, allow[0].value))
    answer = browser.post(urllib.parse.urljoin(page.url, form.action), data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code in (302, 303), f"consent answer: {answer.status_code} {answer.text}"
    return answer.headers["Location"]


@pytest.fixture
def settings_sidecar_url():
    """Points PROTUS_SIDECAR_URL elsewhere for one test (restored by django_points_at_the_sidecar)."""

    def point(url):
        settings.PROTUS_SIDECAR_URL = url

    return point
