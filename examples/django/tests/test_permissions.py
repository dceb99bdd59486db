"""protus_django's authentication and permission classes in a DRF project, against a real
`protus sidecar` and `protus central`."""

import socket
import time

import requests
from rest_framework.test import APIClient

from conftest import TIMEOUT, start_sidecar
from protus_django.permissions import SCOPE_NOT_ALLOWED, SIGN_IN_REQUIRED

# The original module's answer to a person who did not allow charges, word for word.
ORIGINAL_426 = {
    "AccessToken": "Вы запретили взимать плату за услуги сервиса. Войдите с PROTUS, разрешив списание средств за услуги."
}


def client_for(token=None):
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_person_who_allowed_every_scope_passes_each_permission(sidecar, partner, sign_in):
    """Proves a Bearer token checked only through the sidecar authenticates the request, `request.user` carries the account, scope and token, and the check, hold and charge permissions let it through."""
    person = sign_in()
    client = client_for(person.access_token)

    balance = client.get("/api/balance")
    assert balance.status_code == 200, balance.content
    body = balance.json()
    assert body["account_id"].startswith("acct_")
    assert body["scope"] == "check hold charge"
    assert (body["balance"]["available"], body["balance"]["currency"]) == ("100.00", "RUB")
    assert body["balance"]["account_id"] == body["account_id"]

    held = client.post("/api/reserve", {"amount": "5.00"}, format="json")
    assert held.status_code == 201, held.content
    assert held.json()["hold"]["status"] == "held"

    launched = client.post("/api/campaigns/launch", {"service_id": partner.service_id, "campaign_id": 7}, format="json")
    assert launched.status_code == 201, launched.content
    charge = launched.json()["charge"]
    assert (charge["amount"], charge["service_name"]) == ("10.00", "Launch a campaign")
    assert launched.json()["account_id"] == body["account_id"]


def test_a_missing_scope_is_the_original_426_with_its_exact_message(sidecar, partner, sign_in):
    """Proves a person who unticked `charge` (and `hold`) on the consent page gets 426 with the original module's exact body from the charge and hold permissions, while `check` still passes."""
    assert SCOPE_NOT_ALLOWED == ORIGINAL_426["AccessToken"]
    person = sign_in(grant=("check",))
    assert person.scope == "check"
    client = client_for(person.access_token)

    launched = client.post("/api/campaigns/launch", {"service_id": partner.service_id}, format="json")
    assert launched.status_code == 426, launched.content
    assert launched.json() == ORIGINAL_426
    assert launched.content.decode("utf-8") == '{"AccessToken":"' + ORIGINAL_426["AccessToken"] + '"}'

    held = client.post("/api/reserve", {"amount": "1.00"}, format="json")
    assert (held.status_code, held.json()) == (426, ORIGINAL_426)

    balance = client.get("/api/balance")
    assert balance.status_code == 200, balance.content
    assert balance.json()["scope"] == "check"


def test_anonymous_requests_are_403_and_a_bad_token_is_401(sidecar):
    """Proves a request without credentials (or with another scheme) gets the original 403 from every permission, and a token the sidecar does not accept is 401 with a Bearer challenge."""
    for path, method in (("/api/balance", "get"), ("/api/reserve", "post"), ("/api/campaigns/launch", "post")):
        answer = getattr(client_for(), method)(path, {}, format="json")
        assert (answer.status_code, answer.json()) == (403, {"AccessToken": SIGN_IN_REQUIRED}), path
    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert basic.get("/api/balance").status_code == 403

    forged = client_for("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl").get("/api/balance")
    assert forged.status_code == 401, forged.content
    assert forged["WWW-Authenticate"].startswith("Bearer")
    three = APIClient()
    three.credentials(HTTP_AUTHORIZATION="Bearer a b")
    assert three.get("/api/balance").status_code == 401


def test_a_grant_revoked_at_central_is_401_at_the_partner_within_two_seconds(central, sidecar, partner, sign_in):
    """Proves that when the person revokes the company's access at central (`DELETE /api/v1/me/grants/{id}`), the partner's permission answers 401 within 2 s, with no call from the app to central."""
    person = sign_in()
    client = client_for(person.access_token)
    assert client.post("/api/campaigns/launch", {"service_id": partner.service_id}, format="json").status_code == 201

    grants = requests.get(central.url("/api/v1/me/grants"), headers={"Authorization": f"Bearer {person.session_token}"}, timeout=TIMEOUT)
    assert grants.status_code == 200, grants.text
    listed = grants.json()
    listed = listed["items"] if isinstance(listed, dict) else listed
    mine = [g for g in listed if g.get("company_id") == partner.client_id]
    assert len(mine) == 1, listed
    revoked = requests.delete(
        central.url(f"/api/v1/me/grants/{mine[0]['id']}"), headers={"Authorization": f"Bearer {person.session_token}"}, timeout=TIMEOUT
    )
    assert revoked.status_code in (200, 204), revoked.text

    started = time.monotonic()
    while True:
        answer = client.post("/api/campaigns/launch", {"service_id": partner.service_id}, format="json")
        if answer.status_code == 401:
            break
        assert answer.status_code == 201, answer.content
        assert time.monotonic() - started < 2.0, "still allowed 2 s after the revocation"
        time.sleep(0.02)
    assert time.monotonic() - started < 2.0
    assert client.get("/api/balance").status_code == 401


def test_a_sidecar_that_cannot_reach_central_is_503(partner, sign_in, settings_sidecar_url, tmp_path):
    """Proves the authentication and permission classes answer 503 with Retry-After when the sidecar says central_unavailable (a sidecar that never reached central), and also when no sidecar listens."""
    person = sign_in()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    lonely = start_sidecar(dead, partner, tmp_path / "lonely")
    try:
        settings_sidecar_url(lonely.base)
        answer = client_for(person.access_token).get("/api/balance")
        assert answer.status_code == 503, answer.content
        assert answer.json()["code"] == "central_unavailable"
        assert int(answer["Retry-After"]) >= 1
    finally:
        lonely.stop()
    settings_sidecar_url(dead)
    answer = client_for(person.access_token).get("/api/balance")
    assert (answer.status_code, answer.json()["code"]) == (503, "sidecar_unavailable")
