"""PROTUS webhooks verified by the `standardwebhooks` package, as a partner's receiver would."""

import http.server
import json
import threading
import uuid

import requests
import standardwebhooks

TIMEOUT = 10


class Receiver:
    """A real HTTP server on 127.0.0.1:0 that keeps every delivery it receives."""

    def __init__(self):
        received = self.received = []
        arrived = self.arrived = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_delivery_verifies_with_the_standard_webhooks_library(central):
    # Proves PROTUS signs deliveries exactly as the Standard Webhooks spec and its reference library expect.
    partner = central.new_partner()
    receiver = Receiver()
    try:
        company = central.api_ok("PATCH", "/api/v1/company", token=partner.session_token, body={"webhook_url": receiver.url})
        assert company["webhook_url"] == receiver.url
        email = f"direct-{uuid.uuid4().hex[:8]}@example.com"
        onboarded = requests.post(
            central.url("/api/v1/direct-users"),
            json={"email": email, "username": "direct_user"},
            auth=(partner.client_id, partner.client_secret),
            headers={"Idempotency-Key": uuid.uuid4().hex},
            timeout=TIMEOUT,
        )
        assert onboarded.status_code == 201, onboarded.text
        assert receiver.arrived.wait(15), "no webhook arrived within 15 s"
        # The secret the company got at registration, exactly as a partner stores it.
        secret = requests.post(
            central.url("/api/v1/company/secrets/rotate"),
            json={"kind": "webhook_secret"},
            headers={"Authorization": f"Bearer {partner.session_token}"},
            timeout=TIMEOUT,
        )
        assert secret.status_code == 200, secret.text
        headers, body = receiver.received[0]
        event = json.loads(body)
        assert event["type"] in ("account.created", "grant.created"), event
        assert event["data"]["company_id"] == partner.client_id
        assert headers["webhook-id"].startswith("evt_")
        verifier = standardwebhooks.Webhook(partner.webhook_secret)
        verified = verifier.verify(body, headers)
        assert verified == event
        tampered = body.replace(b'"type"', b'"TYPE"')
        try:
            verifier.verify(tampered, headers)
        except standardwebhooks.WebhookVerificationError:
            pass
        else:
            raise AssertionError("a tampered body must not verify")
        wrong = standardwebhooks.Webhook(secret.json()["secret"])
        try:
            wrong.verify(body, headers)
        except standardwebhooks.WebhookVerificationError:
            pass
        else:
            raise AssertionError("another secret must not verify")
    finally:
        receiver.close()
