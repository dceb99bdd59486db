"""Settings, read on every use so that `override_settings` and tests can change them.

- `PROTUS_SIDECAR_URL` — the sidecar's base URL (default `http://127.0.0.1:7070`).
- `PROTUS_WEBHOOK_SECRET` — the company's `whsec_…` webhook secret (optional; only the webhook
  view needs it). A list of secrets is accepted too.
- `PROTUS_SIDECAR_TIMEOUT` — seconds for each call to the sidecar (default 10).
"""

from django.conf import settings

DEFAULT_SIDECAR_URL = "http://127.0.0.1:7070"
DEFAULT_TIMEOUT = 10.0


def sidecar_url():
    return str(getattr(settings, "PROTUS_SIDECAR_URL", None) or DEFAULT_SIDECAR_URL).rstrip("/")


def sidecar_timeout():
    return float(getattr(settings, "PROTUS_SIDECAR_TIMEOUT", None) or DEFAULT_TIMEOUT)


def webhook_secrets():
    secret = getattr(settings, "PROTUS_WEBHOOK_SECRET", None)
    if not secret:
        return []
    if isinstance(secret, (list, tuple)):
        return [s for s in secret if s]
    return [secret]
