"""The billing API of the sidecar (DESIGN §5.1, the same paths and bodies as central's).

Every call that moves money sends an `Idempotency-Key`: a fresh uuid4 unless you pass one. Pass
your own (e.g. derived from your order id) when a retry may come from another process: the same
key and body replays the first answer (`response.replayed`) and the money moves once. After a
`ProtusError` with `retryable` true (a 5xx, e.g. 503 `central_unavailable`), retry with
`error.idempotency_key`; any other refusal is final for that key.
"""

from decimal import Decimal

from .client import call, new_idempotency_key


def _amount(value):
    """Amounts travel as JSON strings with two decimals; floats are refused (they cannot hold money)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("pass amounts as str, int or Decimal, not float")
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if isinstance(value, str):
        return value
    raise TypeError(f"not an amount: {value!r}")


def _without_none(body):
    return {key: value for key, value in body.items() if value is not None}


class ProtusBilling:
    """Bills one person through the sidecar.

    `token` is the person's access token (`request.user.token`); capture, release and the GETs are
    local calls at the sidecar and need none. `sidecar_url` overrides `PROTUS_SIDECAR_URL`.
    """

    def __init__(self, token=None, sidecar_url=None):
        self.token = token
        self.sidecar_url = sidecar_url

    @classmethod
    def for_request(cls, request, sidecar_url=None):
        """The billing client for the person of a request authenticated by `ProtusAuthentication`."""
        return cls(getattr(request.user, "token", None) or request.auth, sidecar_url=sidecar_url)

    def _call(self, method, path, body=None, idempotency_key=None, token=True):
        return call(
            method,
            path,
            token=self.token if token else None,
            body=body,
            idempotency_key=idempotency_key,
            base_url=self.sidecar_url,
        )

    def balance(self):
        """{account_id, currency, available, as_of} (scope `check`)."""
        return self._call("GET", "/api/v1/billing/balance")

    def hold(self, amount, description=None, expires_in_s=None, idempotency_key=None):
        """Reserves `amount` (scope `hold`) → the hold {id, status: held, amount, capturable, expires_at, …}."""
        body = _without_none({"amount": _amount(amount), "description": description, "expires_in_s": expires_in_s})
        return self._call("POST", "/api/v1/billing/holds", body, idempotency_key or new_idempotency_key())

    def get_hold(self, hold_id):
        return self._call("GET", f"/api/v1/billing/holds/{hold_id}", token=False)

    def capture(self, hold_id, amount=None, service_id=None, payload=None, idempotency_key=None):
        """Charges all of a hold, or `amount` of it (the rest goes back) → the charge."""
        body = _without_none(
            {
                "amount": None if amount is None else _amount(amount),
                "service_id": service_id,
                "payload": payload,
            }
        )
        key = idempotency_key or new_idempotency_key()
        return self._call("POST", f"/api/v1/billing/holds/{hold_id}/capture", body, key, token=False)

    def release(self, hold_id, idempotency_key=None):
        """Gives a hold's funds back → the hold {status: released}."""
        key = idempotency_key or new_idempotency_key()
        return self._call("POST", f"/api/v1/billing/holds/{hold_id}/release", None, key, token=False)

    def charge(self, service_id=None, amount=None, description=None, payload=None, idempotency_key=None):
        """Charges at once (scope `charge`): a service at its current price (`service_id`), or
        `amount` with a `description` → the charge {id, invoice_number, amount, status, …}."""
        if (service_id is None) == (amount is None):
            raise ValueError("charge either a service_id or an amount with a description")
        if amount is not None and not description:
            raise ValueError("a charge by amount needs a description")
        body = _without_none(
            {
                "service_id": service_id,
                "amount": None if amount is None else _amount(amount),
                "description": description,
                "payload": payload,
            }
        )
        return self._call("POST", "/api/v1/billing/charges", body, idempotency_key or new_idempotency_key())

    def get_charge(self, charge_id):
        return self._call("GET", f"/api/v1/billing/charges/{charge_id}", token=False)
