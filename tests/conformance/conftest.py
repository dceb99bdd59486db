"""A real `protus central` and a real `protus sidecar` with every kind of credential their
OpenAPI documents name, for the schemathesis run of test_conformance.py.

central and the consent page come from tests/python/conftest.py (loaded under another name, as
both files are called conftest). The binary comes from the environment like there:

    cargo build --locked && PROTUS_BIN=target/debug/protus python3 -m pytest -q tests/conformance
"""

import base64
import collections
import dataclasses
import hashlib
import importlib.util
import json
import os
import pathlib
import secrets
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

_CLIENT_TESTS = pathlib.Path(__file__).resolve().parents[1] / "python" / "conftest.py"
_spec = importlib.util.spec_from_file_location("protus_client_tests", _CLIENT_TESTS)
client_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client_tests)

# The session-scoped fixture `central` of the client tests, reused as it is.
central = client_tests.central

ALL_SCOPES = "check hold charge"
TOP_UP = "1000.00"
TIMEOUT = client_tests.TIMEOUT
START_TIMEOUT = client_tests.START_TIMEOUT
STOP_TIMEOUT = client_tests.STOP_TIMEOUT


@dataclasses.dataclass
class Credentials:
    """Every credential the run hands to schemathesis's hooks (hooks.py), by environment variable."""

    company_session: str
    customer_session: str
    access_token: str
    client_id: str
    client_secret: str
    sidecar_id: str
    sidecar_secret: str
    # A second company's session, for the operations that end or replace what they are called
    # with (signing out, rotating the client secret), so the credentials above stay valid.
    disposable_session: str
    # A second customer's session, with a grant of its own, for the operations that narrow or
    # revoke grants, so the access token above keeps its scopes.
    disposable_customer_session: str

    def environment(self):
        return {
            "PROTUS_COMPANY_SESSION": self.company_session,
            "PROTUS_CUSTOMER_SESSION": self.customer_session,
            "PROTUS_ACCESS_TOKEN": self.access_token,
            "PROTUS_CLIENT_ID": self.client_id,
            "PROTUS_CLIENT_SECRET": self.client_secret,
            "PROTUS_SIDECAR_ID": self.sidecar_id,
            "PROTUS_SIDECAR_SECRET": self.sidecar_secret,
            "PROTUS_DISPOSABLE_SESSION": self.disposable_session,
            "PROTUS_DISPOSABLE_CUSTOMER_SESSION": self.disposable_customer_session,
        }


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _access_token(central, partner, customer):
    """The real code flow with PKCE: the person consents on the page, the partner exchanges the code."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": partner.client_id,
            "redirect_uri": client_tests.REDIRECT_URI,
            "scope": ALL_SCOPES,
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    location = client_tests.consent(central.url(f"/oauth/authorize?{query}"), customer)
    returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert "code" in returned, location
    response = requests.post(
        central.url("/oauth/token"),
        data={
            "grant_type": "authorization_code",
            "code": returned["code"],
            "redirect_uri": client_tests.REDIRECT_URI,
            "code_verifier": verifier,
        },
        headers={"Authorization": _basic(partner.client_id, partner.client_secret)},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert set(token["scope"].split()) == set(ALL_SCOPES.split()), token
    return token["access_token"]


def _top_up(central, session, amount):
    """A completed top-up through the test provider, so holds and charges have money to take."""
    response = requests.post(
        central.url("/api/v1/me/top-ups"),
        json={"amount": amount},
        headers={"Authorization": f"Bearer {session}", "Idempotency-Key": uuid.uuid4().hex},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    top_up = response.json()
    deadline = time.monotonic() + 10
    while top_up["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
        top_up = central.api_ok("GET", f"/api/v1/me/top-ups/{top_up['id']}", token=session)
    assert top_up["status"] == "succeeded", top_up


@pytest.fixture(scope="session")
def credentials(central):
    """A company, a customer with a topped-up wallet and an access token from the consent flow,
    an enrolled sidecar identity, and a second company and a second customer (with a grant) for
    the operations that spend sessions or grants."""
    partner = central.new_partner()
    customer = central.new_customer()
    customer_session = central.customer_session(customer)
    _top_up(central, customer_session, TOP_UP)
    access_token = _access_token(central, partner, customer)
    enrolled = requests.post(
        central.url("/sync/v1/sidecars"),
        headers={"Authorization": _basic(partner.client_id, partner.client_secret)},
        timeout=TIMEOUT,
    )
    assert enrolled.status_code == 201, enrolled.text
    disposable = central.new_partner()
    disposable_customer = central.new_customer()
    _access_token(central, partner, disposable_customer)
    return Credentials(
        company_session=partner.session_token,
        customer_session=customer_session,
        access_token=access_token,
        client_id=partner.client_id,
        client_secret=partner.client_secret,
        sidecar_id=enrolled.json()["sidecar_id"],
        sidecar_secret=enrolled.json()["sidecar_secret"],
        disposable_session=disposable.session_token,
        disposable_customer_session=central.customer_session(disposable_customer),
    )


class Sidecar:
    def __init__(self, process, base, log):
        self.process = process
        self.base = base
        self.log = log

    def log_tail(self, lines=60):
        return "\n".join(list(self.log)[-lines:])


@pytest.fixture(scope="session")
def sidecar(central, credentials, tmp_path_factory):
    """`protus sidecar` of the company on an OS-chosen loopback port, ready (`/readyz` 200)."""
    binary = client_tests._protus_binary()
    command = [
        binary,
        "sidecar",
        "--central",
        central.base,
        "--client-id",
        credentials.client_id,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        str(tmp_path_factory.mktemp("sidecar-data")),
        "--log-format",
        "json",
    ]
    environment = {**os.environ, "PROTUS_CLIENT_SECRET": credentials.client_secret}
    process = subprocess.Popen(
        command,
        env=environment,
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
        for line in process.stderr:
            log.append(line.rstrip("\n"))
            if ready.is_set():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("message") == "sidecar listening":
                listening.update(event)
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, name="sidecar-stderr", daemon=True)
    reader.start()
    server = None
    if ready.wait(START_TIMEOUT) and listening:
        server = Sidecar(process, f"http://{listening['address']}", log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if requests.get(server.base + "/readyz", timeout=TIMEOUT).status_code == 200:
                break
            time.sleep(0.1)
        else:
            server = None
    if server is None:
        process.kill()
        process.wait(STOP_TIMEOUT)
        reader.join(STOP_TIMEOUT)
        pytest.fail(f"the sidecar did not become ready within {START_TIMEOUT} s; its log:\n" + "\n".join(log))
    yield server

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)
        pytest.fail(f"the sidecar did not stop within {STOP_TIMEOUT} s of SIGTERM; log:\n{server.log_tail()}")
    reader.join(STOP_TIMEOUT)
    process.stderr.close()
    if code != 0:
        pytest.fail(f"the sidecar exited with {code} after SIGTERM; log:\n{server.log_tail()}")
