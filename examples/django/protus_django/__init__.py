"""PROTUS for Django and Django REST framework, through a `protus sidecar` on the same host.

- `ProtusAuthentication` — DRF authentication: `Authorization: Bearer <access token>` checked by
  the sidecar's permission check (no token table); `request.user` is a `ProtusUser`.
- `ProtusCheckPermission`, `ProtusHoldPermission`, `ProtusChargePermission` — 403 for anonymous
  requests, 426 when the person did not allow the scope, 401 when the access was revoked or has
  expired, 503 while the sidecar cannot reach central.
- `ProtusBilling` — balance, holds, captures, releases and charges with an automatic
  `Idempotency-Key`; refusals raise `ProtusError`.
- `webhook_view` / `verify_webhook` — Standard Webhooks signature verification.
- `create_direct_user` — onboard one of your own users without "Sign in with PROTUS".
"""

from .authentication import ProtusAuthentication, ProtusUser
from .billing import ProtusBilling
from .errors import ProtusError
from .onboarding import create_direct_user
from .permissions import (
    ProtusChargePermission,
    ProtusCheckPermission,
    ProtusHoldPermission,
    ScopeNotAllowed,
)
from .webhooks import WebhookVerificationError, verify_webhook, webhook_view

__all__ = [
    "ProtusAuthentication",
    "ProtusBilling",
    "ProtusChargePermission",
    "ProtusCheckPermission",
    "ProtusError",
    "ProtusHoldPermission",
    "ProtusUser",
    "ScopeNotAllowed",
    "WebhookVerificationError",
    "create_direct_user",
    "verify_webhook",
    "webhook_view",
]
