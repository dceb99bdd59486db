"""ProtusBilling and create_direct_user against a real sidecar: every call that moves money, its
automatic Idempotency-Key, replays, and refusals as ProtusError."""

import uuid
from decimal import Decimal

import pytest
import requests

from conftest import TIMEOUT
from protus_django import ProtusBilling, ProtusError, create_direct_user


def test_hold_capture_release_and_charges_with_idempotent_replay(sidecar, partner, sign_in):
    """Proves the billing client's hold, capture, release, charge by service and by amount work through the sidecar with a fresh Idempotency-Key each, that the same key replays the same charge id, and that refusals raise ProtusError with the problem's status, code and detail."""
    person = sign_in(wallet="100.00")
    billing = ProtusBilling(person.access_token)
    assert billing.balance()["available"] == "100.00"

    hold = billing.hold(Decimal("30"), description="ride")
    assert (hold.status, hold["status"], hold["amount"], hold["capturable"]) == (201, "held", "30.00", True)
    assert hold.idempotency_key and uuid.UUID(hold.idempotency_key).version == 4 and not hold.replayed
    captured = billing.capture(hold["id"], amount="20.00")
    assert (captured.status, captured["amount"], captured["status"]) == (201, "20.00", "accepted")
    assert billing.get_charge(captured["id"])["id"] == captured["id"]
    assert billing.get_hold(hold["id"])["status"] != "held"
    with pytest.raises(ProtusError) as twice:
        billing.capture(hold["id"])
    assert (twice.value.status, twice.value.code) == (409, "conflict") and twice.value.detail

    other = billing.hold("10.00")
    released = ProtusBilling().release(other["id"])  # a local call: no token needed
    assert (released.status, released["status"]) == (200, "released")

    by_service = billing.charge(service_id=partner.service_id, payload={"campaign_id": 1})
    assert (by_service["amount"], by_service["service_name"]) == ("10.00", "Launch a campaign")

    key = f"order-{uuid.uuid4()}"
    first = billing.charge(amount="5.00", description="one message", idempotency_key=key)
    again = billing.charge(amount="5.00", description="one message", idempotency_key=key)
    assert (first.replayed, again.replayed) == (False, True)
    assert again["id"] == first["id"] and again == first
    with pytest.raises(ProtusError) as reused:
        billing.charge(amount="6.00", description="another", idempotency_key=key)
    assert (reused.value.status, reused.value.code, reused.value.idempotency_key) == (422, "idempotency_key_reused", key)
    assert not reused.value.retryable

    # 100 - 20 (capture) - 10 (service) - 5 = 65
    assert billing.balance()["available"] == "65.00"
    with pytest.raises(ProtusError) as broke:
        billing.charge(amount="1000.00", description="too much")
    assert (broke.value.status, broke.value.code) == (402, "insufficient_funds")
    with pytest.raises(TypeError):
        billing.charge(amount=1.5, description="floats cannot hold money")


def test_a_token_without_charge_cannot_charge_through_the_client(sidecar, sign_in):
    """Proves a charge with a token that lacks `charge` raises ProtusError 403 insufficient_scope, the sidecar's problem carried as is."""
    person = sign_in(grant=("check", "hold"))
    with pytest.raises(ProtusError) as refused:
        ProtusBilling(person.access_token).charge(amount="1.00", description="x")
    assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")
    assert refused.value.problem["status"] == 403


def test_direct_user_onboarding_through_the_sidecar(central, sidecar, sign_in):
    """Proves create_direct_user onboards a company's own user through the sidecar with an Idempotency-Key (a retry with the same key gets the same account), returns a token the authentication class accepts, and raises 409 customer_exists for a registered person's email."""
    email = f"direct-{uuid.uuid4().hex[:8]}@example.com"
    key = str(uuid.uuid4())
    user = create_direct_user(email, "direct_user", idempotency_key=key)
    assert user.status == 201, user
    assert user["account_id"].startswith("acct_") and user["access_token"] and user["token_type"] == "Bearer"
    assert set(user["scope"].split()) == {"check", "hold", "charge"}
    again = create_direct_user(email, "direct_user", idempotency_key=key)
    assert again.replayed and again["account_id"] == user["account_id"]

    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {user['access_token']}")
    balance = client.get("/api/balance")
    assert balance.status_code == 200, balance.content
    assert balance.json()["account_id"] == user["account_id"]

    registered = sign_in(wallet=None)
    with pytest.raises(ProtusError) as exists:
        create_direct_user(registered.email, "someone")
    assert (exists.value.status, exists.value.code) == (409, "customer_exists")
