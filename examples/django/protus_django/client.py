"""The HTTP calls to the sidecar: one `requests.Session` per thread, JSON in and out, problems
turned into `ProtusError`."""

import threading
import uuid

import requests

from . import conf
from .errors import ProtusError

_local = threading.local()


def _session():
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


class ProtusResponse(dict):
    """A successful answer's JSON object, with `status`, `replayed` (`Idempotent-Replayed: true`:
    PROTUS answered an earlier request with this key) and the `idempotency_key` it was sent with."""

    status = 200
    replayed = False
    idempotency_key = None


def new_idempotency_key():
    return str(uuid.uuid4())


def call(method, path, *, token=None, body=None, idempotency_key=None, params=None, base_url=None):
    """Sends one request to the sidecar; returns a `ProtusResponse` for 2xx, raises `ProtusError` otherwise."""
    url = (base_url.rstrip("/") if base_url else conf.sidecar_url()) + path
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        response = _session().request(
            method,
            url,
            params=params,
            json=body,
            headers=headers,
            timeout=conf.sidecar_timeout(),
        )
    except requests.RequestException as error:
        raise ProtusError(
            503,
            "sidecar_unavailable",
            f"the PROTUS sidecar at {url} cannot be reached: {error.__class__.__name__}",
            idempotency_key=idempotency_key,
        ) from error
    try:
        document = response.json() if response.content else {}
    except ValueError:
        document = {}
    if 200 <= response.status_code < 300:
        answer = ProtusResponse(document if isinstance(document, dict) else {"value": document})
        answer.status = response.status_code
        answer.replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        answer.idempotency_key = idempotency_key
        return answer
    problem = document if isinstance(document, dict) else {}
    retry_after = response.headers.get("Retry-After")
    raise ProtusError(
        response.status_code,
        problem.get("code") or problem.get("error") or f"http_{response.status_code}",
        problem.get("detail") or problem.get("error_description") or response.reason or "",
        problem=problem,
        idempotency_key=idempotency_key,
        retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
    )


def authorize(token, scope="", base_url=None):
    """The sidecar's permission check: {account_id, scope, exp} or `ProtusError` (401 `invalid_token`,
    403 `insufficient_scope`, 503 `central_unavailable`)."""
    return call("GET", "/api/v1/authorize", token=token, params={"scope": scope} if scope else None, base_url=base_url)
