"""Receiving PROTUS webhooks (DESIGN §6, the Standard Webhooks scheme).

Each request carries `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`:
space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{raw body}">`, keyed with the
base64-decoded part of the company's `whsec_…` secret. During a secret rotation PROTUS signs with
both secrets, so one matching signature is enough.
"""

import base64
import binascii
import hashlib
import hmac
import json
import time

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import conf

TOLERANCE_S = 5 * 60  # the Standard Webhooks default: refuse replays of old deliveries


class WebhookVerificationError(Exception):
    """A delivery that must not be trusted. `status` is 400 for a malformed request (missing
    headers, a body that is not a JSON object) and 401 for a signature or timestamp that fails."""

    def __init__(self, status, message):
        self.status = status
        super().__init__(message)


def _key(secret):
    encoded = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("PROTUS_WEBHOOK_SECRET is not a whsec_<base64> secret") from None


def sign(secret, msg_id, timestamp, body):
    """The `v1,…` signature of one delivery (what PROTUS sends; handy in tests)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(secrets, body, headers, now=None, tolerance_s=TOLERANCE_S):
    """Checks one delivery against any of `secrets` (a `whsec_…` string or a list) and returns the
    event `{"type", "timestamp", "data"}`. `body` is the raw bytes; `headers` any mapping with
    case-insensitive or lower-case names. Raises `WebhookVerificationError`."""
    if isinstance(secrets, str):
        secrets = [secrets]
    if not secrets:
        raise ValueError("no webhook secret: set PROTUS_WEBHOOK_SECRET")
    lowered = {str(name).lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise WebhookVerificationError(400, "missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError(400, "webhook-timestamp is not a unix time") from None
    now = int(time.time()) if now is None else now
    if abs(now - sent_at) > tolerance_s:
        raise WebhookVerificationError(401, "webhook-timestamp is too far from now")
    offered = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    expected = [sign(secret, msg_id, timestamp, body).split(",", 1)[1] for secret in secrets]
    if not any(hmac.compare_digest(o.encode(), e.encode()) for o in offered for e in expected):
        raise WebhookVerificationError(401, "no valid signature")
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError(400, "the body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError(400, "the body is not a JSON object")
    return event


def webhook_view(handler, secret=None, tolerance_s=TOLERANCE_S):
    """A Django view for PROTUS deliveries: verifies the signature, calls `handler(event, webhook_id)`
    and answers 204. A bad signature is 401, a malformed request 400 (PROTUS retries non-2xx
    answers). The handler should be quick and idempotent: deliveries come at least once, in no
    particular order; dedupe by `webhook_id`. An exception in it is a 500, so PROTUS retries.

    `secret` overrides `PROTUS_WEBHOOK_SECRET` (a string, a list, or a callable returning either).
    """

    @csrf_exempt
    @require_POST
    def view(request):
        secrets = secret() if callable(secret) else secret
        secrets = secrets or conf.webhook_secrets()
        try:
            event = verify_webhook(secrets, request.body, request.headers, tolerance_s=tolerance_s)
        except WebhookVerificationError as error:
            return JsonResponse({"detail": str(error)}, status=error.status)
        handler(event, request.headers["webhook-id"])
        return HttpResponse(status=204)

    return view
