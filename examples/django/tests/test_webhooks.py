"""The webhook view: Standard Webhooks signatures, checked on signed test requests and on a real
delivery from central to the Django app served over HTTP."""

import json
import threading
import time
import uuid
import wsgiref.simple_server
from datetime import datetime, timezone

import pytest
import requests
import standardwebhooks
from django.core.wsgi import get_wsgi_application
from django.test import Client

from conftest import TIMEOUT
from testproject import views

WEBHOOK_PATH = "/api/protus/webhook"


def signed(secret, body, msg_id=None, when=None):
    """Headers for `body` signed by the reference Standard Webhooks library."""
    msg_id = msg_id or f"evt_{uuid.uuid4().hex}"
    when = when or datetime.now(timezone.utc)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, when, body.decode())
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(when.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def test_a_signed_delivery_is_accepted_and_a_tampered_one_refused(partner):
    """Proves the webhook view answers 204 and hands the event to the handler for a correctly signed request, and refuses with 401 a tampered body, a wrong secret or an old timestamp, and with 400 a request without the headers."""
    views.RECEIVED.clear()
    event = {"type": "charge.settled", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "chg_1"}}
    body = json.dumps(event).encode()
    headers = signed(partner.webhook_secret, body)
    client = Client()

    accepted = client.post(WEBHOOK_PATH, body, content_type="application/json", **headers)
    assert accepted.status_code == 204, accepted.content
    assert views.RECEIVED == [(headers["HTTP_WEBHOOK_ID"], event)]

    tampered = body.replace(b"chg_1", b"chg_2")
    refused = client.post(WEBHOOK_PATH, tampered, content_type="application/json", **headers)
    assert refused.status_code == 401, refused.content
    other_secret = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    assert client.post(WEBHOOK_PATH, body, content_type="application/json", **signed(other_secret, body)).status_code == 401
    old = signed(partner.webhook_secret, body, when=datetime.fromtimestamp(time.time() - 3600, timezone.utc))
    assert client.post(WEBHOOK_PATH, body, content_type="application/json", **old).status_code == 401
    assert client.post(WEBHOOK_PATH, body, content_type="application/json").status_code == 400
    assert views.RECEIVED == [(headers["HTTP_WEBHOOK_ID"], event)], "refused deliveries never reach the handler"


class DjangoServer:
    """The Django test project served over real HTTP (wsgiref) on 127.0.0.1:0, for central to call."""

    def __init__(self):
        class Quiet(wsgiref.simple_server.WSGIRequestHandler):
            def log_message(self, *args):
                pass

        self.server = wsgiref.simple_server.make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}{WEBHOOK_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def django_server():
    server = DjangoServer()
    yield server
    server.close()


def test_a_real_delivery_from_central_passes_the_view(central, sidecar, partner, django_server):
    """Proves a delivery PROTUS central really sends (after onboarding a direct user) is verified by the webhook view and reaches the handler, with the company's webhook secret from the setting."""
    views.RECEIVED.clear()
    session = {"Authorization": f"Bearer {partner.session_token}"}
    updated = requests.patch(central.url("/api/v1/company"), json={"webhook_url": django_server.url}, headers=session, timeout=TIMEOUT)
    assert updated.status_code == 200, updated.text
    try:
        from protus_django import create_direct_user

        user = create_direct_user(f"hook-{uuid.uuid4().hex[:8]}@example.com", "hooked")
        deadline = time.monotonic() + 10
        while not any(e["data"].get("account_id") == user["account_id"] or e["data"].get("id") == user["account_id"] for _, e in views.RECEIVED):
            assert time.monotonic() < deadline, f"no verified delivery within 10 s: {views.RECEIVED}"
            time.sleep(0.05)
        types = {event["type"] for _, event in views.RECEIVED}
        assert types & {"account.created", "grant.created"}, types
        assert all(webhook_id.startswith("evt_") for webhook_id, _ in views.RECEIVED)
    finally:
        requests.patch(central.url("/api/v1/company"), json={"webhook_url": None}, headers=session, timeout=TIMEOUT)
